"""OSC packets: a datagram -> groups of messages, each with the time it is due.

OSC 1.0 ("OSC Packets", "OSC Bundles"): a packet is a message or a bundle;
a bundle is ``#bundle\\0``, a 64-bit NTP time tag, then elements, each an
int32 size and a message or a bundle.  python-osc is the codec for the
messages; the bundle walk is here because python-osc's ``OscBundle``
recurses (2,000 nested bundles raised ``RecursionError``): here it is a loop
over a stack, with a depth limit.

Each bundle becomes one :class:`Group`: its messages land together (its sets
in one block).  A nested bundle is a group of its own, due no earlier than
its parent (OSC 1.0: "the time tag of a contained bundle must be >= the
enclosing bundle's").

Everything that can go wrong raises :class:`PacketError` with a counter
name, never anything else: python-osc's own parse raises ``ParseError``,
``UnicodeDecodeError`` (11 % of fuzzed datagrams), ``struct.error``...
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pythonosc.osc_message import OscMessage
from pythonosc.parsing import osc_types

BUNDLE = b"#bundle\x00"
MAX_DEPTH = 8              # nested bundles deeper than this are refused whole
MAX_MESSAGES = 1024        # messages in one datagram
MAX_SIZE = 65_507          # the largest UDP payload over IPv4
TAGS = frozenset("ifsbhdtTFNrm[]")   # the type tags python-osc decodes; anything else is refused here,
                                     # before python-osc logs a warning per unknown tag on the root logger
IMMEDIATELY = 0.0


class PacketError(ValueError):
    """A datagram refused whole; ``kind`` names the counter it goes to."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass
class Group:
    """Messages that land together, due at ``due`` (Unix seconds; 0: at once)."""

    due: float
    messages: list[OscMessage] = field(default_factory=list)
    bundled: bool = False


def decode(data: bytes, max_depth: int = MAX_DEPTH, max_messages: int = MAX_MESSAGES) -> list[Group]:
    """The groups in a datagram, outer bundle first; :class:`PacketError` if any part is bad."""
    if len(data) > MAX_SIZE:
        raise PacketError("oversized", f"{len(data)} bytes, more than {MAX_SIZE}")
    if not data.startswith(BUNDLE):
        return [Group(IMMEDIATELY, [message(data)])]
    groups: list[Group] = []
    stack: list[tuple[bytes, float, int]] = [(data, IMMEDIATELY, 1)]
    count = 0
    while stack:
        chunk, parent_due, depth = stack.pop()
        group = Group(max(parent_due, _timetag(chunk)), bundled=True)
        groups.append(group)
        for element in _elements(chunk):
            if element.startswith(BUNDLE):
                if depth >= max_depth:
                    raise PacketError("too_deep", f"bundles nested more than {max_depth} deep")
                stack.append((element, group.due, depth + 1))
                continue
            count += 1
            if count > max_messages:
                raise PacketError("oversized", f"more than {max_messages} messages in one datagram")
            group.messages.append(message(element))
    return groups


def _timetag(chunk: bytes) -> float:
    if len(chunk) < 16:
        raise PacketError("malformed", "a bundle shorter than its header")
    try:
        due, _ = osc_types.get_date(chunk, 8)
    except Exception as error:  # noqa: BLE001 - python-osc raises several kinds
        raise PacketError("malformed", f"bad time tag: {error}") from None
    return float(due)


def _elements(chunk: bytes) -> list[bytes]:
    """A bundle's elements (OSC 1.0: int32 size, then that many bytes, a multiple of 4)."""
    out = []
    index = 16
    while index < len(chunk):
        if index + 4 > len(chunk):
            raise PacketError("malformed", "a bundle element cut short")
        (size,) = struct.unpack_from(">i", chunk, index)
        index += 4
        if size <= 0 or size % 4 or index + size > len(chunk):
            raise PacketError("malformed", f"a bundle element of {size} bytes does not fit")
        out.append(chunk[index:index + size])
        index += size
    return out


def message(data: bytes) -> OscMessage:
    """One message, decoded by python-osc after the checks it lacks."""
    if not data.startswith(b"/"):
        raise PacketError("malformed", "a message's address must start with '/'")
    if len(data) % 4:
        raise PacketError("malformed", "a message's size must be a multiple of 4")
    _check_tags(data)
    try:
        return OscMessage(data)
    except UnicodeDecodeError:
        raise PacketError("invalid_utf8", "a string is not UTF-8") from None
    except Exception as error:  # noqa: BLE001 - ParseError, struct.error, IndexError, OverflowError...
        raise PacketError("malformed", f"cannot decode: {error}") from None


def _check_tags(data: bytes) -> None:
    """The type tag string holds only tags we decode (OSC 1.0 "OSC Type Tag String")."""
    end = data.find(b"\x00")
    if end < 0:
        raise PacketError("malformed", "an address without its terminating null")
    start = (end + 4) & ~3
    if start >= len(data):
        return        # no type tags: no arguments (an OSC 1.0 query)
    stop = data.find(b"\x00", start)
    if stop < 0 or data[start:start + 1] != b",":
        raise PacketError("wrong_type", "the type tag string must start with ','")
    try:
        tags = data[start + 1:stop].decode("ascii")
    except UnicodeDecodeError:
        raise PacketError("wrong_type", "type tags are ASCII") from None
    if not TAGS.issuperset(tags):
        raise PacketError("wrong_type", f"unknown type tag(s) {sorted(set(tags) - TAGS)}")


# -- building (replies, feedback) -----------------------------------------------------------------

def bundle(messages: list[bytes]) -> bytes:
    """An immediate bundle of encoded messages (OSC 1.0 bundle framing; time tag 1 = "immediately")."""
    parts = [BUNDLE, struct.pack(">Q", 1)]
    for encoded in messages:
        parts.append(struct.pack(">i", len(encoded)))
        parts.append(encoded)
    return b"".join(parts)


def pack(messages: list[bytes], limit: int) -> list[bytes]:
    """Datagrams of at most ``limit`` bytes each: single messages alone, several in a bundle."""
    out: list[bytes] = []
    batch: list[bytes] = []
    size = 16
    for encoded in messages:
        if batch and size + 4 + len(encoded) > limit:
            out.append(batch[0] if len(batch) == 1 else bundle(batch))
            batch, size = [], 16
        batch.append(encoded)
        size += 4 + len(encoded)
    if batch:
        out.append(batch[0] if len(batch) == 1 else bundle(batch))
    return out


def encode(address: str, *args: float | int | str | bool) -> bytes:
    """One message, encoded with python-osc's type writers (no parse-back, as its builder does).

    Python ``float`` -> ``f``, ``int`` -> ``i``, ``str`` -> ``s``, ``bool`` -> ``T``/``F``.
    """
    tags = [","]
    body = []
    for arg in args:
        if isinstance(arg, bool):
            tags.append("T" if arg else "F")
        elif isinstance(arg, int):
            tags.append("i")
            body.append(osc_types.write_int(arg))
        elif isinstance(arg, float):
            tags.append("f")
            body.append(osc_types.write_float(arg))
        else:
            tags.append("s")
            body.append(osc_types.write_string(str(arg)))
    return osc_types.write_string(address) + osc_types.write_string("".join(tags)) + b"".join(body)
