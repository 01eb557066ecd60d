"""OSC over a byte stream (TCP): the two framings, as incremental decoders and encoders.

A stream has no datagram edges, so each packet is framed:

* OSC 1.0 ("OSC Packets"): "the length of the OSC packet as an int32,
  followed by the packet" (big-endian, like every OSC int32);
* OSC 1.1 (Freed & Schmeder, NIME 2009, §"Transport"): SLIP (RFC 1055),
  double-END: ``END`` (0xC0) before and after each packet, ``END`` in the
  packet sent as ``ESC ESC_END`` (0xDB 0xDC), ``ESC`` as ``ESC ESC_ESC``
  (0xDB 0xDD).

One port serves both: a length-prefixed stream begins with the size's high
byte, 0 for any packet under 16 MiB; a SLIP stream with ``END`` or a
packet's first byte (``/`` or ``#``).  So the first byte chooses
(:func:`framing_of`), and the server answers in the framing it was spoken to.

Bad input, bounded: a frame longer than ``limit`` bytes is never buffered.
A SLIP stream drops it and picks up at the next ``END``; a length prefix
cannot be resynchronised (the next size is where the bad one says), so an
oversized length ends the connection.  A SLIP escape followed by anything
but ``ESC_END``/``ESC_ESC`` spoils only its frame.  The decoders hold at most
``limit`` bytes plus one read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Literal, Protocol

Framing = Literal["length", "slip"]
FRAMINGS: tuple[Framing, ...] = ("length", "slip")

END = 0xC0        # RFC 1055: frame end
ESC = 0xDB        # RFC 1055: frame escape
ESC_END = 0xDC    # ESC ESC_END: an END byte in the data
ESC_ESC = 0xDD    # ESC ESC_ESC: an ESC byte in the data
SIZE = struct.Struct(">i")


class StreamError(ValueError):
    """The stream cannot go on (an oversized or negative length prefix): close the connection."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class BadFrame:
    """A frame refused on its own; the stream goes on.  ``kind`` names the counter."""

    __slots__ = ("kind", "reason")

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason


class Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes | BadFrame]:
        """The complete frames in the stream so far (packets, or refusals); raises :class:`StreamError`."""
        ...


def framing_of(first: int) -> Framing:
    """The framing a stream uses, from its first byte (see the module docstring)."""
    return "length" if first == 0 else "slip"


def frame(packet: bytes, framing: Framing) -> bytes:
    """``packet`` framed for a stream."""
    if framing == "length":
        return SIZE.pack(len(packet)) + packet
    escaped = packet.replace(bytes([ESC]), bytes([ESC, ESC_ESC])).replace(bytes([END]), bytes([ESC, ESC_END]))
    return bytes([END]) + escaped + bytes([END])


def decoder(framing: Framing, limit: int) -> Decoder:
    return LengthDecoder(limit) if framing == "length" else SlipDecoder(limit)


class LengthDecoder:
    """OSC 1.0 stream framing: int32 size, then the packet."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[bytes | BadFrame]:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= SIZE.size:
            (size,) = SIZE.unpack_from(buffer)
            if size < 0 or size > self.limit:
                buffer.clear()
                raise StreamError("oversized", f"a length prefix of {size} bytes (at most {self.limit})")
            if len(buffer) < SIZE.size + size:
                return
            packet = bytes(buffer[SIZE.size:SIZE.size + size])
            del buffer[:SIZE.size + size]
            if size == 0:
                yield BadFrame("malformed", "an empty packet")
            else:
                yield packet


class SlipDecoder:
    """OSC 1.1 stream framing: SLIP, double-END (RFC 1055)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._frame = bytearray()
        self._skipping = False     # an oversized frame: dropped up to the next END

    def feed(self, data: bytes) -> Iterator[bytes | BadFrame]:
        start = 0
        while start < len(data):
            end = data.find(END, start)
            piece = data[start:] if end < 0 else data[start:end]
            self._add(piece)
            if end < 0:
                return
            start = end + 1
            done = self._close()
            if done is not None:
                yield done

    def _add(self, piece: bytes) -> None:
        if self._skipping or not piece:
            return
        self._frame += piece
        if len(self._frame) > 2 * self.limit:   # escaped, a frame is at most twice its packet
            self._drop()

    def _drop(self) -> None:
        self._frame.clear()
        self._skipping = True

    def _close(self) -> bytes | BadFrame | None:
        """An END: the frame so far is complete (an empty one, from double-END, is nothing)."""
        raw, skipping = bytes(self._frame), self._skipping
        self._frame.clear()
        self._skipping = False
        if skipping:
            return BadFrame("oversized", f"a SLIP frame longer than {self.limit} bytes")
        if not raw:
            return None
        packet = _unescape(raw)
        if packet is None:
            return BadFrame("malformed", "a SLIP escape (0xDB) followed by neither 0xDC nor 0xDD")
        if len(packet) > self.limit:
            return BadFrame("oversized", f"a SLIP frame of {len(packet)} bytes (at most {self.limit})")
        return packet


def _unescape(raw: bytes) -> bytes | None:
    """RFC 1055's escapes undone; None if an escape is bad (or the frame ends on one)."""
    if ESC not in raw:
        return raw
    parts = raw.split(bytes([ESC]))
    out = bytearray(parts[0])
    for part in parts[1:]:
        if not part or part[0] not in (ESC_END, ESC_ESC):
            return None
        out.append(END if part[0] == ESC_END else ESC)
        out += part[1:]
    return bytes(out)
