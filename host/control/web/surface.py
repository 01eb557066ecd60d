"""The browser mixer as a control surface: messages in, coalesced state and meters out.

:class:`WebSurface` is one more :class:`~host.control.surface.Surface`.  Its
web server (:mod:`.server`) runs in a thread of its own; everything below
runs on that thread's loop, except :meth:`WebSurface.receive`, which any
thread calls and which only records values and wakes the loop.

* In: each message (:mod:`.protocol`) is checked, then set through the
  registry with the page's own source (``web:<n>``), recorded as what that
  page shows (no echo), or passed to the engine (touch, transport), the
  selection or the snapshots.  A bad message gets an ``error`` back, is
  counted, and never raises.
* Out: on a change, every page's feedback is offered the value and the loop
  wakes; the flush sends each page what is due as one ``values`` message.
  Meters (post-fader peak and RMS of every strip, the master's short-term
  loudness) go at most ``METER_HZ`` times a second to each page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from typing import Any

from ...errors import MixhostError, ParameterError
from ...registry import Change
from ..feedback import MIN_INTERVAL_S
from ..meters import MeterReader
from ..surface import SurfaceContext
from . import protocol
from .access import Access
from .client import QUEUE_LIMIT, Client
from .layout import layout, state
from .server import WebServer

log = logging.getLogger(__name__)

METER_HZ = 30.0
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class WebSurface:
    """A mixer page served to any browser (see the module docstring)."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, allow: tuple[str, ...] = (),
                 token: str | None = None, name: str = "web", queue_limit: int = QUEUE_LIMIT,
                 meter_hz: float = METER_HZ) -> None:
        self.name = name
        self.access = Access(host, allow, token)
        self.server = WebServer(host, port, self.access, self)
        self.queue_limit = queue_limit
        self.meter_interval_s = 1.0 / meter_hz
        self.clients: dict[int, Client] = {}
        self.context: SurfaceContext | None = None
        self.errors: dict[str, int] = {}          # bad messages by kind, all pages together
        self.dropped = 0                          # pages dropped for falling behind
        self.connections = 0
        self.flush_errors = 0
        self.scheduling = "normal priority"       # what the server's thread runs at, in words
        self._changed: dict[str, float] = {}      # registry changes not yet offered to the pages
        self._changed_lock = threading.Lock()
        self._meters: MeterReader | None = None
        self._wake: asyncio.Event | None = None
        self._wake_asked = False
        self._remove_selection: Any = None

    # -- life cycle (control thread) ------------------------------------------------------------------
    def open(self, context: SurfaceContext) -> None:
        self.context = context
        self._meters = context.meter_reader()
        self._remove_selection = context.selection.observe(self._selected)
        try:
            self.server.start()
        except BaseException:
            self._detach()
            raise
        # its loop holds the GIL the audio callback needs: under a realtime server, realtime too
        self.scheduling = context.helper_thread(self.server.native_id)

    def close(self) -> None:
        self.server.stop()
        self._detach()

    def _detach(self) -> None:
        if self._remove_selection is not None:
            self._remove_selection()
            self._remove_selection = None

    def poll(self) -> None:
        """Nothing to do from the control loop: the server's thread does its own housekeeping."""

    @property
    def url(self) -> str:
        return self.server.url

    def describe(self) -> str:
        return f"browser mixer at {self.url}"

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    # -- registry side (any thread) -------------------------------------------------------------------
    def receive(self, change: Change) -> None:
        # One store whatever the number of pages: the caller's thread (an API script, another
        # surface, the control loop) may run at normal priority, and a busy machine can preempt
        # it while it holds the GIL the audio callback waits for.  The server's loop offers it
        # to each page (``_offer``).
        with self._changed_lock:
            self._changed[change.address] = change.value
        self._wake_up()

    def _offer(self) -> None:
        with self._changed_lock:
            changed, self._changed = self._changed, {}
        for client in list(self.clients.values()):
            for address, value in changed.items():
                client.feedback.offer(address, value)

    def _wake_up(self) -> None:
        loop, wake = self.server.loop, self._wake
        if wake is None or loop is None or self._wake_asked:
            return
        self._wake_asked = True
        with contextlib.suppress(RuntimeError):   # the loop closed meanwhile
            loop.call_soon_threadsafe(wake.set)

    def _selected(self, strip: str, source: str) -> None:
        loop = self.server.loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._broadcast, protocol.encode("selected", strip=strip, source=source))

    # -- the server's loop -------------------------------------------------------------------------
    def connected(self, socket: Any, peer: str, transport: Any) -> Client:
        assert self.context is not None
        self.connections += 1
        client = Client(self.connections, socket, peer, transport, self.queue_limit)
        self.clients[client.number] = client     # from here on it is offered every change
        context = self.context
        page = layout(context.session, context.selection.current, context.snapshots.names(), context.engine)
        registry = context.registry
        for address in page["params"]:
            client.feedback.moved(address, float(registry.values[registry.param(address).slot]))
        page["source"] = client.source
        page["meter_hz"] = 1.0 / self.meter_interval_s
        client.start()
        client.send(protocol.encode("layout", **page))
        log.info("browser %s connected from %s", client.source, peer)
        self._wake_up()
        return client

    def disconnected(self, client: Client) -> None:
        self.clients.pop(client.number, None)
        client.ended()
        if client.dropped:
            self.dropped += 1
        assert self.context is not None
        for address in list(client.held):   # a page gone mid-drag lets go
            self._release(client, address)

    def message(self, client: Client, text: str) -> None:
        """One message from a page: done, or an ``error`` back to it; never raises."""
        address = None
        try:
            message = protocol.decode(text)
            address = message.get("address")
            getattr(self, f"_on_{message.type}")(client, message)
        except protocol.ProtocolError as error:
            self._refuse(client, error.code, str(error), address)
        except ParameterError as error:
            self._refuse(client, self._param_code(address), str(error), address)
        except MixhostError as error:
            self._refuse(client, "refused", str(error), address)
        except Exception as error:  # noqa: BLE001 - a page must not stop the server
            log.warning("browser %s: message %r failed", client.source, text[:200], exc_info=True)
            self._refuse(client, "internal", f"{type(error).__name__}: {error}", address)

    def _param_code(self, address: str | None) -> str:
        assert self.context is not None
        registry = self.context.registry
        if address is None:
            return "refused"
        if address not in registry:
            return "unknown_address"
        return "read_only" if registry.param(address).spec.read_only else "out_of_range"

    def _refuse(self, client: Client, code: str, text: str, address: str | None) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1
        client.errors += 1
        if address is not None:
            client.feedback.refused(address)      # what the page shows is wrong: the stored value goes back
            self._wake_up()
        client.send(protocol.encode("error", code=code, message=text, address=address, count=client.errors))

    def _on_set(self, client: Client, message: protocol.Message) -> None:
        assert self.context is not None
        registry = self.context.registry
        address = message["address"]
        param = registry.param(address)
        stored = param.parse(message["value"])
        self._set(client, address, stored, lambda: registry.set(address, message["value"], client.source))

    def _on_set_norm(self, client: Client, message: protocol.Message) -> None:
        assert self.context is not None
        registry = self.context.registry
        address = message["address"]
        stored = registry.position_value(registry.param(address), message["value"])
        self._set(client, address, stored,
                  lambda: registry.set_normalized(address, message["value"], client.source))

    def _set(self, client: Client, address: str, stored: float, setter: Any) -> None:
        client.feedback.moved(address, stored)
        setter()
        client.shown[address] = stored
        self._wake_up()

    def _on_touch(self, client: Client, message: protocol.Message) -> None:
        assert self.context is not None
        address = message["address"]
        self.context.registry.param(address)
        client.feedback.hold(address)
        client.held.add(address)
        if not address.startswith("transport/"):
            self.context.touch(address, True, client.source)

    def _on_release(self, client: Client, message: protocol.Message) -> None:
        assert self.context is not None
        address = message["address"]
        self.context.registry.param(address)
        self._release(client, address)

    def _release(self, client: Client, address: str) -> None:
        assert self.context is not None
        client.feedback.release(address)
        client.held.discard(address)
        if not address.startswith("transport/"):
            self.context.touch(address, False, client.source)
        self._wake_up()

    def _on_select(self, client: Client, message: protocol.Message) -> None:
        assert self.context is not None
        self.context.selection.select(message["strip"], client.source)

    def _on_transport(self, client: Client, message: protocol.Message) -> None:
        assert self.context is not None
        if self.context.engine is None:
            raise protocol.ProtocolError("no transport: nothing is playing", "no_engine")
        self.context.transport(message["command"], message.get("value"), client.source)

    def _on_snapshot(self, client: Client, message: protocol.Message) -> None:
        assert self.context is not None
        snapshots = self.context.snapshots
        if message["action"] == "save":
            snapshots.save(message["name"])
            self._broadcast(protocol.encode("snapshots", names=snapshots.names()))
        else:
            snapshots.recall(message["name"], client.source, float(message.get("fade_s", 0.0)))

    def _on_save(self, client: Client, message: protocol.Message) -> None:
        assert self.context is not None
        self.context.save_requested.set()

    def _broadcast(self, text: str) -> None:
        for client in list(self.clients.values()):
            client.send(text)

    async def run(self) -> None:
        """The flush loop: values when woken (or due), meters at their rate."""
        self._wake = asyncio.Event()
        next_meter = time.monotonic()
        retry = math.inf
        while True:
            now = time.monotonic()
            timeout = max(0.0, min(next_meter, retry) - now)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            self._wake_asked = False
            now = time.monotonic()
            try:
                self._offer()
                retry = now + MIN_INTERVAL_S if self._flush(now) else math.inf
                if now >= next_meter:
                    next_meter = now + self.meter_interval_s
                    self._send_meters()
            except Exception:  # noqa: BLE001 - the pages must go on being served
                self.flush_errors += 1
                log.warning("browser mixer: a flush failed", exc_info=True)

    def _flush(self, now: float) -> bool:
        """Each page's due values; True when some wait for their interval.

        Pages due the same values (all but the one moving a control, usually) get one
        encoded message: the JSON is built once per flush, not once per page.
        """
        assert self.context is not None
        registry = self.context.registry
        waiting = False
        encoded: dict[tuple[tuple[Any, float], ...], str] = {}
        for client in list(self.clients.values()):
            due = tuple(client.feedback.due(now))
            if due:
                text = encoded.get(due)
                if text is None:
                    values = {str(key): state(registry.param(str(key)), value) for key, value in due}
                    text = encoded[due] = protocol.encode("values", values=values)
                client.send(text)
            if client.shown:
                shown, client.shown = client.shown, {}
                client.send(protocol.encode("shown", values={a: state(registry.param(a), v)
                                                             for a, v in shown.items()}))
            waiting = waiting or client.feedback.pending() > 0
        return waiting

    def _send_meters(self) -> None:
        if not self.clients or self._meters is None:
            return
        levels = self._meters.read()
        strips = {address: [round(level.peak_db[0], 1), round(level.peak_db[1], 1),
                            round(level.rms_db[0], 1), round(level.rms_db[1], 1)]
                  for address, level in levels.items()}
        lufs = self._meters.short_term_lufs()   # the engine's own meter (EBU R128 "S"), as OSC sends it
        lufs_s = round(lufs, 1) if math.isfinite(lufs) else None
        text = protocol.encode("meters", strips=strips, lufs_s=lufs_s)
        for client in list(self.clients.values()):
            client.send(text, meters=True)

    async def stopping(self) -> None:
        await asyncio.gather(*(client.close() for client in list(self.clients.values())),
                             return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        """What a benchmark or a test reads: per page what was sent and skipped, errors, drops."""
        return {"errors": dict(self.errors), "dropped": self.dropped, "connections": self.connections,
                "clients": {c.source: {"sent": c.sent, "queued": c.queue.qsize(), "meters_skipped": c.meters_skipped,
                                       "errors": c.errors} for c in self.clients.values()}}

