"""The peers of an OSC server: where replies go, what each subscribed to, what waits for it.

A client is known by the address and port its datagrams come from.  It gets
replies there, or at the port it names in ``/mixhost/subscribe PORT`` (a
tablet app often listens on another port than it sends from).  Each client
has

* a :class:`~host.control.feedback.Feedback` (latest value per control,
  only on change, at most ``FEEDBACK_HZ`` per address; no echo of its own
  moves, a correction when its set was refused);
* a bounded queue of encoded replies: a client that does not read (or has
  gone) loses its own oldest replies, counted, and never holds up another.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..feedback import Feedback

if TYPE_CHECKING:
    from .connection import Connection

FEEDBACK_HZ = 60.0
QUEUE_LIMIT = 2048            # replies waiting for one client; older ones are dropped beyond it
SUBSCRIBE_TIMEOUT_S = 30.0    # a subscriber that neither renews nor sends anything is dropped after this
IDLE_FORGET_S = 120.0         # a client that never subscribed is forgotten after this long silent
MAX_CLIENTS = 256
FORMS = ("value", "norm", "text")
Peer = tuple[str, int]


class Client:
    """One peer of the server."""

    def __init__(self, peer: Peer, now: float) -> None:
        self.peer = peer
        self.source = f"osc:{peer[0]}:{peer[1]}"
        self.reply_to: Peer = peer
        self.stream: Connection | None = None   # a TCP peer: replies go on its connection
        self.heard_at = now
        self.subscribed = False
        self.forms: tuple[str, ...] = ("value",)
        self.prefixes: tuple[str, ...] = ()   # registry address prefixes it follows (none: all)
        self.meters = False
        self.asked: tuple[int | None, tuple[str, ...]] | None = None   # the subscription's port and words
        self.feedback = Feedback(min_interval_s=1.0 / FEEDBACK_HZ)
        self.queue: deque[bytes] = deque()
        self.dropped = 0
        self.sent = 0

    def reply(self, data: bytes) -> None:
        """Queue an encoded datagram for this client (the I/O thread); the oldest goes when full."""
        if len(self.queue) >= QUEUE_LIMIT:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(data)

    def follows(self, address: str) -> bool:
        """Does this subscriber want feedback for the registry ``address``?"""
        return not self.prefixes or address.startswith(self.prefixes)

    def subscribe(self, port: int | None, what: list[str], now: float) -> None:
        if port and self.stream is None:     # a TCP peer's replies stay on its connection
            self.reply_to = (self.peer[0], port)
        forms = [w for w in what if w in FORMS]
        if "all" in what:
            forms = list(FORMS)
        self.forms = tuple(forms) or ("value",)
        self.meters = "meters" in what or "all" in what
        self.prefixes = tuple(w.strip("/") for w in what if w.startswith("/"))
        self.subscribed = True
        self.asked = (port, tuple(what))
        self.heard_at = now
        self.feedback.forget()


class Clients:
    """Every client the server has heard from (bounded; the longest silent goes first)."""

    def __init__(self, limit: int = MAX_CLIENTS) -> None:
        self.limit = limit
        self._clients: dict[Peer, Client] = {}
        self.subscribers: tuple[Client, ...] = ()   # read lock-free by observers in other threads

    def get(self, peer: Peer, now: float | None = None) -> Client:
        now = time.monotonic() if now is None else now
        client = self._clients.get(peer)
        if client is None:
            if len(self._clients) >= self.limit:
                oldest = min(self._clients.values(), key=lambda c: c.heard_at)
                self.remove(oldest)
            client = self._clients[peer] = Client(peer, now)
        client.heard_at = now
        return client

    def find(self, peer: Peer) -> Client | None:
        """The client known by ``peer``, if any (unlike :meth:`get`, makes none)."""
        return self._clients.get(peer)

    def __iter__(self) -> Iterator[Client]:
        return iter(list(self._clients.values()))

    def __len__(self) -> int:
        return len(self._clients)

    def changed(self) -> None:
        """A subscription came or went: republish the subscribers' tuple."""
        self.subscribers = tuple(c for c in self._clients.values() if c.subscribed)

    def remove(self, client: Client) -> None:
        self._clients.pop(client.peer, None)
        client.subscribed = False
        self.changed()

    def expire(self, now: float, timeout_s: float) -> list[Client]:
        """Drop subscribers silent for ``timeout_s`` and idle non-subscribers; returns the dropped subscribers."""
        dropped = []
        for client in list(self._clients.values()):
            silent = now - client.heard_at
            if client.subscribed and silent > timeout_s:
                dropped.append(client)
                self.remove(client)
            elif not client.subscribed and silent > IDLE_FORGET_S and not client.queue:
                self.remove(client)
        return dropped
