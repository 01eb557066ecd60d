"""One connected browser: its WebSocket, its feedback and its bounded send queue.

What a page should show is kept per address in its own
:class:`~host.control.feedback.Feedback` (latest value only, no echo of its
own moves, nothing to a held control), so however fast values change, what
waits to be sent is one ``values`` message per flush.  Those messages go
into a bounded queue that one writer task empties into the socket.  A page
that cannot keep up (a phone on bad Wi-Fi, a stopped tab) fills its queue
and is dropped; it reconnects by itself and gets the whole state again.  A
meters message is skipped while the previous one still waits, so meters
never pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..feedback import Feedback

log = logging.getLogger(__name__)

QUEUE_LIMIT = 64          # messages waiting for the socket; a page further behind is dropped
CLOSE_TIMEOUT_S = 1.0
TRY_AGAIN_LATER = 1013    # RFC 6455 §7.4.1 (IANA registry): the server is overloaded for this client


class Client:
    """A browser page connected over a WebSocket (the server's loop thread, unless said)."""

    def __init__(self, number: int, socket: Any, peer: str, transport: Any = None,
                 queue_limit: int = QUEUE_LIMIT) -> None:
        self.number = number
        self.socket = socket
        self.peer = peer
        self.transport = transport
        self.source = f"web:{number}"
        self.feedback = Feedback()
        self.held: set[str] = set()                # controls under this page's hand
        self.shown: dict[str, float] = {}          # own moves whose display text is still to go back
        self.queue: asyncio.Queue[tuple[str, bool]] = asyncio.Queue(maxsize=queue_limit)
        self.meters_waiting = False
        self.meters_skipped = 0
        self.sent = 0
        self.errors = 0
        self.dropped = False
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def send(self, text: str, *, meters: bool = False) -> bool:
        """Queue a message; False (and the page is dropped) when it is too far behind."""
        if self.dropped:
            return False
        if meters and self.meters_waiting:
            self.meters_skipped += 1
            return True
        try:
            self.queue.put_nowait((text, meters))
        except asyncio.QueueFull:
            log.info("browser %s (%s) fell %d messages behind: dropped", self.source, self.peer,
                     self.queue.qsize())
            self.drop(TRY_AGAIN_LATER, "too far behind")
            return False
        if meters:
            self.meters_waiting = True
        return True

    async def _write(self) -> None:
        try:
            while True:
                text, meters = await self.queue.get()
                await self.socket.send_str(text)
                self.sent += 1
                if meters:
                    self.meters_waiting = False
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a socket gone mid-write: the reader sees it end
            log.debug("browser %s: write failed", self.source, exc_info=True)

    def ended(self) -> None:
        """Its socket has ended: the writer goes with it (left waiting on the queue, it would
        outlive the page until the collector found it, and asyncio complained then)."""
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()

    def drop(self, code: int, reason: str) -> None:
        """Stop sending and cut the connection (the page reconnects by itself).

        Its buffers are full, so a closing handshake would wait behind them:
        the connection is aborted, which also ends the server's read of it.
        """
        if self.dropped:
            return
        self.dropped = True
        self.ended()
        if self.transport is not None:
            self.transport.abort()
        else:
            asyncio.get_running_loop().create_task(self.close(code, reason))

    async def close(self, code: int = 1001, reason: str = "server stopping") -> None:
        self.ended()
        with contextlib.suppress(Exception):   # a page that does not answer: cut off below
            await asyncio.wait_for(self.socket.close(code=code, message=reason.encode()), CLOSE_TIMEOUT_S)
        if self.transport is not None and self.transport.is_closing():
            self.transport.abort()   # what is still buffered for it is not waited for
