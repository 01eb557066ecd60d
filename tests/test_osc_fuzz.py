"""Raw bytes at the real UDP socket: the server counts and refuses them, and then still answers correctly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from osc_helpers import Peer, Rig, message
from waiting import wait_for

from host.control.osc.packet import bundle

REFUSALS = ("malformed", "wrong_type", "invalid_utf8", "oversized", "too_deep", "unknown_address",
            "out_of_range", "non_finite", "bad_pattern", "read_only", "schedule_refused", "refused", "ignored",
            "not_subscribed")


@pytest.fixture(scope="module")
def fuzz_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Rig, Peer]]:
    rig = Rig(tmp_path_factory.mktemp("fuzz"), seconds=1.0)
    peer = rig.peer()
    yield rig, peer
    rig.close()


# datagrams near the format: OSC-looking heads with random tails, bundles of random elements, plain noise
osc_like = st.builds(lambda head, tail: head + tail,
                     st.sampled_from([b"/", b"/tracks/noise/gain_db\x00\x00\x00", b"#bundle\x00", b"/mixhost/",
                                      b"/tracks/*/mute\x00\x00,", b"/a\x00\x00,s\x00\x00"]),
                     st.binary(max_size=200))
noise = st.binary(min_size=1, max_size=600)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(datagrams=st.lists(st.one_of(osc_like, noise), min_size=1, max_size=20))
def test_random_bytes_are_refused_and_counted_and_the_server_still_answers(
        fuzz_rig: tuple[Rig, Peer], datagrams: list[bytes]) -> None:
    rig, peer = fuzz_rig
    counts = rig.osc.counts
    before = counts["datagrams"]
    for data in datagrams:
        peer.send_raw(data)
    peer.send("/tracks/noise/pan", 0.25)
    assert peer.ask("/tracks/noise/pan") == [0.25]
    wait_for(lambda: counts["datagrams"] >= before + len(datagrams) + 2, what="every datagram counted")
    assert counts["internal_error"] == 0
    peer.send("/tracks/noise/pan", 0.0)


def test_floods_of_bad_datagrams_raise_the_counters(fuzz_rig: tuple[Rig, Peer]) -> None:
    rig, peer = fuzz_rig
    counts = rig.osc.counts
    start = {kind: counts[kind] for kind in REFUSALS}
    nested = message("/tracks/noise/pan", 0.5)
    for _ in range(2000):
        nested = bundle([nested])
    bad = [nested, b"/a\x00\x00,s\x00\x00\xff\xfe\x00\x00", b"/a\x00\x00,q\x00\x00", b"garbage!",
           message("/tracks/noise/gain_db", "loud"), message("/tracks/noise/gain_db", float("nan")),
           message("/nowhere", 1.0)]
    for _ in range(50):
        for data in bad:
            peer.send_raw(data)
    assert peer.ask("/mixhost/ping", 7, reply="/mixhost/pong") == [7]
    rose = {kind: counts[kind] - start[kind] for kind in REFUSALS}
    assert rose["too_deep"] == 50 and rose["invalid_utf8"] == 50 and rose["wrong_type"] == 100
    assert rose["malformed"] == 50 and rose["non_finite"] == 50 and rose["unknown_address"] == 50
    assert rig.get("tracks/noise/pan") == 0.0 and counts["internal_error"] == 0
