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

The same port serves OSC over TCP (:mod:`.stream`: OSC 1.0 length prefixes
or OSC 1.1 SLIP, chosen by each connection's first byte): the same thread
accepts and reads the connections (:mod:`.connection`), their packets go
the same way as datagrams, and each peer's replies go back on its own
connection, in its framing.

Datagrams and connections from outside the allowlist are dropped and counted.  Bad
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
from .connection import TCP_PREFIX, Connection
from .packet import MAX_SIZE, Group, PacketError, decode, encode
from .stream import BadFrame, StreamError

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
MAX_CONNECTIONS = 64          # TCP peers at once; more are refused at accept
PORT_TRIES = 8                # port 0: pairs of system-chosen UDP ports tried until TCP gets the same one


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
        self._listener: socket.socket | None = None
        self._connections: list[Connection] = []
        self._wake_r, self._wake_w = socket.socketpair()
        for end in (self._wake_r, self._wake_w):
            end.setblocking(False)
        self._woken = False

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> None:
        for _ in range(PORT_TRIES if self.port == 0 else 1):
            sock = self._udp()
            self._listener = self._tcp(sock.getsockname()[1])
            if self._listener is not None or self.port != 0:
                break
            sock.close()
        self._sock = sock
        self.port = sock.getsockname()[1]   # port 0: the one the system chose
        if self._listener is None:
            log.warning("OSC: tcp port %d is taken: OSC over TCP is off (UDP works)", self.port)
        self._thread = threading.Thread(target=self._run, name="mixhost-osc", daemon=True)
        self._thread.start()

    @property
    def native_id(self) -> int | None:
        """The I/O thread's id in the OS (once started)."""
        return self._thread.native_id if self._thread is not None else None

    def _udp(self) -> socket.socket:
        sock = socket.socket(self._family(), socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind((self.bind, self.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    def _tcp(self, port: int) -> socket.socket | None:
        """The TCP listener on the UDP socket's port, or None if that port is taken."""
        sock = socket.socket(self._family(), socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # a restart within TIME_WAIT
            sock.bind((self.bind, port))
            sock.listen(16)
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return sock

    def _family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.bind else socket.AF_INET

    @property
    def tcp(self) -> bool:
        """OSC over TCP is served (on ``port``)."""
        return self._listener is not None

    def close(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._sock is not None:
            self._sock.close()
        for connection in self._connections:
            connection.close()
        if self._listener is not None:
            self._listener.close()
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
                listening: list[socket.socket] = [self._listener] if self._listener is not None else []
                watched: list[socket.socket | Connection] = [self._sock, self._wake_r, *listening,
                                                              *self._connections]
                writing = [c for c in self._connections if c.pending]
                readable, _, _ = select.select(watched, writing, [], sleep)
                if self._wake_r in readable:
                    self._drain_wake()
                self._receive()
                if listening and listening[0] in readable:
                    self._accept()
                for connection in readable:
                    if isinstance(connection, Connection):
                        self._stream(connection)
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
        self._packet(self.clients.get(peer), data)

    def _packet(self, client: Client, data: bytes) -> None:
        """One packet (a datagram, or a frame from a stream): handled now, or planned."""
        try:
            groups = decode(data)
        except PacketError as error:
            self._refuse(client, error.kind, str(error))
            return
        now = time.time()
        for group in groups:
            if group.due > now:
                self._plan(client, group, now)
            else:
                self._handle(client, group)

    def _refuse(self, client: Client, kind: str, reason: str) -> None:
        self.counts[kind] += 1
        self.logged.warning(kind, "refused a packet from %s: %s", client.peer[0], reason)
        self.handler.refused(client, kind, reason)

    # -- TCP (the I/O thread) -----------------------------------------------------------------------
    def _accept(self) -> None:
        assert self._listener is not None
        for _ in range(MAX_CONNECTIONS):
            try:
                sock, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.counts["accept_error"] += 1
                return
            if address[0] not in self.allow or len(self._connections) >= MAX_CONNECTIONS:
                kind = "not_allowed" if address[0] not in self.allow else "too_many_connections"
                self.counts[kind] += 1
                self.logged.warning(kind, "refused a TCP connection from %s (%s)", address[0], kind)
                sock.close()
                continue
            self.counts["connections"] += 1
            self._connections.append(Connection(sock, (address[0], address[1]), MAX_SIZE))

    def _client(self, connection: Connection) -> Client:
        client = self.clients.get(connection.peer)
        client.stream = connection
        return client

    def _stream(self, connection: Connection) -> None:
        """What a connection sent: each frame as a packet; a stream that cannot go on is closed."""
        try:
            frames = connection.read()
        except StreamError as error:
            client = self._client(connection)
            self._refuse(client, error.kind, f"{error}; the connection is closed")
            self._send_stream(client, connection)
            self._hang_up(connection)
            return
        for item in frames:
            client = self._client(connection)
            self.counts["frames"] += 1
            if isinstance(item, BadFrame):
                self._refuse(client, item.kind, item.reason)
            else:
                self._packet(client, item)
        if connection.closed:
            self._hang_up(connection)

    def _hang_up(self, connection: Connection) -> None:
        if connection in self._connections:
            self._connections.remove(connection)
        connection.close()
        self.counts["disconnects"] += 1
        client = self.clients.find(connection.peer)
        if client is not None and client.stream is connection:
            self.clients.remove(client)

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
            self._handle(self._scheduled_client(peer), group)
        sleep = self.handler.round(time.monotonic())
        self._send()
        if self._schedule:
            sleep = min(sleep, max(0.0, self._schedule[0][0] - time.time()))
        if any(c.queue and (c.stream is None or c.stream.wants()) for c in self.clients):
            sleep = 0.0
        return min(max(sleep, 0.0), IDLE_S)

    def _scheduled_client(self, peer: Peer) -> Client:
        """Who a due bundle came from.  A TCP peer that hung up since still gets its sets applied,
        but its replies have nowhere to go: a stand-in client, not registered, takes them."""
        client = self.clients.find(peer)
        if client is not None:
            return client
        if peer[0].startswith(TCP_PREFIX):
            return Client(peer, time.monotonic())
        return self.clients.get(peer)

    def _send(self) -> None:
        assert self._sock is not None
        for client in self.clients:
            if client.stream is not None:
                self._send_stream(client, client.stream)
                continue
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

    def _send_stream(self, client: Client, connection: Connection) -> None:
        """Frame the client's replies onto its connection while the kernel keeps up; a peer that
        does not read loses its oldest replies in the queue, as a UDP peer does."""
        queue = client.queue
        while queue and connection.wants():
            connection.queue(queue.popleft())
            client.sent += 1
            self.counts["sent"] += 1
        connection.flush()
        if connection.closed and connection in self._connections:
            self._hang_up(connection)

    # -- helpers for the handler (I/O thread) ---------------------------------------------------------
    def error(self, client: Client, address: str, reason: str) -> None:
        """``/mixhost/error <address> <reason>`` to the client."""
        client.reply(encode("/mixhost/error", address, reason))
