"""MIDI input decoded into a few plain kinds, with bad input counted, never raised.

rtmidi hands over one event's bytes at a time.  Whatever a device or a
program sends (a status byte missing, data bytes with the top bit set, a
truncated message, a SysEx flood) is counted in :class:`InputCounts` and
dropped; the next good message still applies.  Output messages are built
with mido (:func:`sysex`, :func:`build`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import mido

# channel voice messages: status high nibble -> (kind, data bytes)
VOICE = {0x80: ("note_off", 2), 0x90: ("note_on", 2), 0xA0: ("poly_pressure", 2), 0xB0: ("cc", 2),
         0xC0: ("program", 1), 0xD0: ("pressure", 1), 0xE0: ("pitchbend", 2)}
SYSEX_LIMIT = 512      # longer SysEx is a flood, not a message for us


class Message(NamedTuple):
    """A decoded channel message: ``kind``, ``channel`` 0-15, ``number`` (controller, note; 0 where
    none) and ``value`` (7 bits; pitch bend 14 bits; a note off is a note_on of value 0)."""

    kind: str
    channel: int
    number: int
    value: int


@dataclass
class InputCounts:
    """What arrived and what was thrown away."""

    good: int = 0
    malformed: int = 0     # no status byte, data byte with the top bit, wrong length
    unknown: int = 0       # well-formed, but nothing maps it (system messages, poly pressure)
    sysex: int = 0         # SysEx that was not for us, or too long

    @property
    def ignored(self) -> int:
        return self.malformed + self.unknown + self.sysex


def decode(data: list[int] | bytes, counts: InputCounts) -> Message | None:
    """One event's bytes -> a :class:`Message`, or None (counted) if it is not one we use."""
    if not data:
        counts.malformed += 1
        return None
    status = data[0]
    if status < 0x80:                    # running status is resolved by the driver: bytes without one are junk
        counts.malformed += 1
        return None
    if status >= 0xF0:
        if status == 0xF0:
            counts.sysex += 1
        else:
            counts.unknown += 1
        return None
    kind, size = VOICE[status & 0xF0]
    if len(data) != size + 1 or any(b > 0x7F for b in data[1:]):
        counts.malformed += 1
        return None
    channel = status & 0x0F
    if kind == "poly_pressure":
        counts.unknown += 1
        return None
    counts.good += 1
    if kind in ("program", "pressure"):
        return Message(kind, channel, 0, data[1])
    if kind == "pitchbend":
        return Message(kind, channel, 0, data[1] | (data[2] << 7))
    if kind == "note_off":
        return Message("note_on", channel, data[1], 0)
    return Message(kind, channel, data[1], data[2])


def build(kind: str, channel: int, number: int = 0, value: int = 0) -> list[int]:
    """The bytes of one outgoing channel message (``cc``, ``note_on``, ``pitchbend`` 0..16383,
    ``pressure``, ``program``), clamped to the ranges MIDI allows."""
    channel = min(max(channel, 0), 15)
    value = int(value)
    if kind == "cc":
        message = mido.Message("control_change", channel=channel, control=number & 0x7F,
                               value=min(max(value, 0), 127))
    elif kind == "note_on":
        message = mido.Message("note_on", channel=channel, note=number & 0x7F, velocity=min(max(value, 0), 127))
    elif kind == "pitchbend":
        message = mido.Message("pitchwheel", channel=channel, pitch=min(max(value, 0), 16383) - 8192)
    elif kind == "pressure":
        message = mido.Message("aftertouch", channel=channel, value=min(max(value, 0), 127))
    elif kind == "program":
        message = mido.Message("program_change", channel=channel, program=min(max(value, 0), 127))
    else:
        raise ValueError(f"cannot build a {kind!r} message")
    return list(message.bytes())


def sysex(payload: list[int] | bytes) -> list[int]:
    """A SysEx message around ``payload`` (the bytes between F0 and F7)."""
    return list(mido.Message("sysex", data=[b & 0x7F for b in payload]).bytes())
