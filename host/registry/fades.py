"""Fades: several parameters moved to target values over a number of samples, by the block engine.

A snapshot recall with a fade time (:mod:`host.control.snapshots`) asks the
registry for one (:meth:`Registry.fade`).  The request, built in the asking
thread with every array it needs, waits on a deque; the block engine
(:meth:`host.engine.graph.Graph.process`, the same call offline and live)
calls :meth:`Fades.advance` at each block start, which

* takes the newest request: its start values are the registry's values at
  that block, so a set queued before the recall is where it starts from, and
  the fade it replaces stops where it is;
* writes, for each parameter still fading, the value at the end of the block:
  moved along the parameter's own scale (a fader in its dB taper, a
  frequency logarithmically, the rest linearly), so the stages' smoothing
  glides between the block values; choices and switches change at the end;
* at the last block writes the exact target values, and is done;
* leaves a parameter that something else set during the fade (a hand on a
  fader, automation) to that: the fade lets go of it.

The values go in the way an engine write does (:meth:`Registry.set_deferred`),
with the recall's source: a control thread delivers them to observers
(:meth:`Registry.dispatch_pending`), so surfaces, the session document and
the autosave follow every step.  The work per block is one compiled pass over
the fading parameters into arrays made with the request: nothing is allocated.
A fade moves only while blocks run: rendered, or played live (stopped
included), not while no engine runs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

if TYPE_CHECKING:
    from . import Parameter, Registry

# how each parameter moves (the scale kinds mirror host.scales)
LINEAR, LOG, DB_FADER, SWITCH = 0, 1, 2, 3
KINDS = {"linear": LINEAR, "log": LOG, "db_fader": DB_FADER}
FADER_DB_PER_DECADE = 80.0   # host.scales' dB fader taper


@njit(cache=True)
def _position(value: float, lo: float, hi: float, kind: int) -> float:  # pragma: no cover - compiled
    """host.scales.to_normalized, compiled: a value -> its 0..1 position on its scale."""
    if hi == lo:
        return 0.0
    value = min(max(value, lo), hi)
    if kind == LOG:
        pos = math.log(value / lo) / math.log(hi / lo)
    elif kind == DB_FADER:
        if value <= lo:
            return 0.0
        pos = 10.0 ** ((value - hi) / FADER_DB_PER_DECADE)
    else:
        pos = (value - lo) / (hi - lo)
    return min(max(pos, 0.0), 1.0)


@njit(cache=True)
def _value(pos: float, lo: float, hi: float, kind: int) -> float:  # pragma: no cover - compiled
    """host.scales.from_normalized, compiled: a 0..1 position -> the value there."""
    pos = min(max(pos, 0.0), 1.0)
    if kind == LOG:
        value = lo * (hi / lo) ** pos
    elif kind == DB_FADER:
        value = lo if pos <= 0.0 else hi + FADER_DB_PER_DECADE * math.log10(pos)
    else:
        value = lo + pos * (hi - lo)
    return min(max(value, lo), hi)


@njit(cache=True)
def _begin(values: np.ndarray, slots: np.ndarray, kinds: np.ndarray, lo: np.ndarray, hi: np.ndarray,
           start: np.ndarray, written: np.ndarray, dropped: np.ndarray) -> None:  # pragma: no cover - compiled
    """Where each parameter starts: its value now, as a position on its scale."""
    for i in range(slots.shape[0]):
        value = values[slots[i]]
        start[i] = _position(value, lo[i], hi[i], kinds[i]) if kinds[i] != SWITCH else 0.0
        written[i] = value
        dropped[i] = False


@njit(cache=True)
def _step(values: np.ndarray, pending_values: np.ndarray, pending_dirty: np.ndarray, slots: np.ndarray,
          kinds: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray, end: np.ndarray,
          targets: np.ndarray, written: np.ndarray, dropped: np.ndarray, share: float,
          final: bool) -> None:  # pragma: no cover - compiled
    """Write each fading parameter's value at ``share`` of the way (the exact targets when ``final``)."""
    for i in range(slots.shape[0]):
        if dropped[i]:
            continue
        slot = slots[i]
        if values[slot] != written[i]:     # set by something else since the last block: it has it now
            dropped[i] = True
            continue
        if final:
            value = targets[i]
        elif kinds[i] == SWITCH:
            continue
        else:
            value = _value(start[i] + (end[i] - start[i]) * share, lo[i], hi[i], kinds[i])
        written[i] = value
        if value != values[slot]:          # as Registry.set_deferred: a write that changes nothing is not heard
            values[slot] = value
            pending_values[slot] = value
            pending_dirty[slot] = True


