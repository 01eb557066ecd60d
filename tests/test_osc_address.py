"""OSC 1.0 address patterns and the datagram decoder, without a socket."""

from __future__ import annotations

import struct

import pytest

from host.control.osc.address import Matcher, PatternError, matches
from host.control.osc.packet import MAX_DEPTH, PacketError, bundle, decode, encode


@pytest.mark.parametrize(("pattern", "address", "expected"), [
    ("tracks/*/mute", "tracks/vox/mute", True),
    ("tracks/*/mute", "tracks/vox/eq/mute", False),        # '*' never crosses '/'
    ("tracks/*", "tracks/", True),                         # zero characters
    ("*/mute", "tracks/vox/mute", False),
    ("tracks/v?x/mute", "tracks/vox/mute", True),
    ("tracks/v?x/mute", "tracks/vx/mute", False),
    ("tracks/v?x/mute", "tracks/v/x/mute", False),         # '?' never matches '/'
    ("tracks/t[1-4]/gain_db", "tracks/t3/gain_db", True),
    ("tracks/t[1-4]/gain_db", "tracks/t5/gain_db", False),
    ("tracks/t[!1-4]/gain_db", "tracks/t5/gain_db", True),
    ("tracks/t[!1-4]/gain_db", "tracks/t2/gain_db", False),
    ("tracks/[!a]*", "tracks/b", True),
    ("tracks/[!a]*", "tracks/abc", False),
    ("tracks/[ab-]/x", "tracks/-/x", True),                # a '-' at the end is literal
    ("tracks/{vox,bass}/pan", "tracks/bass/pan", True),
    ("tracks/{vox,bass}/pan", "tracks/drums/pan", False),
    ("tracks/{vox,bass}/pan", "tracks/voxbass/pan", False),
    ("tracks/a.b", "tracks/axb", False),                   # regex characters are literal
    ("tracks/(x)+", "tracks/(x)+", True),
])
def test_pattern_semantics(pattern: str, address: str, expected: bool) -> None:
    assert matches(pattern, address) is expected


@pytest.mark.parametrize("pattern", ["tracks/[ab", "tracks/{a,b", "tracks/a]", "tracks/[]", "tracks/[z-a]",
                                     "tracks/{a,*}", "x" * 2000])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        Matcher().compile(pattern)


def test_the_matcher_cache_is_bounded() -> None:
    matcher = Matcher(size=4)
    for i in range(20):
        matcher.match(f"t{i}/*", ["t1/a", "t19/b"])
    assert len(matcher._cache) == 4


def _nest(depth: int) -> bytes:
    data = encode("/x", 1.0)
    for _ in range(depth):
        data = bundle([data])
    return data


def test_nested_bundles_are_walked_without_recursion_and_refused_when_too_deep() -> None:
    groups = decode(_nest(MAX_DEPTH))
    assert [m.address for g in groups for m in g.messages] == ["/x"]
    for depth in (MAX_DEPTH + 1, 2000):
        with pytest.raises(PacketError) as refused:
            decode(_nest(depth))
        assert refused.value.kind == "too_deep"


@pytest.mark.parametrize(("data", "kind"), [
    (b"/a\x00\x00,s\x00\x00\xff\xfe\x00\x00", "invalid_utf8"),
    (b"/a\x00\x00,f\x00\x00\x00", "malformed"),             # a float cut short
    (b"/a\x00\x00,q\x00\x00", "wrong_type"),                 # no such type tag
    (b"/a\x00\x00xf\x00\x00", "wrong_type"),                 # type tags without ','
    (b"noslash\x00", "malformed"),
    (b"#bundle\x00" + b"\x00" * 4, "malformed"),
    (b"#bundle\x00" + struct.pack(">Q", 1) + struct.pack(">i", 400) + b"/a\x00\x00", "malformed"),
    (b"/" + b"a" * 70_000, "oversized"),
])
def test_bad_datagrams_raise_only_packet_errors(data: bytes, kind: str) -> None:
    with pytest.raises(PacketError) as refused:
        decode(data)
    assert refused.value.kind == kind


def test_a_nested_bundle_is_due_no_earlier_than_its_parent() -> None:
    inner = b"#bundle\x00" + struct.pack(">Q", 1) + struct.pack(">i", 8) + encode("/y")   # "immediately"
    outer = b"#bundle\x00" + struct.pack(">II", 4_000_000_000, 0) + struct.pack(">i", len(inner)) + inner
    due = [g.due for g in decode(outer)]
    assert due[0] == due[1] > 0
