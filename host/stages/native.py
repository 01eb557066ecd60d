"""Shared machinery of the native (numpy/numba) stages.

Every native stage

* smooths each continuous parameter with a one-pole glide (the same law as
  :class:`~host.dsp.smoothing.Smoother`; all of a stage's glides advance in one
  compiled pass per block) and, while any coefficient parameter is still moving, recomputes its filter
  coefficients once per ``SUB_BLOCK`` (64) samples.  A parameter driven by a
  linear automation lane is not smoothed again (:meth:`NativeStage.follow`):
  the lane is continuous, and the engine steps it every ``SUB_BLOCK`` samples;
* refuses non-finite input.  **NaN/Inf behaviour:** when a block holds NaN or
  Inf, the stage forgets its signal state (filter memories, envelopes, delay
  lines, lookahead buffers: ``_clear()``; parameter glides carry on) and
  outputs silence for that block.  The next finite block is processed from a
  clean state, exactly as by a freshly built stage, so one bad sample never
  poisons a filter's recursion for the rest of the render.  (The check is one
  ``sum`` over the block, so values near 1e308 whose sum overflows count as
  non-finite too.)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
from numba import njit

from ..dsp.finite import is_finite
from ..dsp.smoothing import DEFAULT_TIME_S, SNAP, decay_table, smoothing_alpha
from ..errors import RenderError
from .base import Stage, refresh_values

SUB_BLOCK = 64  # samples between coefficient updates while a parameter moves
#: the block length pedalboard runs plugins in (its ``buffer_size``): the automation step, so a
#: plugin is called on the same 64-sample grid whatever the engine's block size, and its output
#: does not depend on it (a plugin may smooth its parameters over each call, as MVerb does)
PLUGIN_BLOCK = SUB_BLOCK


class NativeStage(Stage):
    """Base of the native stages: smoothing, sub-blocking and NaN/Inf policy.

    All smoothed parameters of a stage advance together, once per block, in
    one compiled pass (:func:`_advance`): each is a one-pole glide toward its
    registry value (log-scaled ones glide as log(value)), so ``glide`` and
    ``moving`` are array lookups afterwards.
    """

    #: smoothing time constants (s) that differ from DEFAULT_SMOOTHING_S
    SMOOTHING_S: ClassVar[Mapping[str, float]] = {}
    DEFAULT_SMOOTHING_S: ClassVar[float] = DEFAULT_TIME_S

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        self._index: dict[str, int] = {}
        self._log: set[str] = set()
        # the quiet path: while no parameter of this stage changes and every glide has
        # landed, a block skips the smoothing pass and reuses the landed values
        self._quiet = False
        self._landed_all = False
        self._seen = np.empty(0)

    # -- protocol ----------------------------------------------------------------
    def _prepare(self) -> None:
        assert self.p is not None, "bind() before prepare()"
        specs = [spec for spec in self.param_specs() if spec.smooth]
        # log-scaled values (frequencies, Q, ratios) glide geometrically: smoothed as log(value)
        self._log = {spec.name for spec in specs if spec.scale == "log"}
        self._index = {spec.name: i for i, spec in enumerate(specs)}
        params = self.p.params
        self._slots = np.array([params[s.name].slot for s in specs], dtype=np.intp)
        self._gates = np.array([params[g].slot if (g := self.gate(s.name)) else -1 for s in specs], dtype=np.intp)
        self._is_log = np.array([s.name in self._log for s in specs], dtype=np.bool_)
        self._alphas = np.array([smoothing_alpha(self.SMOOTHING_S.get(s.name, self.DEFAULT_SMOOTHING_S),
                                                 self.sample_rate) for s in specs])
        self._current = np.zeros(len(specs))   # where each glide is, in its smoothing domain
        self._landed = np.zeros(len(specs))    # each target, in the parameter's own unit
        self._settled = np.ones(len(specs), dtype=np.bool_)
        self._bounds = [(self._domain(s.name, s.min), self._domain(s.name, s.max)) for s in specs]
        self._grow(max(self.max_block, SUB_BLOCK))
        self._seen = self.p.snapshot_array()
        # read at each block (``registry.values`` is replaced if the registry ever grows)
        self._registry = self.p.registry
        self._view_slots = self.p.slot_array  # this stage's parameters' slots, for the change check
        self._snap_all()
        self._setup()

    def _grow(self, frames: int) -> None:
        """Per-sample tables for blocks of up to ``frames`` (at prepare; again only for a longer block)."""
        n = len(self._index)
        self._ramps = np.zeros((n, frames))
        self._decay = np.array([decay_table(a, frames) for a in self._alphas]).reshape(n, frames)

    def process(self, block: np.ndarray) -> np.ndarray:
        if block.shape[0] != self.channels:  # the compiled kernels index by the prepared layout
            raise RenderError(f"stage {self.id!r} was prepared for {self.channels} channel(s) and "
                              f"given a block of {block.shape[0]}; call prepare() with the block's layout")
        # one compiled pass checks the block and whether any parameter moved
        state = _check_block(block, self._registry.values, self._view_slots, self._seen)
        if state == _NON_FINITE:
            self._clear()
            out = np.zeros((self.output_channels(block.shape[0]), block.shape[1]))
            return out
        changed = state == _CHANGED
        if changed or not self._landed_all:
            self._begin(block.shape[1], changed)
        else:
            self._quiet = True  # the common live case: nothing changed and every glide has landed
        return self._process(block)

    def _begin(self, frames: int, changed: bool) -> None:
        """Advance every glide by this block (``changed``: a parameter moved since the last one)."""
        if frames > self._ramps.shape[1]:
            self._grow(frames)
        moving = _advance(self._registry.values, self._slots, self._gates, self._is_log, self._alphas, self._decay,
                          frames, self._current, self._landed, self._settled, self._ramps)
        self._landed_all = not moving
        self._quiet = not changed and not moving

    @property
    def quiet(self) -> bool:
        """This block: no parameter changed since the last one and every glide has landed."""
        return self._quiet

    def _wake(self) -> None:
        """Leave the quiet path (a glide was moved by hand)."""
        self._quiet = False
        self._landed_all = False
        self._seen.fill(np.nan)

    def _snap_all(self) -> None:
        """Every glide on its target at once (no glide in)."""
        for name, i in self._index.items():
            self._current[i] = self._domain(name, self.target(name))
        self._wake()

    def _reset(self) -> None:
        self._snap_all()
        self._clear()

    def unsettle(self) -> None:
        """Put every glide a little off its target, so the next block takes the gliding path.

        For warming up compiled code before real-time use; ``reset()`` lands them again.
        """
        for i, (low, high) in enumerate(self._bounds):
            step = 1e-3 * (high - low)
            self._current[i] += -step if self._current[i] - step >= low else step
        self._wake()

    def _domain(self, name: str, value: float) -> float:
        return math.log(value) if name in self._log else value

    # -- hooks -------------------------------------------------------------------
    def _setup(self) -> None:
        """Allocate and compute constants (after the smoothing tables exist)."""

    def _clear(self) -> None:
        """Forget the DSP state (filter memories, envelopes, delay lines)."""

    def gate(self, name: str) -> str | None:
        """A switch parameter whose 'off' sends ``name``'s target to 0 (an EQ band's gain), or None."""
        return None

    # -- parameters --------------------------------------------------------------
    def value(self, name: str) -> float:
        """The registry value (unsmoothed) of a parameter."""
        assert self.p is not None
        return self.p[name]

    def switch(self, name: str) -> bool:
        return self.value(name) >= 0.5

    def choice(self, name: str) -> int:
        return int(round(self.value(name)))

    def smoothed(self, name: str) -> bool:
        """True when ``name`` is a smoothed parameter of this stage."""
        return name in self._index

    def smoothed_index(self, name: str) -> int:
        """Where ``name`` sits in :attr:`glide_state`'s arrays; -1 when it is not smoothed."""
        return self._index.get(name, -1)

    @property
    def glide_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This block's (settled, landed, ramps) arrays, for compiled code that reads the glides.

        Row i: whether glide i has landed, its target, and its per-sample values while it moves.
        """
        return self._settled, self._landed, self._ramps

    def moving(self, names: tuple[str, ...] | list[str]) -> bool:
        """True while any of these smoothed parameters glides in this block."""
        if self._quiet:
            return False
        settled, index = self._settled, self._index
        return not all(settled[index[n]] for n in names)

    def target(self, name: str) -> float:
        """Where a parameter glides: its registry value, or 0 while its gate switch is off."""
        assert self.p is not None
        gate = self.gate(name)
        if gate is not None and not self.switch(gate):
            return 0.0
        return self.p[name]

    def follow(self, name: str) -> None:
        """An automation lane has just set ``name``: put its glide on the new value at once.

        The engine steps a lane every SUB_BLOCK samples and the lane is continuous
        itself, so smoothing it again would only make it late by about the
        smoothing time.  Moves from the API and controllers are still smoothed.
        """
        i = self._index.get(name)
        if i is not None:
            self._current[i] = self._domain(name, self.target(name))
            self._wake()

    def glide(self, name: str, frames: int) -> float | np.ndarray:
        """This block's smoothed per-sample values of a parameter (a scalar once landed).

        The array is the stage's own buffer, valid for this block: copy it to keep it.
        """
        i = self._index[name]
        if self._quiet or self._settled[i]:
            return float(self._landed[i])
        return self._ramps[i, :frames]

    def glides(self, names: tuple[str, ...] | list[str], frames: int) -> dict[str, np.ndarray]:
        """Per-sample smoothed values of several parameters, always as new arrays."""
        out = {}
        for name in names:
            v = self.glide(name, frames)
            out[name] = v.copy() if isinstance(v, np.ndarray) else np.full(frames, v)
        return out

    def segments(
        self, names: tuple[str, ...] | list[str], frames: int
    ) -> Iterator[tuple[int, int, dict[str, float]]]:
        """(start, stop, values) of the parts of a block with constant coefficient values.

        One segment covering the block when none of ``names`` moves; else one
        per SUB_BLOCK samples, valued at the sub-block's first sample.
        """
        if not self.moving(names):
            yield 0, frames, {n: float(self.glide(n, frames)) for n in names}
            return
        ramps = {n: self.glide(n, frames) for n in names}
        for start, stop in sub_blocks(frames):
            yield start, stop, {n: float(r[start]) if isinstance(r, np.ndarray) else r for n, r in ramps.items()}


_NON_FINITE, _UNCHANGED, _CHANGED = -1, 0, 1


@njit(cache=True)
def _check_block(block: np.ndarray, values: np.ndarray, slots: np.ndarray,
                 seen: np.ndarray) -> int:  # pragma: no cover - compiled
    """``is_finite(block)`` and ``refresh_values(values, slots, seen)`` in one call.

    _NON_FINITE (parameters not looked at), else _CHANGED when any parameter
    differs from what ``seen`` held (``seen`` is updated), else _UNCHANGED.
    """
    if not is_finite(block):
        return _NON_FINITE
    return _CHANGED if refresh_values(values, slots, seen) else _UNCHANGED


@njit(cache=True)
def _advance(values: np.ndarray, slots: np.ndarray, gates: np.ndarray, is_log: np.ndarray,
             alphas: np.ndarray, decay: np.ndarray, frames: int, current: np.ndarray, landed: np.ndarray,
             settled: np.ndarray, ramps: np.ndarray) -> bool:  # pragma: no cover - compiled
    """One block of every glide of a stage; True when any still moves.

    Toward a constant target x the one-pole y[n] = y[n-1] + a (x - y[n-1]) is
    y[n] = x + (1 - a)^(n+1) (y[-1] - x): ``decay`` holds those powers.  A glide
    within SNAP of its target lands there exactly (and costs nothing).
    """
    moving = False
    for i in range(slots.shape[0]):
        x = values[slots[i]]
        if gates[i] >= 0 and values[gates[i]] < 0.5:
            x = 0.0
        landed[i] = x
        if is_log[i]:
            x = math.log(x)
        left = current[i] - x
        if abs(left) < SNAP:
            current[i] = x
            settled[i] = True
            continue
        settled[i] = False
        moving = True
        for n in range(frames):
            y = x + decay[i, n] * left
            ramps[i, n] = math.exp(y) if is_log[i] else y
        current[i] = x + decay[i, frames - 1] * left
    return moving


class SwitchFade:
    """A short linear crossfade from the old setting's output to the new one's when a switch flips.

    A switch (``mono_bass``, a saturation ``curve``, peak/RMS ``detection``)
    cannot glide like a number, so for ``FADE_S`` after it flips the stage
    computes both settings' outputs and blends them.  ``update`` is called at
    each block start; while it reports an ``old`` setting, ``weights`` gives
    the new output's per-sample share (it reaches 1 and stays there).  A flip
    during a fade starts a new fade from the setting before it.
    """

    FADE_S = 0.005

    def __init__(self, setting: int) -> None:
        self.setting = setting
        self.old: int | None = None
        self.flipped = False  # the last update started a fade
        self._left = 0
        self._length = 1
        self._ramp = np.ones(1)

    def prepare(self, sample_rate: float) -> None:
        self._length = max(1, int(round(self.FADE_S * sample_rate)))
        self._ramp = np.arange(1, self._length + 1) / self._length

    def reset(self, setting: int) -> None:
        self.setting, self.old, self._left = setting, None, 0

    def update(self, setting: int) -> int | None:
        """Take this block's setting; returns the setting faded from, or None when not fading."""
        self.flipped = setting != self.setting
        if self.flipped:
            self.old, self.setting, self._left = self.setting, setting, self._length
        return self.old if self._left > 0 else None

    def weights(self, frames: int) -> np.ndarray:
        """The new output's share for each of the next ``frames`` samples (advances the fade)."""
        done = self._length - self._left
        w = np.ones(frames)
        k = min(frames, self._left)
        w[:k] = self._ramp[done : done + k]
        self._left -= k
        if self._left == 0:
            self.old = None
        return w


def sub_blocks(frames: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive SUB_BLOCK-sample slices of a block."""
    for start in range(0, frames, SUB_BLOCK):
        yield start, min(start + SUB_BLOCK, frames)
