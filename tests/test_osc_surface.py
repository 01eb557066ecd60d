"""The OSC surface over real UDP on 127.0.0.x: sets, feedback, patterns, bundles, schedule, allowlist,
meters, snapshots, bad input; liblo's oscsend/oscdump as an independent peer."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import pytest
from osc_helpers import BLOCK, Rig, message
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from test_live_helpers import Capture, wait_position
from waiting import wait_for

import host
from host.control.meters import MeterReader
from host.live.handoff import Carried


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path)
    yield made
    made.close()


def bundle(timestamp: float, *messages: bytes) -> bytes:
    builder = OscBundleBuilder(timestamp)
    for data in messages:
        builder.add_content(OscMessage(data))
    return builder.build().dgram


def test_a_set_in_native_units_and_as_a_position_is_heard_in_the_audio(rig: Rig) -> None:
    meters = MeterReader(rig.engine.meters)
    peer = rig.peer()
    peer.send("/tracks/noise/gain_db", 0.0)
    rig.wait_value("tracks/noise/gain_db", 0.0)
    seen = rig.engine.meters.count
    wait_for(lambda: rig.engine.meters.count > seen + 60, what="the glide")
    meters.read()
    wait_for(lambda: rig.engine.meters.count > seen + 160, what="blocks")
    loud = meters.read()["tracks/noise"].peak_db[1]      # its right channel: a steady 0.25 sine
    assert loud == pytest.approx(-12.04, abs=0.1)
    peer.send("/tracks/noise/gain_db/norm", 0.0)        # the bottom of the fader: -120 dB
    rig.wait_value("tracks/noise/gain_db", -120.0)
    seen = rig.engine.meters.count
    wait_for(lambda: rig.engine.meters.count > seen + 60, what="the glide")
    meters.read()
    wait_for(lambda: rig.engine.meters.count > seen + 160, what="blocks")
    assert meters.read()["tracks/noise"].peak_db[1] < loud - 100


def test_feedback_reaches_other_subscribers_and_never_echoes_to_the_sender(rig: Rig) -> None:
    a, b = rig.peer(), rig.peer()
    for peer in (a, b):
        assert peer.ask("/mixhost/subscribe", "value", "norm", reply="/mixhost/subscribed")[0] == peer.port
    wait_for(lambda: b.messages("/tracks/noise/gain_db"), what="the first state")
    time.sleep(0.2)
    a.take(), b.take()
    a.send("/tracks/noise/gain_db", -20.0)
    assert wait_for(lambda: b.messages("/tracks/noise/gain_db"), what="feedback at B") == [[-20.0]]
    assert b.messages("/tracks/noise/gain_db/norm")
    time.sleep(0.3)                                      # well past the 60 Hz interval: nothing comes to A
    assert [m for m in a.take() if m[0].startswith("/tracks/noise/gain_db")] == []
    rig.session.set("tracks/noise/gain_db", -30.0)       # from the API: both follow
    assert wait_for(lambda: a.messages("/tracks/noise/gain_db"), what="feedback at A") == [[-30.0]]
    wait_for(lambda: [-30.0] in b.messages("/tracks/noise/gain_db"), what="feedback at B")


def test_a_refused_set_gets_an_error_and_the_value_it_really_has(rig: Rig) -> None:
    a = rig.peer()
    a.ask("/mixhost/subscribe", reply="/mixhost/subscribed")
    a.send("/tracks/noise/gain_db", 99.0)
    error = wait_for(lambda: a.messages("/mixhost/error"), what="the error")[0]
    assert error[0] == "/tracks/noise/gain_db" and "out of range" in error[1]
    wait_for(lambda: [-6.0] in a.messages("/tracks/noise/gain_db"), what="the correction")
    assert rig.get("tracks/noise/gain_db") == -6.0
    assert rig.osc.counts["out_of_range"] == 1


def test_a_query_replies_with_the_value_set_a_moment_before(rig: Rig) -> None:
    a, b = rig.peer(), rig.peer()
    a.send("/tracks/tone/pan", -0.5)
    assert b.ask("/tracks/tone/pan") == [pytest.approx(-0.5)]
    assert b.ask("/tracks/tone/pan/norm") == [pytest.approx(0.25)]
    assert b.ask("/tracks/tone/pan/text") == ["L50"]
    assert b.ask("/tracks/tone/mute") == [0]


@pytest.mark.parametrize(("sent", "args", "changed"), [
    ("/tracks/*/mute", [1], {"tracks/tone/mute", "tracks/noise/mute"}),
    ("/tracks/{tone,noise}/mute", [True], {"tracks/tone/mute", "tracks/noise/mute"}),
    ("/tracks/t?ne/mute", [1.0], {"tracks/tone/mute"}),
    ("/tracks/[!t]*/mute", ["on"], {"tracks/noise/mute"}),
    ("/tracks/[m-o]oise/mute/toggle", [], {"tracks/noise/mute"}),
    ("/*/mute", [1], set()),                               # '*' does not cross '/': nothing matches
])
def test_address_patterns_set_what_they_match(rig: Rig, sent: str, args: list[Any], changed: set[str]) -> None:
    peer = rig.peer()
    peer.send(sent, *args)
    peer.send("/mixhost/ping", 1)                          # applied in order: after the pattern
    wait_for(lambda: peer.messages("/mixhost/pong"), what="the pong")
    def muted() -> set[str]:
        return {p.address for p in rig.session.registry.find("tracks/*/mute") if rig.get(p.address)}

    seen = rig.engine.meters.count
    wait_for(lambda: rig.engine.meters.count > seen + 2, what="a block start")   # the engine applies sets there
    assert muted() == changed
    assert bool(peer.messages("/mixhost/error")) == (not changed)


def test_a_bundle_lands_in_one_block(rig: Rig) -> None:
    rig.engine.handoff.keep_carried = True
    peer = rig.peer()
    for round_ in range(5):
        gain = -10.0 - round_
        peer.send_raw(bundle(IMMEDIATELY, message("/tracks/tone/gain_db", gain),
                             message("/tracks/noise/gain_db", gain), message("/tracks/*/pan/norm", 0.25)))
        rig.wait_value("tracks/noise/gain_db", gain)
    carried = wait_for(lambda: [c for c in list(rig.engine.handoff.carried)
                                if isinstance(c, Carried) and c.source.startswith("osc:")], what="carried")
    by_value: dict[float, set[int]] = {}
    for change in carried:
        if change.param.address.endswith("gain_db"):
            by_value.setdefault(change.value, set()).add(change.position)
    assert len(by_value) == 5 and all(len(positions) == 1 for positions in by_value.values())
    assert rig.get("tracks/tone/pan") == pytest.approx(-0.5)


def test_a_future_bundle_is_scheduled_and_delays_nothing(rig: Rig) -> None:
    peer = rig.peer()
    peer.send_raw(bundle(time.time() + 3600, message("/tracks/tone/gain_db", -40.0)))   # an hour ahead
    peer.send_raw(bundle(time.time() + 0.5, message("/tracks/tone/pan", 0.5)))
    peer.send("/tracks/noise/gain_db", -12.0)
    rig.wait_value("tracks/noise/gain_db", -12.0)
    sent = time.monotonic()
    assert rig.get("tracks/tone/pan") == 0.0 and rig.osc.server.scheduled == 2
    rig.wait_value("tracks/tone/pan", 0.5)
    assert time.monotonic() - sent < 2.0
    assert rig.get("tracks/tone/gain_db") == -3.0 and rig.osc.server.scheduled == 1


def test_the_allowlist_drops_and_counts_other_addresses(tmp_path: Path) -> None:
    rig = Rig(tmp_path, allow=["127.0.0.1/32"])
    try:
        outsider, insider = rig.peer("127.0.0.2"), rig.peer()
        outsider.send("/tracks/noise/gain_db", -20.0)
        outsider.send("/tracks/noise/gain_db")
        wait_for(lambda: rig.osc.counts["not_allowed"] == 2, what="the drops counted")
        assert insider.ask("/tracks/noise/gain_db") == [-6.0]
        time.sleep(0.2)
        assert outsider.take() == []
        insider.send("/tracks/noise/gain_db", -20.0)
        rig.wait_value("tracks/noise/gain_db", -20.0)
    finally:
        rig.close()


@pytest.mark.parametrize(("address", "args", "kind", "reason"), [
    ("/tracks/noise/gain_db", ["loud"], "wrong_type", "got a string"),
    ("/tracks/noise/gain_db", [math.nan], "non_finite", "not a finite"),
    ("/tracks/noise/gain_db", [math.inf], "non_finite", "not a finite"),
    ("/tracks/noise/gain_db", [1.0, 2.0], "wrong_type", "one argument"),
    ("/tracks/noise/gain_db/norm", [1.5], "out_of_range", "0..1"),
    ("/tracks/noise/mute", [0.5], "out_of_range", "expected"),
    ("/tracks/noise/gain_db/text", ["-3 dB"], "read_only", "display"),
    ("/tracks/nobody/gain_db", [0.0], "unknown_address", "no parameter"),
    ("/tracks/[noise/gain_db", [0.0], "bad_pattern", "unclosed"),
    ("/mixhost/snapshot/recall", ["nothing"], "refused", "no snapshot"),
    ("/mixhost/fly", [], "unknown_address", "no command"),
])
def test_bad_messages_get_an_error_are_counted_and_change_nothing(rig: Rig, address: str, args: list[Any],
                                                                    kind: str, reason: str) -> None:
    values = {p.address: rig.get(p.address) for p in rig.session.registry if not p.spec.read_only
              and not p.address.startswith("transport/")}
    peer = rig.peer()
    error = peer.ask(address, *args, reply="/mixhost/error")
    assert error[0] == address and reason in error[1]
    assert rig.osc.counts[kind] == 1
    seen = rig.engine.meters.count
    wait_for(lambda: rig.engine.meters.count > seen + 2, what="a block start")
    assert values == {a: rig.get(a) for a in values}


def test_meters_reach_subscribers_without_taking_the_status_line_peaks(rig: Rig) -> None:
    peer = rig.peer()
    peer.send("/tracks/noise/gain_db", 0.0)
    rig.wait_value("tracks/noise/gain_db", 0.0)
    time.sleep(0.5)                                           # the fader's glide is over
    peer.ask("/mixhost/subscribe", "meters", "/nothing", reply="/mixhost/subscribed")
    time.sleep(0.6)
    rig.engine.take_peaks()
    noise = wait_for(lambda: peer.messages("/meters/tracks/noise")[3:], what="meters")
    peak, rms = noise[-1]
    # the louder channel: the right's 0.25 sine (RMS -15.05 dBFS, peak -12.04) over the left's 0.1 noise
    assert rms == pytest.approx(-15.05, abs=0.2)
    assert peak >= -12.04 - 0.1
    master = wait_for(lambda: peer.messages("/meters/master"), what="master meters")[-1]
    assert len(master) == 3 and master[0] > -40
    seen = rig.engine.meters.count
    wait_for(lambda: rig.engine.meters.count > seen + 20, what="blocks")
    assert rig.engine.take_peaks().max() > 0.1                 # the status line still sees its peaks
    rate = len(peer.messages("/meters/tracks/tone")) / 0.6
    assert rate < 40                                            # about the 20 Hz asked for, never per block


def test_the_master_meter_carries_short_term_lufs_and_one_number_forms(rig: Rig) -> None:
    """After 3 s the window holds exactly two passes of the 1.5 s loop: its loudness is the loop's."""
    capture = Capture(2.0)
    rig.engine.taps.append(capture)
    peer = rig.peer()
    peer.ask("/mixhost/subscribe", "meters", "/nothing", reply="/mixhost/subscribed")
    wait_position(rig.engine, 0.1)
    start = rig.engine.meters.count
    wait_for(lambda: rig.engine.meters.count - start > 4.0 * 48000 / BLOCK, timeout_s=20.0, what="4 s of blocks")
    peer.take()
    wait_for(lambda: peer.messages("/meters/master")[2:], what="master meters")
    got = {address: peer.messages(address) for address in ("/meters/master", "/meters/master/peak",
           "/meters/master/rms", "/meters/master/lufs", "/meters/tracks/noise", "/meters/tracks/noise/rms")}
    masters = got["/meters/master"]
    lufs = masters[-1][2]
    loop = capture.audio[:, :int(1.5 * 48000)]
    assert capture.written[:loop.shape[1]].all()
    expected = pyloudnorm.Meter(48000).integrated_loudness(np.concatenate([loop, loop], axis=1).T)
    assert -40 < lufs == pytest.approx(expected, abs=0.1)
    # the one-number forms carry the same values, round by round
    singles = {form: got["/meters/master/" + form] for form in ("peak", "rms", "lufs")}
    rounds = min(len(masters), *(len(v) for v in singles.values()))
    assert rounds >= 2
    for k in range(rounds):
        assert [singles[form][k] for form in ("peak", "rms", "lufs")] == [[value] for value in masters[k]]
    pair, rms = got["/meters/tracks/noise"], got["/meters/tracks/noise/rms"]
    assert rms[-1][0] == pytest.approx(-15.05 - 6.0, abs=0.2)   # the right's 0.25 sine, under its -6 dB fader
    assert [p[1] for p in pair[:len(rms)]] == [r[0] for r in rms[:len(pair)]]


