"""A MIDI control surface: its ports, its I/O thread, its feedback and its output pacing.

What the controls mean is the handler's: :class:`~host.control.midi.mapped.MappedControls`
(map files) or :class:`~host.control.midi.mcu.MackieControl`.  The surface

* reads input in its own thread (``mixhost-midi``), about every ``IDLE_S``:
  rtmidi's compiled JACK callback has queued it, so no Python ever runs in
  JACK's process thread.  Every message is decoded (bad input counted, see
  :mod:`.messages`) and handed to the handler; nothing the handler raises
  leaves the thread;
* sets values with :meth:`set`: one :meth:`Registry.set_many` with the source
  ``midi:<name>``, recorded as what the control shows, so it is not echoed;
  a refused set sends the stored value back;
* with the live engine on JACK (not ``--ahead``), the input port (``--midi-in``)
  is a port on the engine's own client (:class:`~.ports.EngineInput`): the
  engine applies the handler's plain controls (``engine_routes``) at the start
  of the block of the cycle that delivers them, and the surface reads every
  event after it, marked when the engine applied it; for those, :meth:`set`
  only tells the observers (:meth:`Registry.announce`), so feedback, the
  document and the other surfaces follow as before;
* in the same thread, renders what :class:`~host.control.feedback.Feedback`
  says is due, plus the handler's periodic output (meters, displays), and
  sends it paced (:class:`Pacer`): a JACK MIDI port carries only so much per
  period, and a burst beyond it is dropped silently;
* :meth:`poll` (the live control loop) notices a vanished port, reports it,
  and reconnects when it returns, redrawing the controls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ...errors import ParameterError, UserInputError
from ...registry import Change, Parameter, ValueLike
from ..feedback import Feedback
from ..surface import SurfaceContext
from .messages import InputCounts, Message, decode
from .ports import CLIENT_PREFIX, EngineInput, MidiInput, MidiOutput

if TYPE_CHECKING:
    from .learn import Learner

log = logging.getLogger(__name__)

IDLE_S = 0.0005          # the I/O thread's sleep between rounds
CHECK_S = 0.5            # how often poll() looks for vanished or returned ports
SETTLE_S = (0.25, 1.0)   # a new JACK connection is made at the server's next graph change: what goes
                         # out before may be lost, so a redraw is repeated these long after a connect
PERIOD_S = 128 / 48000   # pacing tick: one period of 128 frames at 48 kHz
BYTES_PER_TICK = 1024    # ... and what may go out in it: well under JACK's ~700 three-byte messages
EVENTS_PER_TICK = 256


class Handler(Protocol):
    """What the surface's controls mean (see the module docstring)."""

    def attach(self, surface: MidiSurface) -> None: ...

    def message(self, message: Message) -> None: ...

    def sysex(self, data: list[int]) -> None: ...

    def batch_end(self) -> None: ...

    def change(self, change: Change) -> None: ...

    def render(self, key: Hashable, value: float) -> list[list[int]]: ...

    def tick(self, now: float) -> list[list[int]]: ...

    def redraw(self) -> None: ...


class Pacer:
    """Sends queued messages at most ``bytes_per_tick`` / ``events_per_tick`` per ``tick_s``."""

    def __init__(self, tick_s: float = PERIOD_S, bytes_per_tick: int = BYTES_PER_TICK,
                 events_per_tick: int = EVENTS_PER_TICK) -> None:
        self.tick_s = tick_s
        self.bytes_per_tick = bytes_per_tick
        self.events_per_tick = events_per_tick
        self.queue: deque[list[int]] = deque()
        self.sent = 0
        self.failed = 0
        self._tick_end = 0.0
        self._bytes = 0
        self._events = 0

    def pump(self, output: MidiOutput | None, now: float) -> int:
        """Send what this tick allows; returns how many went out."""
        if output is None:
            self.queue.clear()
            return 0
        if now >= self._tick_end:
            self._tick_end = now + self.tick_s
            self._bytes = self._events = 0
        count = 0
        queue = self.queue
        while queue and self._events < self.events_per_tick:
            size = len(queue[0])
            if self._bytes + size > self.bytes_per_tick and self._events:
                break
            data = queue.popleft()
            if output.send(data):
                self.sent += 1
            else:
                self.failed += 1
            self._bytes += size
            self._events += 1
            count += 1
        return count


