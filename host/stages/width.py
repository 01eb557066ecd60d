"""Stereo width (mid/side) and polarity.

``width``: ``M = (L + R) / 2``, ``S = (L - R) / 2``; the side is scaled by
``width_pct / 100`` and ``side_db``, the mid by ``mid_db``.  *Mono bass*
removes the side below ``mono_bass_hz`` with a Linkwitz-Riley (LR4)
high-pass and passes the mid through the matching all-pass (LR4 low + high
= 2nd-order all-pass, Q = 1/sqrt(2)), so mid and side stay in phase above
the crossover and the magnitude stays flat.  A mono input has no side: only
``mid_db`` applies.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.signal import sosfilt

from ..dsp import biquad
from ..dsp.decibels import db_to_amp
from ..dsp.smoothing import Smoother
from ..registry import ParamSpec, boolean
from .native import NativeStage, SwitchFade

SQRT_HALF = 0.7071067811865476
POLARITY_FADE_S = 0.005


class Width(NativeStage):
    type_name = "width"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("width_pct", 100.0, 0.0, 200.0, unit="%", doc="side level: 0 mono, 100 unchanged, 200 double"),
        ParamSpec("mid_db", 0.0, -24.0, 12.0, unit="dB", doc="mid gain"),
        ParamSpec("side_db", 0.0, -24.0, 12.0, unit="dB", doc="side gain"),
        boolean("mono_bass", False, doc="make the side mono below mono_bass_hz"),
        ParamSpec("mono_bass_hz", 120.0, 20.0, 500.0, unit="Hz", scale="log", doc="mono bass crossover"),
    )

    def _setup(self) -> None:
        self._fade = SwitchFade(int(self.switch("mono_bass")))
        self._fade.prepare(self.sample_rate)
        self._hp_zi = np.zeros((2, 1, 2))
        self._ap_zi = np.zeros((1, 1, 2))
        self._key = -1.0
        self._hp = np.tile(biquad.IDENTITY, (2, 1))
        self._ap = biquad.IDENTITY[np.newaxis, :].copy()

    def _clear(self) -> None:
        self._clear_filters()
        self._fade.reset(int(self.switch("mono_bass")))

    def _clear_filters(self) -> None:
        self._hp_zi[:] = 0.0
        self._ap_zi[:] = 0.0

    def _neutral(self) -> bool:
        return (
            not self.moving(("width_pct", "mid_db", "side_db"))
            and self.value("width_pct") == 100.0 and self.value("mid_db") == 0.0
            and self.value("side_db") == 0.0 and not self.switch("mono_bass") and self._fade.old is None
        )

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        if self._neutral():
            for name in ("width_pct", "mid_db", "side_db", "mono_bass_hz"):
                self.glide(name, frames)
            self._clear_filters()  # the switch fade is at rest already (see _neutral)
            return block
        mid_gain = db_to_amp(self.glide("mid_db", frames))
        side_gain = db_to_amp(self.glide("side_db", frames)) * (
            np.asarray(self.glide("width_pct", frames)) / 100.0
        )
        if block.shape[0] == 1:
            self.glide("mono_bass_hz", frames)
            return np.asarray(block * mid_gain)
        mid = 0.5 * (block[0] + block[1])
        side = 0.5 * (block[0] - block[1])
        on = self.switch("mono_bass")
        if self._fade.update(int(on)) is not None:  # just switched: 5 ms from one to the other
            bass_mid, bass_side = self._mono_bass(mid, side, frames)
            w = self._fade.weights(frames)
            if not on:
                w = 1.0 - w
            mid = mid + w * (bass_mid - mid)
            side = side + w * (bass_side - side)
        elif on:
            mid, side = self._mono_bass(mid, side, frames)
        else:
            self.glide("mono_bass_hz", frames)
            self._clear_filters()
        mid = mid * mid_gain
        side = side * side_gain
        return np.vstack([mid + side, mid - side])

    def _mono_bass(self, mid: np.ndarray, side: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
        mid_out, side_out = np.empty(frames), np.empty(frames)
        for start, stop, v in self.segments(("mono_bass_hz",), frames):
            if v["mono_bass_hz"] != self._key:
                self._key = v["mono_bass_hz"]
                self._hp = biquad.pass_filter(self._key, 24, "linkwitz_riley", self.sample_rate, high=True)
                self._ap = biquad.all_pass(self._key, SQRT_HALF, self.sample_rate)
            s, self._hp_zi = sosfilt(self._hp, side[np.newaxis, start:stop], axis=-1, zi=self._hp_zi)
            m, self._ap_zi = sosfilt(self._ap, mid[np.newaxis, start:stop], axis=-1, zi=self._ap_zi)
            side_out[start:stop] = s[0]
            mid_out[start:stop] = m[0]
        return mid_out, side_out


class Polarity(NativeStage):
    """Inverts the polarity of either channel; a switch fades through zero over 5 ms."""

    type_name = "polarity"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        boolean("invert_left", False, doc="invert the left (or only) channel"),
        boolean("invert_right", False, doc="invert the right channel"),
    )

    def _setup(self) -> None:
        self._signs = [Smoother(self._sign(c), POLARITY_FADE_S) for c in range(2)]
        for s in self._signs:
            s.prepare(self.sample_rate, self.max_block)

    def _sign(self, channel: int) -> float:
        name = "invert_left" if channel == 0 else "invert_right"
        return -1.0 if self.switch(name) else 1.0

    def _clear(self) -> None:
        for c, s in enumerate(self._signs):
            s.reset(self._sign(c))

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        for c in range(block.shape[0]):
            sign = self._signs[c].next(self._sign(c), frames)
            if np.ndim(sign) or sign != 1.0:
                block[c] *= sign
        return block