def test_snapshot_recall_reaches_observers_and_the_session_file(rig: Rig) -> None:
    heard: list[tuple[str, float, str]] = []
    rig.session.registry.observe(lambda c: heard.append((c.address, c.value, c.source)), "tracks/tone/gain_db")
    peer, other = rig.peer(), rig.peer()
    other.ask("/mixhost/subscribe", reply="/mixhost/subscribed")
    peer.send("/tracks/tone/gain_db", -9.0)
    rig.wait_value("tracks/tone/gain_db", -9.0)
    assert peer.ask("/mixhost/snapshot/save", "verse", reply="/mixhost/snapshot/saved") == ["verse"]
    peer.send("/tracks/tone/gain_db", -1.0)
    rig.wait_value("tracks/tone/gain_db", -1.0)
    other.take()
    peer.send("/mixhost/snapshot/recall", "verse")
    rig.wait_value("tracks/tone/gain_db", -9.0)
    assert heard[-1] == ("tracks/tone/gain_db", -9.0, f"osc:127.0.0.1:{peer.port}")
    wait_for(lambda: [-9.0] in other.messages("/tracks/tone/gain_db"), what="the recall at a subscriber")
    rig.session.save()
    saved = host.load_session(rig.session.path)
    assert saved.get("tracks/tone/gain_db") == -9.0
    assert "verse" in saved.document["snapshots"] and saved.document["snapshots"]["verse"]["tracks/tone/gain_db"] == -9.0


