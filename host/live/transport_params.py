"""The transport as registry parameters: what a control surface shows and drives.

A live engine registers these addresses in the session registry, so a
controller observes and sets them like any other parameter (with
``skip_source`` echo suppression, and in ``mixhost params --live``):

=========================  ==========  ============================================
``transport/play``         boolean     rolling; set on/off to play/stop
``transport/loop``         boolean     looping; set on to loop over the range below
``transport/loop_start_s`` seconds     the loop range (kept while the loop is off)
``transport/loop_end_s``   seconds
``transport/position_s``   seconds     reported ``POSITION_HZ`` times per second of
                                       transport time and after each jump; set: locate
``transport/xruns``        count       read-only
``transport/follow``       boolean     read-only: following the JACK transport
=========================  ==========  ============================================

The path of a set: the registry's routed writer (:mod:`host.live.handoff`)
hands a ``transport/...`` write to :meth:`TransportParams.write` in the
setting thread, which queues a transport command carrying the source and
the slot whose observers the registry is about to tell.  The audio thread
applies it at the next block start and :meth:`TransportParams.publish`
then writes the state it really has into the registry.  What observers have
not heard yet (a loop wrap, the position, a stop at a panic, JACK transport,
an xrun, a command given through :class:`~host.live.transport.Transport`
directly) goes out through :meth:`Registry.set_deferred`, so a control
thread delivers it (:meth:`Registry.dispatch_pending`), never the audio
callback.  The source is the command's (``api``, ``midi:<port>``...), ``jack``
while following JACK transport, ``engine`` for everything the engine does by
itself (position reports, xruns, the stop of a panic, a refused command
put right).  A command the engine drops (a panic) is reported back as it
really is, with source ``engine``, so the controller that sent it is put
right too.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import ParameterError, UserInputError
from ..registry import Parameter, ParamSpec, Registry, boolean
from .transport import Command, Transport

PREFIX = "transport/"
POSITION_HZ = 10            # position reports per second of transport time
MAX_SECONDS = 24 * 3600.0   # the position and loop range parameters' upper bound
READ_ONLY = {"xruns": "it counts the audio device's xruns", "follow": "start `mixhost live` with or "
             "without --follow-transport"}
FOLLOWED = ("play", "position_s", "loop", "loop_start_s", "loop_end_s")   # JACK's while following

SPECS = (
    boolean("play", doc="the transport rolls; set on to play, off to stop"),
    boolean("loop", doc="loop over loop_start_s..loop_end_s"),
    ParamSpec("loop_start_s", 0.0, 0.0, MAX_SECONDS, "s", doc="loop start", smooth=False),
    ParamSpec("loop_end_s", 0.0, 0.0, MAX_SECONDS, "s", doc="loop end", smooth=False),
    ParamSpec("position_s", 0.0, 0.0, MAX_SECONDS, "s", doc="play position; set to locate", smooth=False),
    ParamSpec("xruns", 0.0, 0.0, 1e12, doc="it counts the audio device's xruns", smooth=False, read_only=True),
    replace(boolean("follow", doc="start `mixhost live` with or without --follow-transport"), read_only=True),
)


def register(registry: Registry) -> dict[str, Parameter]:
    """The transport parameters in ``registry`` (registered on first use), by short name."""
    params = {}
    for spec in SPECS:
        address = PREFIX + spec.name
        params[spec.name] = registry.param(address) if address in registry else registry.register(address, spec)
    return params


class TransportParams:
    """Turns ``transport/...`` sets into transport commands and reports the transport back."""

    def __init__(self, registry: Registry, transport: Transport, *, following: bool = False) -> None:
        self.registry = registry
        self.transport = transport
        self.following = following
        self.params = register(registry)
        self.slots = {p.slot for p in self.params.values()}
        self._names = {p.slot: name for name, p in self.params.items()}
        self._default_source = "jack" if following else "engine"
        self._step = max(1, transport.sample_rate // POSITION_HZ)
        self._tick = -1
        self._wanted: list[float | None] = [None, None]   # the loop range asked for (control threads), s
        # audio-thread state, preallocated: what observers last heard, and who caused each change
        size = max(self.slots) + 1
        self._heard = np.full(size, np.nan)
        self._cause = [""] * size
        values = registry.values
        values[self.params["follow"].slot] = float(following)
        values[self.params["xruns"].slot] = 0.0
        for slot in self.slots:
            self._heard[slot] = values[slot]

    # -- control threads ------------------------------------------------------------------
    def write(self, param: Parameter, value: float, source: str) -> None:
        """A registry set of a ``transport/...`` address: a transport command (or a refusal)."""
        name = self._names[param.slot]
        if name in READ_ONLY:
            raise ParameterError(f"{param.address} is read-only: {READ_ONLY[name]}")
        if self.following and name in FOLLOWED:
            raise ParameterError(f"{param.address}: mixhost follows the JACK transport; "
                                 "play, stop, locate and loop from the DAW")
        transport, slot = self.transport, param.slot
        if name == "play":
            (transport.play if value >= 0.5 else transport.stop)(source, slot)
        elif name == "position_s":
            transport.locate_seconds(value, source, slot)
        elif name == "loop":
            self._loop(param, value >= 0.5, source)
        else:
            self._range(param, value, source)

    def _loop(self, param: Parameter, on: bool, source: str) -> None:
        if not on:
            self.transport.clear_loop(source, param.slot)
            return
        start, end = self._frames(self._wanted_range())
        if end <= start:
            raise ParameterError(f"{param.address}: no loop range to loop over; "
                                 f"set {PREFIX}loop_start_s and {PREFIX}loop_end_s first")
        self._check(param, start, end)
        self.transport.set_loop(start, end, source, param.slot)

    def _range(self, param: Parameter, value: float, source: str) -> None:
        wanted = self._wanted_range()
        wanted[0 if param.address.endswith("start_s") else 1] = value
        start, end = self._frames(wanted)
        if self.transport.loop is not None:  # moving a loop that plays: it must stay a loop
            self._check(param, start, end)
        self._wanted = list(wanted)
        self.transport.set_loop_range(start, end, source, param.slot)

    def _wanted_range(self) -> list[float]:
        rate = self.transport.sample_rate
        current = self.transport.loop_range or (0, 0)
        return [current[i] / rate if wanted is None else wanted for i, wanted in enumerate(self._wanted)]

    def _frames(self, seconds: list[float]) -> tuple[int, int]:
        rate = self.transport.sample_rate
        return int(round(seconds[0] * rate)), int(round(seconds[1] * rate))

    def _check(self, param: Parameter, start: int, end: int) -> None:
        try:
            self.transport.check_loop(start, end)
        except UserInputError as error:  # the transport's message, named by the address that was set
            raise ParameterError(f"{param.address}: {error}",
                                 hint="when moving a loop later, set loop_end_s before loop_start_s") from None

    # -- the audio thread ----------------------------------------------------------------------
    def applied(self, command: Command) -> None:
        """``Transport.apply_pending`` hook: who changed what; what observers heard already."""
        params = self.params
        kind = command.kind
        slots = (params["play"].slot,) if kind in ("play", "stop") else \
            (params["position_s"].slot,) if kind == "locate" else \
            (params["loop"].slot, params["loop_start_s"].slot, params["loop_end_s"].slot)
        for slot in slots:
            self._cause[slot] = command.source
        if command.heard >= 0:
            self._heard[command.heard] = self._value_of(command)

    def dropped(self, command: Command) -> None:
        """``Transport.drop_pending`` hook: observers heard of it, but it never happened."""
        if command.heard >= 0:
            self._heard[command.heard] = self._value_of(command)
            self._cause[command.heard] = "engine"

    def _value_of(self, command: Command) -> float:
        rate = self.transport.sample_rate
        if command.kind in ("play", "loop"):
            return 1.0
        if command.kind in ("stop", "unloop"):
            return 0.0
        if command.heard == self.params["loop_end_s"].slot:
            return command.end / rate
        return command.start / rate   # locate, loop_start_s

    def publish(self, jumped: bool, xruns: int) -> None:
        """Write the transport's state into the registry; report what observers have not heard."""
        transport, params = self.transport, self.params
        rate = transport.sample_rate
        self._report(params["play"], 1.0 if transport.rolling else 0.0)
        self._report(params["loop"], 0.0 if transport.loop is None else 1.0)
        if transport.loop_range is not None:
            self._report(params["loop_start_s"], transport.loop_range[0] / rate)
            self._report(params["loop_end_s"], transport.loop_range[1] / rate)
        tick = transport.position // self._step
        if tick != self._tick or jumped:
            self._tick = tick
            self._report(params["position_s"], transport.position / rate, 0.5 / rate)
        self._report(params["xruns"], float(xruns))
        for slot in self.slots:   # a cause counts for the block its command landed in only
            self._cause[slot] = ""

    def _report(self, param: Parameter, value: float, tolerance: float = 0.0) -> None:
        slot = param.slot
        if abs(value - self._heard[slot]) <= tolerance:
            self.registry.values[slot] = value
            return
        self._heard[slot] = value
        self.registry.set_deferred(param, value, self._cause[slot] or self._default_source)
