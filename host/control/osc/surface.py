"""The OSC surface: the registry as an OSC address space, for tablets and scripts.

What each message means is here; the socket, the I/O thread and the
schedule are :mod:`.server`'s, the peers :mod:`.client`'s.  The address
conventions are in the package docstring (:mod:`host.control.osc`).

Sets go through :meth:`Registry.set_many` with the source
``osc:<host>:<port>``: one message (a pattern may match many parameters) or
one bundle lands in one block.  Every value is checked first; a refused one
gets ``/mixhost/error`` and the value the parameter really has, on the path
it was sent to (a correction), and the others still land.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ... import scales
from ...errors import MixhostError, ParameterError, UserInputError
from ...registry import Change, Parameter, Registry
from ...suggest import did_you_mean
from ..meters import Level, MeterReader
from ..selection import PREFIX as SELECTED
from ..surface import SurfaceContext
from .address import Matcher, PatternError, is_pattern
from .client import SUBSCRIBE_TIMEOUT_S, Client
from .packet import Group, bundle, encode, pack
from .server import OscServer

log = logging.getLogger(__name__)

SUFFIXES = ("norm", "text", "toggle", "touch")
DATAGRAM_LIMIT = 1400        # feedback bundles fit an Ethernet/Wi-Fi frame: no IP fragments to lose
LIST_PAGE = 16               # parameters per /mixhost/list page (one bundle each)
TEXT_WIDTH = 12              # characters of a /text display
METER_HZ = 20.0
EXPIRE_EVERY_S = 1.0
SNAPSHOT_NAME = 64           # characters at most in a snapshot name

Key = tuple[str, str, str]   # (OSC path without form, form, registry address)


class Refused(Exception):
    """A message refused: its counter and the reason sent back in ``/mixhost/error``."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class OscSurface:
    """OSC over UDP (and TCP on the same port) inside ``mixhost live`` (see the module docstring)."""

    def __init__(self, *, name: str = "osc", bind: str = "127.0.0.1", port: int = 9000,
                 allow: Sequence[str] = (), zeroconf: bool = True, meter_hz: float = METER_HZ,
                 subscribe_timeout_s: float = SUBSCRIBE_TIMEOUT_S) -> None:
        self.name = name
        self.bind = bind
        self.zeroconf = zeroconf
        self.meter_hz = meter_hz
        self.subscribe_timeout_s = subscribe_timeout_s
        self.server = OscServer(self, bind, port, list(allow))
        self.context: SurfaceContext | None = None
        self.matcher = Matcher()
        self.meters: MeterReader | None = None
        self._params: dict[str, Parameter] = {}
        self._addresses: list[str] = []
        self._heard: dict[str, float] = {}
        self._selected_strip = ""
        self._selection_moved = threading.Event()
        self._next_meter = 0.0
        self._next_expire = 0.0
        self._remove_selection: Callable[[], None] | None = None
        self._advert: Any = None
        self.scheduling = "normal priority"   # what the I/O thread runs at, in words

    @property
    def counts(self) -> Any:
        return self.server.counts

    @property
    def port(self) -> int:
        return self.server.port

    # -- life cycle (control thread) ---------------------------------------------------------------
    def open(self, context: SurfaceContext) -> None:
        self.context = context
        self._params = {p.address: p for p in context.registry}
        self._addresses = list(self._params)
        self._selected_strip = context.selection.current
        self._remove_selection = context.selection.observe(self._selected)
        self.meters = context.meter_reader()
        try:
            self.server.start()
        except OSError as error:
            raise UserInputError(f"OSC: cannot listen on udp {self.bind}:{self.server.port}: {error.strerror}",
                                 hint="choose another --osc-port, or stop what uses this one") from None
        # its thread holds the GIL the audio callback needs: under a realtime server, realtime too
        self.scheduling = context.helper_thread(self.server.native_id)
        self._advertise(context)

    def _advertise(self, context: SurfaceContext) -> None:
        """Zeroconf ``_osc._udp`` (nothing on loopback: the advertiser returns None)."""
        if not self.zeroconf:
            return
        from .zeroconf import advertise

        try:
            self._advert = advertise(context.session.title, self.bind, self.server.port)
        except ImportError:
            log.warning("OSC: zeroconf is not installed (pip install 'mixhost[osc]'); "
                        "tablets must be given the address")
        except Exception:  # noqa: BLE001 - discovery is a convenience; the server works without it
            log.warning("OSC: zeroconf advertisement failed; tablets must be given the address",
                        exc_info=log.isEnabledFor(logging.DEBUG))

    def close(self) -> None:
        if self._advert is not None:
            self._advert.close()
            self._advert = None
        if self._remove_selection is not None:
            self._remove_selection()
            self._remove_selection = None
        self.server.close()

    def poll(self) -> None:
        """Nothing to do from the control loop: the I/O thread keeps its own time."""

    def describe(self) -> str:
        nets = ", ".join(str(n) for n in self.server.allow.networks)
        tcp = "tcp too; " if self.server.tcp else ""
        return f"OSC surface on udp {self.bind}:{self.server.port} ({tcp}peers from {nets})"

    # -- registry side (any thread) -------------------------------------------------------------------
    def receive(self, change: Change) -> None:
        self._heard[change.address] = change.value
        offered = False
        for client in self.server.clients.subscribers:
            if client.follows(change.address):
                for key in self._keys(client, change.address):
                    client.feedback.offer(key, change.value)
                offered = True
        if offered:
            self.server.wake()

    def _keys(self, client: Client, address: str) -> list[Key]:
        """The controls of ``client`` that show the parameter ``address``."""
        keys = [("/" + address, form, address) for form in client.forms]
        strip = self._selected_strip
        if strip and address.startswith(strip + "/"):
            path = "/" + SELECTED + address[len(strip) + 1:]
            keys += [(path, form, address) for form in client.forms]
        return keys

    def _selected(self, strip: str, source: str) -> None:
        self._selected_strip = strip
        self._selection_moved.set()
        self.server.wake()

    def current(self, param: Parameter) -> float:
        """The value as last heard: a set made a moment ago counts before the engine applies it."""
        heard = self._heard.get(param.address)
        if heard is not None:
            return heard
        assert self.context is not None
        return float(self.context.registry.values[param.slot])

    # -- input (the I/O thread) -----------------------------------------------------------------------
    def handle(self, client: Client, group: Group) -> None:
        sets: list[tuple[Parameter, float, str, str]] = []     # param, stored value, OSC path, form
        later: list[Callable[[], None]] = []
        for message in group.messages:
            try:
                self._message(client, message.address, list(message.params), sets, later)
            except Refused as refused:
                self.counts[refused.kind] += 1
                self.server.logged.warning(refused.kind, "%s from %s: %s", message.address, client.peer[0], refused)
                self.server.error(client, message.address, str(refused))
        if sets:
            self._apply(client, sets)
        for action in later:
            try:
                action()
            except MixhostError as error:     # a touch on a transport parameter, say
                self.counts["refused"] += 1
                self.server.error(client, "", str(error))

    def refused(self, client: Client, kind: str, reason: str) -> None:
        self.server.error(client, "", reason)

    def _message(self, client: Client, address: str, args: list[Any],
                 sets: list[tuple[Parameter, float, str, str]], later: list[Callable[[], None]]) -> None:
        if address.startswith("/mixhost/"):
            command = address[len("/mixhost/"):]
            later.append(lambda: self._command_guarded(client, command, args))
            return
        if address.startswith("/meters/"):
            raise Refused("unknown_address", "meters are sent to subscribers: /mixhost/subscribe PORT meters")
        params, form, paths = self._resolve(address)
        if not args and form not in ("toggle",):
            later.append(lambda: self._query(client, params, form, paths))
            return
        for param, path in zip(params, paths, strict=True):
            try:
                value = self._value(param, form, args)
            except Refused as refused:
                self.counts[refused.kind] += 1
                self.server.error(client, _form_path(path, form), str(refused))
                self._correct(client, param, path, form)
                continue
            if form == "touch":
                later.append(self._toucher(client, param, value >= 0.5))
            else:
                sets.append((param, value, path, form))

    def _toucher(self, client: Client, param: Parameter, touched: bool) -> Callable[[], None]:
        """``/<addr>/touch 1|0``: a hand on the control or off it (automation touch and latch modes)."""
        def touch() -> None:
            assert self.context is not None
            self.context.touch(param.address, touched, client.source)
        return touch

    def _resolve(self, address: str) -> tuple[list[Parameter], str, list[str]]:
        """Parameters an address (or pattern) names, the form (value, norm, text...) and their OSC paths."""
        target = address[1:]
        selected = target.startswith(SELECTED)
        strip = self._selected_strip
        if selected:
            if not strip:
                raise Refused("unknown_address", "no strip is selected")
            target = f"{strip}/{target[len(SELECTED):]}"
        try:
            form = "value"
            params = self._lookup(target)
            if not params:
                head, _, last = target.rpartition("/")
                if last in SUFFIXES and head:
                    params, form = self._lookup(head), last
        except PatternError as error:
            raise Refused("bad_pattern", f"bad address pattern: {error}") from None
        if not params:
            raise Refused("unknown_address", f"no parameter at {address}; "
                          f"{did_you_mean(target, self._addresses)}; /mixhost/list lists them")
        if selected:
            paths = ["/" + SELECTED + p.address[len(strip) + 1:] for p in params]
        else:
            paths = ["/" + p.address for p in params]
        return params, form, paths

    def _lookup(self, target: str) -> list[Parameter]:
        param = self._params.get(target)
        if param is not None:
            return [param]
        if is_pattern(target):
            return [self._params[a] for a in self.matcher.match(target, self._addresses)]
        return []

    def _value(self, param: Parameter, form: str, args: list[Any]) -> float:
        """The stored value a set asks for, or :class:`Refused` (never clamped)."""
        spec = param.spec
        if form == "text":
            raise Refused("read_only", "/text is a display; set the value or /norm")
        if spec.read_only:
            raise Refused("read_only", f"read-only: {spec.doc or 'the engine reports it'}")
        if form == "toggle":
            if not spec.is_boolean:
                raise Refused("wrong_type", f"/toggle is for on/off parameters; this one is {spec.kind}")
            if args and not _truthy(args[0]):
                raise Refused("ignored", "a /toggle release (0) changes nothing")
            return 0.0 if self.current(param) >= 0.5 else 1.0
        if len(args) != 1:
            raise Refused("wrong_type", f"a set takes one argument, got {len(args)}")
        arg = args[0]
        if isinstance(arg, float) and not math.isfinite(arg):
            raise Refused("non_finite", f"{arg} is not a finite number")
        if form == "norm" or form == "touch":
            if isinstance(arg, str) or not isinstance(arg, (int, float)):
                raise Refused("wrong_type", f"expected a number 0..1, got {type(arg).__name__}")
            if form == "touch":
                return float(bool(arg))
            if not 0.0 <= float(arg) <= 1.0:
                raise Refused("out_of_range", f"position {arg:g} is out of range; use 0..1")
            return Registry.position_value(param, float(arg))
        if isinstance(arg, str) and not spec.choices:
            raise Refused("wrong_type", f"expected a number ({spec.describe_range()}), got a string")
        if not isinstance(arg, (str, int, float)):
            raise Refused("wrong_type", f"expected {spec.describe_range()}, got {type(arg).__name__}")
        if isinstance(arg, bool) and not spec.choices:
            arg = float(arg)
        try:
            return param.parse(arg)
        except ParameterError as error:
            raise Refused("out_of_range", str(error)) from None

    def _apply(self, client: Client, sets: list[tuple[Parameter, float, str, str]]) -> None:
        """Every checked set of a message or bundle in one :meth:`Registry.set_many`; no echo."""
        assert self.context is not None
        try:
            self.context.registry.set_many([(p.address, v) for p, v, _, _ in sets], client.source)
        except ParameterError as error:   # checked before; a race with a read-only switch, say
            self.counts["refused"] += 1
            for param, _, path, form in sets:
                self.server.error(client, _form_path(path, form), str(error))
                self._correct(client, param, path, form)
            return
        self.counts["applied"] += len(sets)
        if client.subscribed:
            for param, value, _, _ in sets:
                for key in self._keys(client, param.address):
                    if key[1] != "text":         # a display follows the sender's moves too
                        client.feedback.moved(key, value)

    def _correct(self, client: Client, param: Parameter, path: str, form: str) -> None:
        """Send the value the parameter has, on the path a refused set came to."""
        if form in ("value", "norm"):
            client.reply(self._render((path, form, param.address), self.current(param)))

    def _query(self, client: Client, params: list[Parameter], form: str, paths: list[str]) -> None:
        form = "value" if form in ("toggle", "touch") else form
        messages = [self._render((path, form, p.address), self.current(p)) for p, path in zip(params, paths, strict=True)]
        for datagram in pack(messages, DATAGRAM_LIMIT):
            client.reply(datagram)

    def _render(self, key: Key, value: float) -> bytes:
        path, form, address = key
        param = self._params[address]
        spec = param.spec
        if form == "norm":
            return encode(path + "/norm", float(scales.to_normalized(value, spec.min, spec.max, spec.scale)))
        if form == "text":
            return encode(path + "/text", param.display(value, TEXT_WIDTH))
        if spec.choices:
            return encode(path, int(round(value)))
        return encode(path, float(value))

    # -- /mixhost/... commands (the I/O thread) -----------------------------------------------------
    def _command_guarded(self, client: Client, command: str, args: list[Any]) -> None:
        try:
            self._command(client, command, args)
        except Refused as refused:
            self.counts[refused.kind] += 1
            self.server.error(client, "/mixhost/" + command, str(refused))
        except MixhostError as error:
            self.counts["refused"] += 1
            self.server.error(client, "/mixhost/" + command, str(error))

    def _command(self, client: Client, command: str, args: list[Any]) -> None:
        assert self.context is not None
        context = self.context
        if command == "panic":
            context.transport("panic", source=client.source)
        elif command == "resume":    # resume waits for the audio thread: not in the I/O thread
            threading.Thread(target=context.transport, args=("resume", None, client.source),
                             name="mixhost-osc-resume", daemon=True).start()
        elif command == "select":
            strip = _text(args, 0, "a track name or strip address")
            address = context.selection.select(strip, client.source)
            client.reply(encode("/mixhost/selected", "/" + address))
        elif command == "snapshot/save":
            name = _name(args)
            context.snapshots.save(name)
            client.reply(encode("/mixhost/snapshot/saved", name))
        elif command == "snapshot/recall":
            name = _name(args)
            fade = _number(args, 1, 0.0)
            if not 0.0 <= fade <= 3600.0:
                raise Refused("out_of_range", f"fade {fade:g} s is out of range; use 0..3600")
            context.snapshots.recall(name, client.source, fade)
        elif command == "snapshot/list":
            client.reply(encode("/mixhost/snapshot/names", *context.snapshots.names()))
        elif command == "save":
            context.save_requested.set()
        elif command == "list":
            self._list(client, args)
        elif command in ("subscribe", "heartbeat", "renew"):
            self._subscribe(client, command, args)
        elif command == "unsubscribe":
            self.server.clients.remove(client)
            client.reply(encode("/mixhost/unsubscribed"))
        elif command == "ping":
            client.reply(encode("/mixhost/pong", *[a for a in args[:1] if isinstance(a, (int, float, str))]))
        elif command == "stats":
            client.reply(encode("/mixhost/stats", *[x for kv in sorted(self.counts.items()) for x in kv]))
        else:
            raise Refused("unknown_address", f"no command /mixhost/{command}; "
                          f"{did_you_mean(command, COMMANDS)}")

    def _subscribe(self, client: Client, command: str, args: list[Any]) -> None:
        clients = self.server.clients
        if command != "subscribe":
            if not client.subscribed:
                raise Refused("not_subscribed", "subscribe first: /mixhost/subscribe [PORT] [WHAT...]")
            client.reply(encode("/mixhost/subscribed", client.reply_to[1], float(self.subscribe_timeout_s)))
            return
        port = None
        words: list[str] = []
        for arg in args:
            if isinstance(arg, (int, float)) and not isinstance(arg, bool) and port is None and not words:
                if not (float(arg).is_integer() and 0 < arg < 65536):
                    raise Refused("out_of_range", f"port {arg} is out of range; use 1..65535")
                port = int(arg)
            elif isinstance(arg, str):
                words += [w for w in arg.replace(",", " ").split() if w]
            else:
                raise Refused("wrong_type", "/mixhost/subscribe [PORT] [WHAT...]: a port, then words")
        unknown = [w for w in words if not w.startswith("/") and w not in (*WHAT, "all")]
        if unknown:
            raise Refused("wrong_type", f"unknown subscription {unknown[0]!r}; use {', '.join(WHAT)}, all "
                          "or an address prefix such as /tracks/vox")
        if client.subscribed and client.asked == (port, tuple(words)):
            # the same subscription again is a renewal (a tablet re-subscribing on a timer): no redraw
            client.heard_at = time.monotonic()
            client.reply(encode("/mixhost/subscribed", client.reply_to[1], float(self.subscribe_timeout_s)))
            return
        client.subscribe(port, words, time.monotonic())
        clients.changed()
        client.reply(encode("/mixhost/subscribed", client.reply_to[1], float(self.subscribe_timeout_s)))
        for param in self._params.values():      # the current state of every control it follows
            if client.follows(param.address):
                for key in self._keys(client, param.address):
                    client.feedback.offer(key, self.current(param))

    def _list(self, client: Client, args: list[Any]) -> None:
        """Every address (under a prefix): ``begin``, pages of items in bundles, ``end``.

        Pages are numbered: a client that missed one asks ``/mixhost/list PREFIX PAGE``.
        """
        prefix = _text(args, 0, "an address prefix") if args else ""
        page_wanted = int(_number(args, 1, -1))
        chosen = [p for p in self._params.values() if ("/" + p.address).startswith(prefix or "/")]
        pages = max(1, math.ceil(len(chosen) / LIST_PAGE))
        if page_wanted >= pages:
            raise Refused("out_of_range", f"page {page_wanted} of {pages}")
        if page_wanted < 0:
            client.reply(encode("/mixhost/list/begin", prefix, len(chosen), pages))
        for page in range(pages):
            if page_wanted >= 0 and page != page_wanted:
                continue
            items = [encode("/mixhost/list/page", prefix, page, pages)]
            items += [self._item(p) for p in chosen[page * LIST_PAGE:(page + 1) * LIST_PAGE]]
            client.reply(bundle(items))
        if page_wanted < 0:
            client.reply(encode("/mixhost/list/end", prefix, len(chosen), pages))

    def _item(self, param: Parameter) -> bytes:
        spec = param.spec
        value = self.current(param)
        return encode("/mixhost/list/item", "/" + param.address, spec.kind, spec.unit, spec.scale,
                      float(spec.min), float(spec.max), int(spec.read_only), float(value),
                      param.display(value, TEXT_WIDTH), ",".join(spec.choices))

    # -- each round of the I/O thread --------------------------------------------------------------
    def round(self, now: float) -> float:
        clients = self.server.clients
        if self._selection_moved.is_set():
            self._selection_moved.clear()
            self._redraw_selected()
        if now >= self._next_expire:
            self._next_expire = now + EXPIRE_EVERY_S
            for gone in clients.expire(now, self.subscribe_timeout_s):
                self.counts["subscriber_timeout"] += 1
                log.info("OSC: %s stopped renewing; dropped", gone.source)
        sleep = 1.0
        if self.meters is not None and self.meter_hz > 0:
            if now >= self._next_meter:
                self._next_meter = now + 1.0 / self.meter_hz
                self._send_meters()
            sleep = self._next_meter - now
        for client in clients.subscribers:
            due = client.feedback.due(now)
            if due:
                messages = [self._render(key, value) for key, value in due]   # type: ignore[arg-type]
                for datagram in pack(messages, DATAGRAM_LIMIT):
                    client.reply(datagram)
            if client.feedback.pending():
                sleep = min(sleep, client.feedback.min_interval_s / 4)
        return sleep

    def _redraw_selected(self) -> None:
        strip = self._selected_strip
        for client in self.server.clients.subscribers:
            client.reply(encode("/mixhost/selected", "/" + strip))
            for address, param in self._params.items():
                if address.startswith(strip + "/") and client.follows(address):
                    for key in self._keys(client, address):
                        if key[0].startswith("/" + SELECTED):
                            client.feedback.offer(key, self.current(param))

    def _send_meters(self) -> None:
        listeners = [c for c in self.server.clients.subscribers if c.meters]
        assert self.meters is not None
        levels = self.meters.read()      # read even with no listener: the next one starts fresh
        if not listeners:
            return
        datagrams = pack(self._meter_messages(levels, self.meters.short_term_lufs()), DATAGRAM_LIMIT)
        for client in listeners:
            for datagram in datagrams:
                client.reply(datagram)

    @staticmethod
    def _meter_messages(levels: dict[str, Level], lufs: float) -> list[bytes]:
        """Each strip's ``/meters/<strip> peak rms`` (the master's with its short-term LUFS third)
        and the one-number forms ``/meters/<strip>/peak``, ``/rms`` and ``/meters/master/lufs``
        for a plain widget (the package docstring has the conventions)."""
        messages = []
        for address, level in levels.items():
            path = "/meters/" + address
            peak, rms = max(level.peak_db), max(level.rms_db)
            args = [peak, rms, lufs] if address == "master" else [peak, rms]
            messages.append(encode(path, *args))
            messages.append(encode(path + "/peak", peak))
            messages.append(encode(path + "/rms", rms))
            if address == "master":
                messages.append(encode(path + "/lufs", lufs))
        return messages