class Fade:
    """One request: parameters, their targets, the length in samples and the source (built by the asker)."""

    def __init__(self, params: Sequence[Parameter], targets: Sequence[float], samples: int, source: str) -> None:
        count = len(params)
        self.params = list(params)
        self.samples = max(int(samples), 1)
        self.source = source
        self.elapsed = 0
        self.begun = False
        self.slots = np.array([p.slot for p in params], dtype=np.intp)
        self.kinds = np.array([SWITCH if p.spec.choices else KINDS[p.spec.scale] for p in params], dtype=np.int64)
        self.lo = np.array([p.spec.min for p in params], dtype=np.float64)
        self.hi = np.array([p.spec.max for p in params], dtype=np.float64)
        self.targets = np.array(targets, dtype=np.float64).reshape(count)
        self.end = np.zeros(count)
        for i in range(count):
            if self.kinds[i] != SWITCH:
                self.end[i] = _position(self.targets[i], self.lo[i], self.hi[i], int(self.kinds[i]))
        self.start = np.zeros(count)
        self.written = np.zeros(count)
        self.dropped = np.zeros(count, dtype=np.bool_)

    @property
    def done(self) -> bool:
        return self.elapsed >= self.samples

    @property
    def share(self) -> float:
        return min(self.elapsed / self.samples, 1.0)


class Fades:
    """The fade requests of one registry and the fade running (see the module docstring)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._requests: deque[Fade | None] = deque()   # any thread appends; the engine pops
        self.active: Fade | None = None
        self.completed = 0                              # fades that reached their targets

    def request(self, fade: Fade | None) -> None:
        """Start ``fade`` at the next block (any thread); None stops the one running where it is."""
        self._requests.append(fade)

    @property
    def running(self) -> bool:
        """A fade is asked for or under way (as far as this thread can tell)."""
        return bool(self._requests) or self.active is not None

    def advance(self, frames: int) -> None:
        """The block engine, at block start: move the running fade by ``frames`` samples."""
        while self._requests:
            self.active = self._requests.popleft()
        fade = self.active
        if fade is None:
            return
        values, pending_values, pending_dirty, sources = self.registry.deferred_arrays()
        if not fade.begun:
            fade.begun = True
            _begin(values, fade.slots, fade.kinds, fade.lo, fade.hi, fade.start, fade.written, fade.dropped)
            for param in fade.params:   # the recall's source goes with every value it writes
                sources[param.slot] = fade.source
        fade.elapsed += frames
        final = fade.done
        _step(values, pending_values, pending_dirty, fade.slots, fade.kinds, fade.lo, fade.hi, fade.start,
              fade.end, fade.targets, fade.written, fade.dropped, fade.share, final)
        if final:
            self.active = None
            self.completed += 1

    def warm_up(self) -> None:
        """Compile the kernels now (a preparing engine), not in the first audio callback that fades."""
        one = np.zeros(1)
        slots, kinds, dropped = np.zeros(1, dtype=np.intp), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.bool_)
        values, dirty = np.zeros(1), np.zeros(1, dtype=np.bool_)
        _begin(values, slots, kinds, one, one + 1.0, one.copy(), one.copy(), dropped)
        _step(values, one.copy(), dirty, slots, kinds, one, one + 1.0, one.copy(), one.copy(), one.copy(),
              one.copy(), dropped, 0.5, False)
