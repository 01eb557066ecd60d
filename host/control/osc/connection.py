"""One OSC-over-TCP peer: its socket, the framing it speaks, what it still has to be sent.

Driven by the server's I/O thread (:mod:`.server`), never blocking: reads
take what the kernel has, writes what the kernel will take; the rest of an
outgoing frame waits in ``pending``.  The framing (:mod:`.stream`) is
chosen by the first byte the peer sends, and replies use the same.
"""

from __future__ import annotations

import socket

from .client import Peer
from .stream import BadFrame, Decoder, Framing, StreamError, decoder, frame, framing_of

READ_SIZE = 65_536
TCP_PREFIX = "tcp:"          # a TCP peer's key among the clients: ("tcp:<host>", port), apart from UDP's
PENDING_LIMIT = 256 * 1024    # bytes framed but not yet taken by the kernel: beyond, replies wait in the queue


class Connection:
    """An accepted TCP connection (the I/O thread only)."""

    def __init__(self, sock: socket.socket, address: tuple[str, int], limit: int) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # a fader's set goes now, not in 40 ms
        self.sock = sock
        self.host = address[0]
        self.peer: Peer = (TCP_PREFIX + address[0], address[1])
        self.limit = limit
        self.framing: Framing | None = None
        self._decoder: Decoder | None = None
        self.pending = bytearray()
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[bytes | BadFrame]:
        """The frames that arrived (packets, or refusals).  Raises :class:`StreamError` when the
        stream cannot go on; sets ``closed`` when the peer hung up."""
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            self.closed = True
            return []
        if not data:
            self.closed = True
            return []
        if self._decoder is None:
            self.framing = framing_of(data[0])
            self._decoder = decoder(self.framing, self.limit)
        return list(self._decoder.feed(data))

    def wants(self) -> bool:
        """Room for another reply in ``pending``."""
        return len(self.pending) < PENDING_LIMIT

    def queue(self, packet: bytes) -> None:
        self.pending += frame(packet, self.framing or "slip")

    def flush(self) -> None:
        """Write what the kernel takes now."""
        if not self.pending or self.closed:
            return
        try:
            sent = self.sock.send(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.closed = True
            return
        del self.pending[:sent]

    def close(self) -> None:
        self.closed = True
        self.sock.close()


__all__ = ["TCP_PREFIX", "Connection", "StreamError"]