def test_list_pages_hold_every_address_with_its_range_and_value(rig: Rig) -> None:
    peer = rig.peer()
    begin = peer.ask("/mixhost/list", reply="/mixhost/list/begin")
    _, count, pages = begin
    wait_for(lambda: peer.messages("/mixhost/list/end"), what="the end")
    items = {m[0]: m for m in peer.messages("/mixhost/list/item")}
    assert count == len(rig.session.registry) == len(items)
    assert len(peer.messages("/mixhost/list/page")) == pages
    gain = items["/tracks/noise/gain_db"]
    assert gain[1:8] == ["number", "dB", "db_fader", -120.0, 24.0, 0, -6.0]
    assert items["/transport/xruns"][6] == 1 and items["/tracks/noise/mute"][9] == "off,on"


def test_selected_addresses_follow_the_selection(rig: Rig) -> None:
    peer = rig.peer()
    assert peer.ask("/mixhost/select", "noise", reply="/mixhost/selected") == ["/tracks/noise"]
    peer.send("/selected/pan", 0.25)
    rig.wait_value("tracks/noise/pan", 0.25)
    assert peer.ask("/selected/pan") == [0.25]


def test_subscribers_that_stop_renewing_are_dropped(tmp_path: Path) -> None:
    rig = Rig(tmp_path, timeout_s=0.5)
    try:
        quiet, alive = rig.peer(), rig.peer()
        for peer in (quiet, alive):
            peer.ask("/mixhost/subscribe", reply="/mixhost/subscribed")
        for _ in range(10):
            alive.send("/mixhost/heartbeat")
            time.sleep(0.15)
        assert [c.peer[1] for c in rig.osc.server.clients.subscribers] == [alive.port]
        assert rig.osc.counts["subscriber_timeout"] == 1
    finally:
        rig.close()


def test_liblo_peers_set_and_receive_feedback(rig: Rig) -> None:
    dump_port = 19000 + rig.osc.port % 1000
    dump = subprocess.Popen(["oscdump", "-L", str(dump_port)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        url = f"osc.udp://127.0.0.1:{rig.osc.port}"
        subprocess.run(["oscsend", url, "/mixhost/subscribe", "i", str(dump_port)], check=True)
        subprocess.run(["oscsend", url, "/tracks/noise/gain_db", "f", "-12.5"], check=True)
        rig.wait_value("tracks/noise/gain_db", -12.5)
        assert dump.stdout is not None
        wait_for(lambda: "/tracks/noise/gain_db f -12.5" in dump.stdout.readline(), 10.0, "oscdump's line")
    finally:
        dump.terminate()
        dump.wait(timeout=5)
