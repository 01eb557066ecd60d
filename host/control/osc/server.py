"""The OSC server: one UDP socket, one I/O thread, an allowlist, a schedule, counters.

Why not python-osc's servers (measured, see issue 20):

* ``ThreadingOSCUDPServer`` starts a thread per datagram, so messages from
  one client apply out of order;
* ``Dispatcher(strict_timing=True)`` sleeps until a bundle's time tag, so
  a bundle stamped an hour ahead blocks every later message.

Here one thread (``mixhost-osc``) reads every datagram in arrival order and
hands each group (:mod:`.packet`) to the handler at once, or, when its time
tag is in the future, puts it on a heap and carries on; the heap's head sets
how long the thread may sleep.  The same thread sends: each client's queue
(:mod:`.client`) is written with a non-blocking ``sendto``, a few datagrams
per client per round, so one client never delays another.

Datagrams from outside the allowlist are dropped and counted.  Bad
datagrams are counted by kind and logged at most ``LOG_BURST`` times per
``LOG_WINDOW_S`` (a flood cannot fill a disk).
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import logging
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from .client import Client, Clients, Peer
from .packet import MAX_SIZE, Group, PacketError, decode, encode

log = logging.getLogger(__name__)

RECEIVE_BUFFER = 4 << 20      # bytes: a burst of sets waits in the kernel, not lost
READS_PER_ROUND = 512         # datagrams read before the thread sends what is due
SENDS_PER_CLIENT = 64         # datagrams written to one client per round
MAX_SCHEDULED = 4096          # future bundles waiting; more are refused
MAX_AHEAD_S = 24 * 3600.0     # a time tag further ahead is refused (a clock gone wrong)
IDLE_S = 0.05                 # the longest sleep with nothing to do
LOG_WINDOW_S = 10.0
LOG_BURST = 5
LOOPBACK = ("127.0.0.0/8", "::1/128")


class Handler(Protocol):
    """What the messages mean (the OSC surface)."""

    def handle(self, client: Client, group: Group) -> None: ...

    def round(self, now: float) -> float:
        """Per-round work (feedback, meters, timeouts); returns seconds until it needs the next round."""
        ...

    def refused(self, client: Client, kind: str, reason: str) -> None: ...


class RateLimitedLog:
    """At most ``burst`` lines per kind per ``window_s``; the rest are summed into one line."""

    def __init__(self, window_s: float = LOG_WINDOW_S, burst: int = LOG_BURST) -> None:
        self.window_s = window_s
        self.burst = burst
        self._start: dict[str, float] = {}
        self._count: Counter[str] = Counter()

    def warning(self, kind: str, text: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self._start.get(kind, -1e9) > self.window_s:
            hidden = self._count[kind] - self.burst
            if hidden > 0:
                log.warning("OSC: %d more %s message(s) not logged", hidden, kind)
            self._start[kind] = now
            self._count[kind] = 0
        self._count[kind] += 1
        if self._count[kind] <= self.burst:
            log.warning("OSC: " + text, *args, exc_info=exc_info)


class Allowlist:
    """The networks peers may send from."""

    def __init__(self, networks: Sequence[str]) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self._seen: dict[str, bool] = {}

    def __contains__(self, host: str) -> bool:
        known = self._seen.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host.split("%")[0])
                known = any(address in network for network in self.networks)
            except ValueError:
                known = False
            if len(self._seen) > 4096:
                self._seen.clear()
            self._seen[host] = known
        return known


def default_allow(bind: str) -> list[str]:
    """Bound to loopback: loopback peers.  Bound elsewhere: still loopback only, until --osc-allow."""
    return list(LOOPBACK)


class OscServer:
    """A UDP OSC endpoint driven by one I/O thread (see the module docstring)."""

    def __init__(self, handler: Handler, bind: str = "127.0.0.1", port: int = 9000,
                 allow: Sequence[str] | None = None) -> None:
        self.handler = handler
        self.bind = bind
        self.port = port
        self.allow = Allowlist(allow if allow else default_allow(bind))
        self.clients = Clients()
        self.counts: Counter[str] = Counter()
        self.logged = RateLimitedLog()
        self._schedule: list[tuple[float, int, Peer, Group]] = []
        self._sequence = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        for end in (self._wake_r, self._wake_w):
            end.setblocking(False)
        self._woken = False

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind((self.bind, self.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]   # port 0: the one the system chose
        self._thread = threading.Thread(target=self._run, name="mixhost-osc", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._sock is not None:
            self._sock.close()
        self._wake_r.close()
        self._wake_w.close()

    def wake(self) -> None:
        """Cut the I/O thread's sleep short (any thread): feedback is waiting."""
        if not self._woken:
            self._woken = True
            with contextlib.suppress(OSError):   # full: the thread is being woken anyway
                self._wake_w.send(b"!")

    @property
    def scheduled(self) -> int:
        return len(self._schedule)

    # -- the I/O thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        assert self._sock is not None
        sleep = 0.0
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([self._sock, self._wake_r], [], [], sleep)
                if self._wake_r in readable:
                    self._drain_wake()
                self._receive()
                sleep = self._round()
            except Exception:  # noqa: BLE001 - the server must live on; each failure is counted
                self.counts["internal_error"] += 1
                self.logged.warning("internal", "a round of the server failed", exc_info=True)
                sleep = IDLE_S

    def _drain_wake(self) -> None:
        self._woken = False
        try:
            while self._wake_r.recv(256):
                pass
        except OSError:
            pass

    def _receive(self) -> None:
        assert self._sock is not None
        for _ in range(READS_PER_ROUND):
            try:
                data, peer = self._sock.recvfrom(MAX_SIZE + 1)
            except BlockingIOError:
                return
            except OSError:   # an ICMP error reported on the socket: nothing to read
                self.counts["receive_error"] += 1
                continue
            self._datagram(data, (peer[0], peer[1]))

    def _datagram(self, data: bytes, peer: Peer) -> None:
        self.counts["datagrams"] += 1
        if peer[0] not in self.allow:
            self.counts["not_allowed"] += 1
            self.logged.warning("not_allowed", "dropped a datagram from %s (not in --osc-allow)", peer[0])
            return
        client = self.clients.get(peer)
        try:
            groups = decode(data)
        except PacketError as error:
            self.counts[error.kind] += 1
            self.logged.warning(error.kind, "refused a datagram from %s: %s", peer[0], error)
            self.handler.refused(client, error.kind, str(error))
            return
        now = time.time()
        for group in groups:
            if group.due > now:
                self._plan(client, group, now)
            else:
                self._handle(client, group)

    def _plan(self, client: Client, group: Group, now: float) -> None:
        """A bundle for later: on the heap; the thread sleeps no longer than the heap's head."""
        if group.due - now > MAX_AHEAD_S or len(self._schedule) >= MAX_SCHEDULED:
            self.counts["schedule_refused"] += 1
            self.handler.refused(client, "schedule_refused", "the time tag is too far ahead, or too "
                                 f"many bundles wait (at most {MAX_SCHEDULED}, {MAX_AHEAD_S:g} s ahead)")
            return
        self._sequence += 1
        heapq.heappush(self._schedule, (group.due, self._sequence, client.peer, group))
        self.counts["scheduled"] += 1

    def _handle(self, client: Client, group: Group) -> None:
        self.counts["messages"] += len(group.messages)
        try:
            self.handler.handle(client, group)
        except Exception:  # noqa: BLE001 - no message may stop the server
            self.counts["internal_error"] += 1
            self.logged.warning("internal", "handling a message from %s failed", client.peer[0], exc_info=True)

    def _round(self) -> float:
        now = time.time()
        while self._schedule and self._schedule[0][0] <= now:
            _, _, peer, group = heapq.heappop(self._schedule)
            self._handle(self.clients.get(peer), group)
        sleep = self.handler.round(time.monotonic())
        self._send()
        if self._schedule:
            sleep = min(sleep, max(0.0, self._schedule[0][0] - time.time()))
        if any(c.queue for c in self.clients):
            sleep = 0.0
        return min(max(sleep, 0.0), IDLE_S)

    def _send(self) -> None:
        assert self._sock is not None
        for client in self.clients:
            queue = client.queue
            for _ in range(SENDS_PER_CLIENT):
                if not queue:
                    break
                try:
                    self._sock.sendto(queue[0], client.reply_to)
                except BlockingIOError:
                    break          # our send buffer is full: the rest goes next round
                except OSError:
                    self.counts["send_error"] += 1
                else:
                    client.sent += 1
                    self.counts["sent"] += 1
                queue.popleft()

    # -- helpers for the handler (I/O thread) ---------------------------------------------------------
    def error(self, client: Client, address: str, reason: str) -> None:
        """``/mixhost/error <address> <reason>`` to the client."""
        client.reply(encode("/mixhost/error", address, reason))