COMMANDS = ("panic", "resume", "select", "snapshot/save", "snapshot/recall", "snapshot/list", "save", "list",
            "subscribe", "heartbeat", "renew", "unsubscribe", "ping", "stats")
WHAT = ("value", "norm", "text", "meters")


def _form_path(path: str, form: str) -> str:
    return path if form == "value" else f"{path}/{form}"


def _truthy(arg: Any) -> bool:
    return bool(arg) if isinstance(arg, (bool, int, float)) else str(arg).lower() in ("1", "true", "on", "yes")


def _text(args: list[Any], index: int, what: str) -> str:
    if len(args) <= index or not isinstance(args[index], str):
        raise Refused("wrong_type", f"argument {index + 1}: expected {what} (a string)")
    return str(args[index])


def _number(args: list[Any], index: int, default: float) -> float:
    if len(args) <= index:
        return default
    arg = args[index]
    if isinstance(arg, bool) or not isinstance(arg, (int, float)) or not math.isfinite(arg):
        raise Refused("wrong_type", f"argument {index + 1}: expected a finite number")
    return float(arg)


def _name(args: list[Any]) -> str:
    name = _text(args, 0, "a snapshot name").strip()
    if not name or len(name) > SNAPSHOT_NAME or not name.isprintable():
        raise Refused("out_of_range", f"a snapshot name is 1..{SNAPSHOT_NAME} printable characters")
    return name