class MidiSurface:
    """One MIDI surface: an input and/or output port pair and a handler."""

    def __init__(self, handler: Handler, *, name: str = "midi", midi_in: str | None = None,
                 midi_out: str | None = None, virtual: bool = False, api: int | None = None,
                 client: str = CLIENT_PREFIX, pacer: Pacer | None = None) -> None:
        self.handler = handler
        self.name = name
        self.source = f"midi:{name}"
        self.wanted_in = midi_in
        self.wanted_out = midi_out
        self.virtual = virtual
        self.api = api
        self.client = client
        self.pacer = pacer or Pacer()
        self.feedback = Feedback()
        self.counts = InputCounts()
        self.handler_errors = 0
        self.refused = 0
        self.notices: deque[str] = deque(maxlen=32)
        self.input: MidiInput | EngineInput | None = None
        self.output: MidiOutput | None = None
        self.context: SurfaceContext | None = None
        self.setting: Hashable | None = None      # the control whose set is being made (I/O thread)
        self._applied = False        # the event being handled was applied by the engine (I/O thread)
        self._engine_keys: frozenset[Hashable] = frozenset()   # controls the engine applies itself
        self._io_thread_id = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_check = 0.0
        self._redraw = threading.Event()
        self._heard: dict[str, float] = {}
        self._settle_at: list[float] = []
        self._learner: Learner | None = None
        self.scheduling = "normal priority"   # what the I/O thread runs at, in words

    # -- life cycle (control thread) -------------------------------------------------------------------
    def open(self, context: SurfaceContext) -> None:
        self.context = context
        try:
            if self.wanted_in is not None or self.virtual:
                self.input = self._engine_input(context) or MidiInput(self.wanted_in, virtual=self.virtual,
                                                                      api=self.api, client=self.client)
                self.input.open()
            if self.wanted_out is not None or self.virtual:
                self.output = MidiOutput(self.wanted_out, virtual=self.virtual, api=self.api, client=self.client)
                self.output.open()
        except BaseException:
            self._close_ports()
            raise
        self.handler.attach(self)
        self.reroute()
        self._redraw.set()
        self._settle_at = [time.monotonic() + delay for delay in SETTLE_S]
        self._thread = threading.Thread(target=self._run, name="mixhost-midi", daemon=True)
        self._thread.start()
        # it decodes and sets in Python, holding the GIL the audio callback needs (see
        # host.live.scheduling): under a realtime server, realtime too
        self.scheduling = context.helper_thread(self._thread.native_id)

    def _engine_input(self, context: SurfaceContext) -> EngineInput | None:
        """The input on the live engine's own JACK client, where it has one (the ``jack`` backend)
        and the handler routes controls to it: those land in the block of the cycle that
        delivers them (:mod:`host.live.midi_inlet`).  A virtual port stays rtmidi's: others
        connect to the name it has always had."""
        engine = context.engine
        if self.virtual or self.wanted_in is None or engine is None or not hasattr(self.handler, "engine_routes"):
            return None
        inlet = engine.midi_inlet(f"{self.name}_in", self.source)
        return EngineInput(self.wanted_in, inlet) if inlet is not None else None

    def reroute(self) -> None:
        """Give the engine the handler's routes again (a learnt mapping); a control thread."""
        if not isinstance(self.input, EngineInput):
            return
        routes, keys = self.handler.engine_routes()   # type: ignore[attr-defined]
        self.input.inlet.set_routes(routes)
        self._engine_keys = frozenset(keys)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._close_ports()

    def _close_ports(self) -> None:
        for port in (self.input, self.output):
            if port is not None:
                port.close()

    def poll(self) -> None:
        """Housekeeping (the live control loop): vanished and returned ports."""
        now = time.monotonic()
        if now - self._last_check < CHECK_S:
            return
        self._last_check = now
        for port in (self.input, self.output):
            if port is None:
                continue
            news = port.check()
            if news:
                self.notices.append(news)
                log.warning("%s", news)
                if port is self.output and port.connected is not None:
                    self.request_redraw()   # a device that returns shows nothing until told
                    self._settle_at = [time.monotonic() + delay for delay in SETTLE_S]

    def describe(self) -> str:
        ports = [f"{port.full_name} {'<-' if port is self.input else '->'} {port.connected or '(virtual)'}"
                 for port in (self.input, self.output) if port is not None]
        return f"MIDI surface {self.source} on " + ", ".join(ports)

    def request_redraw(self) -> None:
        """Send every control's state again (a bank switch, a reconnect): from the I/O thread."""
        self._redraw.set()

    # -- registry side (any thread) ------------------------------------------------------------------
    def receive(self, change: Change) -> None:
        self._heard[change.address] = change.value
        self.handler.change(change)

    def current(self, param: Parameter) -> float:
        """A parameter's value as last heard: a set made a moment ago counts, though the engine
        applies it only at the next block start (two encoder ticks in one burst add up)."""
        heard = self._heard.get(param.address)
        if heard is not None:
            return heard
        assert self.context is not None
        return float(self.context.registry.values[param.slot])

    def own(self, change: Change, key: Hashable) -> bool:
        """Was ``change`` made by the control ``key`` of this surface just now?"""
        return (change.source == self.source and self.setting == key
                and threading.get_ident() == self._io_thread_id)

    def applied_by_engine(self, key: Hashable) -> bool:
        """Did the engine apply the event being handled to the control ``key`` itself (the I/O
        thread)?  Then the handler's :meth:`set` for it only tells the observers."""
        return self._applied and key in self._engine_keys

    def set(self, key: Hashable, items: Sequence[tuple[str, ValueLike]], shown: float | None = None,
            applied: bool = False) -> bool:
        """Set values for the control ``key`` (the I/O thread): one block, no echo; a refusal is corrected.
        ``applied``: the engine stored them already (:meth:`applied_by_engine`): observers only."""
        if shown is not None:
            self.feedback.moved(key, shown)
        self.setting = key
        try:
            assert self.context is not None
            if applied:
                self.context.registry.announce(items, self.source)
            else:
                self.context.registry.set_many(items, self.source)
            return True
        except ParameterError as error:
            self.refused += 1
            self.feedback.refused(key)
            log.debug("%s: refused: %s", self.source, error)
            return False
        finally:
            self.setting = None

    def offer(self, key: Hashable, value: float) -> None:
        """Feedback: the control ``key`` should show ``value`` (any thread)."""
        if self.output is not None:
            self.feedback.offer(key, value)

    def send(self, messages: list[list[int]]) -> None:
        """Queue messages for the paced output (the I/O thread)."""
        if self.output is not None:
            self.pacer.queue.extend(messages)

    @property
    def learning(self) -> bool:
        return self._learner is not None

    # -- learn (a control thread: the API, a key, OSC) ---------------------------------------------------
    @property
    def can_learn(self) -> bool:
        """Only a surface driven by map files learns; the Mackie profile has its mapping."""
        from .mapped import MappedControls

        return isinstance(self.handler, MappedControls)

    def arm_learn(self) -> Learner:
        """From now on the input goes to a :class:`Learner` (the controls map nothing) until
        :meth:`disarm_learn`; returns it."""
        from .learn import Learner

        if not self.can_learn:
            raise UserInputError(f"{self.source} runs a fixed profile; learn works with map files")
        self._learner = learner = Learner()
        if isinstance(self.input, EngineInput):
            self.input.inlet.enabled = False    # learning: the controls map nothing, in the engine too
        return learner

    def disarm_learn(self) -> None:
        self._learner = None
        if isinstance(self.input, EngineInput):
            self.input.inlet.enabled = True

    def bind(self, entry: dict[str, Any]) -> None:
        """Add a learnt mapping: live at once and in the session's ``controllers:`` (in memory)."""
        assert self.context is not None
        self.handler.add(entry, self.context)   # type: ignore[attr-defined]

    def learn(self, address: str, timeout_s: float = 30.0) -> dict[str, Any] | None:
        """Map the next control moved to ``address`` (blocks until the gesture ends; None: nothing came).

        The mapping is added to this surface at once and to the session's
        ``controllers:`` (a save or the autosave writes it).
        """
        from .learn import detect

        assert self.context is not None
        self.context.registry.param(address)
        learner = self.arm_learn()
        try:
            gesture = learner.wait(timeout_s)
        finally:
            self.disarm_learn()
        detected = detect(gesture)
        if detected is None:
            return None
        entry = {**detected.entry, "target": address}
        self.bind(entry)
        return entry

    # -- the I/O thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        self._io_thread_id = threading.get_ident()
        while not self._stop.is_set():
            try:
                busy = self._round()
            except Exception:  # noqa: BLE001 - the thread must live on; the handler's own errors are counted
                self.handler_errors += 1
                log.debug("MIDI surface %s: round failed", self.name, exc_info=True)
                busy = False
            if not busy:
                time.sleep(IDLE_S)

    def _round(self) -> bool:
        busy = False
        if self.input is not None:
            messages = self.input.events()
            for data, applied in messages:
                self._handle(data, applied)
            self._applied = False
            if messages:
                self._guarded(self.handler.batch_end)
                busy = True
        now = time.monotonic()
        if self._settle_at and now >= self._settle_at[0]:
            self._settle_at = self._settle_at[1:]
            self._redraw.set()
        if self._redraw.is_set():
            self._redraw.clear()
            self.feedback.forget()
            self._guarded(self.handler.redraw)
        for key, value in self.feedback.due(now):
            self.send(self._guarded(self.handler.render, key, value) or [])
        self.send(self._guarded(self.handler.tick, now) or [])
        self.pacer.pump(self.output, now)
        return busy or bool(self.pacer.queue)

    def _handle(self, data: list[int], applied: bool = False) -> None:
        message = decode(data, self.counts)
        learner = self._learner
        self._applied = applied
        if message is not None and learner is not None and not applied:
            learner.feed(message)           # learning: the gesture maps nothing yet
        elif message is not None:           # (applied before learn was armed: it moved its control)
            self._guarded(self.handler.message, message)
        elif data and data[0] == 0xF0 and not isinstance(self.input, EngineInput):
            self._guarded(self.handler.sysex, data)   # the engine's ring keeps only SysEx's first bytes

    def _guarded(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except Exception:  # noqa: BLE001 - nothing in MIDI input may stop the surface
            self.handler_errors += 1
            log.debug("MIDI surface %s: handler failed on %r", self.name, args, exc_info=True)
            return None
