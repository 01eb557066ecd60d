"""Control hand-off: parameter sets from any thread land at the start of a block.

While the live engine runs, the session registry routes its writes here
(:meth:`Registry.route_writes`), so that a set from a control thread (the
Python API, later MIDI and OSC) does two things:

* queues ``(parameter, value, source, time)`` on a deque (append and
  popleft are atomic in CPython: no lock, the audio thread never waits);
* runs the observers at once in the setting thread, so feedback and the
  YAML document follow the change without the audio thread.

At block start the audio thread drains the queue into ``registry.values``
(:meth:`ControlHandoff.apply`).  Every stage and fader of that block then
sees the same values, which is what lets the automation recorder say
exactly which block carried a move; the wait from the set to that block is
the control latency, kept in a preallocated array.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..registry import Parameter, Registry


class Carried(NamedTuple):
    """A change as the engine applied it: the block position that first carried it."""

    position: int
    rolling: bool
    param: Parameter
    value: float
    source: str


class Marker(NamedTuple):
    """An event for the recorder: ``pass`` (a rolling run starts), ``stop``, ``touch``, ``release``."""

    kind: str
    position: int
    slot: int = -1              # touch, release: the control taken hold of or let go
    previous_end: int = -1      # pass: where the previous run stopped (a locate or loop wrap)
    value: float = 0.0          # touch: the value the control held when touched


CarryHook = Callable[[Parameter, int], None]
TouchHook = Callable[[Parameter, bool, int], None]
SET, TOUCH, RELEASE, BATCH = 0, 1, 2, 3   # what a queued entry is
Writer = Callable[[Parameter, float, str], None]


class ControlHandoff:
    """Queues registry writes from control threads and applies them at block start."""

    def __init__(self, registry: Registry, history: int = 1 << 16) -> None:
        self.registry = registry
        #: (parameter, value, source, time, SET | TOUCH | RELEASE), or for a batch
        #: (((parameter, value), ...), 0.0, source, time, BATCH): touches queue with the sets, in order
        self._pending: deque[tuple[Any, float, str, float, int]] = deque()
        #: what the engine carried, for the automation recorder (drained by a control thread)
        self.carried: deque[Carried | Marker] = deque()
        self.keep_carried = False
        self.latencies = np.zeros(history)   # seconds from a set to the block that carried it
        self.latency_count = 0
        self._installed = False
        self._diverted: dict[int, Writer] = {}

    def divert(self, slots: set[int], writer: Writer) -> None:
        """Writes to these slots go to ``writer`` (in the setting thread) instead of the queue.

        The ``transport/...`` parameters use it: a set there is a transport
        command, not a value for the stages.
        """
        for slot in slots:
            self._diverted[slot] = writer

    # -- set-up (control thread) ----------------------------------------------------------
    def install(self) -> None:
        if not self._installed:
            self.registry.route_writes(self._queue, self._queue_batch)
            self._installed = True

    def uninstall(self) -> None:
        """Restore direct writes; anything still queued is written now."""
        if self._installed:
            self.registry.route_writes(None)
            self._installed = False
        while self._pending:
            param, value, _, _, kind = self._pending.popleft()
            if kind == SET:
                self.registry.values[param.slot] = value
            elif kind == BATCH:
                for member, number in param:
                    self.registry.values[member.slot] = number

    @property
    def queued(self) -> int:
        """Entries waiting for the next block start (a batch is one)."""
        return len(self._pending)

    # -- control threads ---------------------------------------------------------------------
    def _queue(self, param: Parameter, value: float, source: str) -> None:
        diverted = self._diverted.get(param.slot)
        if diverted is not None:
            diverted(param, value, source)
            return
        self._pending.append((param, value, source, time.perf_counter(), SET))

    def _queue_batch(self, items: Sequence[tuple[Parameter, float]], source: str) -> None:
        """Several sets as one queue entry: the audio thread takes it whole, so all land in one block."""
        batch = []
        for param, value in items:
            diverted = self._diverted.get(param.slot)
            if diverted is not None:   # a transport command in a batch: it has its own queue
                diverted(param, value, source)
            else:
                batch.append((param, value))
        if batch:
            self._pending.append((tuple(batch), 0.0, source, time.perf_counter(), BATCH))

    def touch(self, param: Parameter, touched: bool, source: str) -> None:
        """A control taken hold of or let go (any thread): lands at block start, after the sets before it."""
        self._pending.append((param, 0.0, source, 0.0, TOUCH if touched else RELEASE))

    # -- the audio thread ----------------------------------------------------------------------
    def apply(self, position: int, rolling: bool, hook: CarryHook | None,
              touch_hook: TouchHook | None = None) -> int:
        """Write queued values for the block about to run (touches go to ``touch_hook``); returns how many."""
        count = 0
        while self._pending:
            param, value, source, stamp, kind = self._pending.popleft()
            if kind == BATCH:
                for member, number in param:
                    self._carry(member, number, source, stamp, position, rolling, hook)
                count += len(param)
            elif kind == SET:
                self._carry(param, value, source, stamp, position, rolling, hook)
                count += 1
            elif touch_hook is not None:
                touch_hook(param, kind == TOUCH, position)
        return count

    def _carry(self, param: Parameter, value: float, source: str, stamp: float, position: int, rolling: bool,
               hook: CarryHook | None) -> None:
        self.registry.values[param.slot] = value
        index = self.latency_count % len(self.latencies)
        # timed when taken, not at block start: a set queued while this block was starting
        # still lands in it, and a latency measured from the block start would be negative
        self.latencies[index] = time.perf_counter() - stamp
        self.latency_count += 1
        self.carry(param, value, source, position, rolling, hook)

    def carry(self, param: Parameter, value: float, source: str, position: int, rolling: bool,
              hook: CarryHook | None) -> None:
        """A value stored at this block start, told to the recorder: a queued set's, or one the
        engine stored by itself (MIDI it read in the callback, :mod:`host.live.midi_inlet`)."""
        if self.keep_carried:
            self.carried.append(Carried(position, rolling, param, value, source))
        if hook is not None:
            hook(param, position)

    def mark(self, kind: str, position: int, slot: int = -1, previous_end: int = -1, value: float = 0.0) -> None:
        if self.keep_carried:
            self.carried.append(Marker(kind, position, slot, previous_end, value))

    def latency_samples(self) -> np.ndarray:
        count = min(self.latency_count, len(self.latencies))
        return self.latencies[:count].copy()
