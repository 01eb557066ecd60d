"""Shared machinery of the native (numpy/numba) stages.

Every native stage

* smooths each continuous parameter with a :class:`~host.dsp.smoothing.Smoother`
  and, while any coefficient parameter is still moving, recomputes its filter
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

from ..dsp.smoothing import DEFAULT_TIME_S, Smoother
from .base import Stage

SUB_BLOCK = 64  # samples between coefficient updates while a parameter moves


def db_to_amp(db: float | np.ndarray) -> Any:
    return np.power(10.0, np.asarray(db, dtype=np.float64) / 20.0) if np.ndim(db) else 10.0 ** (
        float(db) / 20.0
    )


def ms_to_samples(ms: float, sample_rate: float) -> float:
    return max(ms, 1e-6) * 1e-3 * sample_rate


def one_pole_coefficient(time_ms: float, sample_rate: float) -> float:
    """alpha = exp(-1 / (tau fs)): the per-sample decay of a one-pole with time constant tau."""
    return math.exp(-1.0 / ms_to_samples(time_ms, sample_rate))


class NativeStage(Stage):
    """Base of the native stages: smoothing, sub-blocking and NaN/Inf policy."""

    #: smoothing time constants (s) that differ from DEFAULT_SMOOTHING_S
    SMOOTHING_S: ClassVar[Mapping[str, float]] = {}
    DEFAULT_SMOOTHING_S: ClassVar[float] = DEFAULT_TIME_S

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        self._smoothers: dict[str, Smoother] = {}
        self._log: set[str] = set()
        # the quiet path: while no parameter of this stage changes and every glide has
        # landed, blocks reuse the landed values instead of asking each smoother again
        self._quiet = False
        self._landed: dict[str, float] | None = None
        self._seen = np.empty(0)

    # -- protocol ----------------------------------------------------------------
    def _prepare(self) -> None:
        assert self.p is not None, "bind() before prepare()"
        specs = [spec for spec in self.param_specs() if spec.smooth]
        # log-scaled values (frequencies, Q, ratios) glide geometrically: smoothed as log(value)
        self._log = {spec.name for spec in specs if spec.scale == "log"}
        self._smoothers = {
            spec.name: Smoother(
                self._domain(spec.name, self.target(spec.name)),
                self.SMOOTHING_S.get(spec.name, self.DEFAULT_SMOOTHING_S),
            )
            for spec in specs
        }
        for smoother in self._smoothers.values():
            smoother.prepare(self.sample_rate, max(self.max_block, SUB_BLOCK))
        self._seen = self.p.snapshot_array()
        self._wake()
        self._setup()

    def process(self, block: np.ndarray) -> np.ndarray:
        # sum() is one fast pass; any NaN or Inf makes it non-finite
        if not math.isfinite(float(np.sum(block))):
            self._clear()
            out = np.zeros((self.output_channels(block.shape[0]), block.shape[1]))
            return out
        self._quiet = self._still_quiet()
        return self._process(block)

    def _still_quiet(self) -> bool:
        """True when this block may reuse the landed values (see ``glide``)."""
        assert self.p is not None
        if self.p.refresh(self._seen):
            self._landed = None  # a parameter moved: glide as usual
            return False
        if self._landed is None:
            # unchanged since the last block: quiet once every smoother sits on its target
            targets = {n: self.target(n) for n in self._smoothers}
            if any(not s.is_settled(self._domain(n, targets[n])) for n, s in self._smoothers.items()):
                return False
            for n, s in self._smoothers.items():
                s.reset(self._domain(n, targets[n]))  # the snap a settled next() would make
            self._landed = targets
        return True

    @property
    def quiet(self) -> bool:
        """This block: no parameter changed since the last one and every glide has landed."""
        return self._quiet

    def _wake(self) -> None:
        """Leave the quiet path (smoothers were moved by hand)."""
        self._quiet = False
        self._landed = None
        self._seen.fill(np.nan)

    def _reset(self) -> None:
        assert self.p is not None
        for name, smoother in self._smoothers.items():
            smoother.reset(self._domain(name, self.target(name)))
        self._wake()
        self._clear()

    def _domain(self, name: str, value: float) -> float:
        return math.log(value) if name in self._log else value

    # -- hooks -------------------------------------------------------------------
    def _setup(self) -> None:
        """Allocate and compute constants (after the smoothers exist)."""

    def _clear(self) -> None:
        """Forget the DSP state (filter memories, envelopes, delay lines)."""

    # -- parameters --------------------------------------------------------------
    def value(self, name: str) -> float:
        """The registry value (unsmoothed) of a parameter."""
        assert self.p is not None
        return self.p[name]

    def switch(self, name: str) -> bool:
        return self.value(name) >= 0.5

    def choice(self, name: str) -> int:
        return int(round(self.value(name)))

    def moving(self, names: tuple[str, ...] | list[str]) -> bool:
        """True while any of these smoothed parameters has not reached its target."""
        assert self.p is not None
        if self._quiet:
            return False
        return any(not self._smoothers[n].is_settled(self._domain(n, self.target(n))) for n in names)

    def target(self, name: str) -> float:
        """Where a parameter's smoother heads: its registry value (subclasses may redirect)."""
        assert self.p is not None
        return self.p[name]

    def follow(self, name: str) -> None:
        """An automation lane has just set ``name``: put its smoother on the new value at once.

        The engine steps a lane every SUB_BLOCK samples and the lane is continuous
        itself, so smoothing it again would only make it late by about the
        smoothing time.  Moves from the API and controllers are still smoothed.
        """
        smoother = self._smoothers.get(name)
        if smoother is not None:
            smoother.reset(self._domain(name, self.target(name)))
            self._wake()

    def glide(self, name: str, frames: int) -> float | np.ndarray:
        """Smoothed per-sample values of a parameter (a scalar once settled)."""
        if self._quiet:
            assert self._landed is not None
            return self._landed[name]
        target = self.target(name)
        if name not in self._log:
            return self._smoothers[name].next(target, frames)
        v = self._smoothers[name].next(math.log(target), frames)
        if isinstance(v, np.ndarray):
            return np.exp(v)
        return target if v == math.log(target) else math.exp(v)

    def glides(self, names: tuple[str, ...] | list[str], frames: int) -> dict[str, np.ndarray]:
        """Per-sample smoothed values of several parameters, always as arrays."""
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
        ramps = self.glides(names, frames)
        for start, stop in sub_blocks(frames):
            yield start, stop, {n: float(r[start]) for n, r in ramps.items()}


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
