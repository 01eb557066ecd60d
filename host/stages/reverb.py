"""Reverb: wraps pedalboard's built-in (JUCE/Freeverb) reverb.

``mix_pct`` sets the wet level and the dry level together (``dry_level`` 0.5
is unity in JUCE's scaling).  JUCE smooths its gains and damping internally;
our smoothed values are handed over at every block.  The plugin runs in
float32 (about -150 dB of rounding); neutral (``mix_pct`` 0) passes the input
to that precision.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..registry import ParamSpec, boolean
from .base import prime_block_size
from .native import NativeStage

_DRY_UNITY = 0.5  # JUCE Reverb: dry gain = 2 * dry_level
_WET_FULL = 1.0 / 3.0  # JUCE Reverb: wet gain = 3 * wet_level


class Reverb(NativeStage):
    type_name = "reverb"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("room_size", 0.5, 0.0, 1.0, doc="room size"),
        ParamSpec("damping", 0.5, 0.0, 1.0, doc="high-frequency damping"),
        ParamSpec("width", 1.0, 0.0, 1.0, doc="stereo width of the reverb"),
        ParamSpec("mix_pct", 25.0, 0.0, 100.0, unit="%", doc="wet share of the output"),
        boolean("freeze", False, doc="hold the reverb tail forever"),
    )

    def _setup(self) -> None:
        import pedalboard  # lazy: pedalboard is heavy to import

        self._reverb = pedalboard.Reverb()
        self._apply(0)
        self._silence = np.zeros((self.channels, self.max_block), np.float32)
        prime_block_size(self._reverb, self._silence, self.sample_rate)

    def _clear(self) -> None:
        self._reverb.reset()
        prime_block_size(self._reverb, self._silence, self.sample_rate)

    def _apply(self, frames: int) -> None:
        names = ("room_size", "damping", "width", "mix_pct")
        if frames == 0:  # at setup: the targets, without advancing the smoothers
            v = {n: self.value(n) for n in names}
        else:
            v = {n: float(np.asarray(self.glide(n, frames)).reshape(-1)[-1]) for n in names}
        r = self._reverb
        mix = v["mix_pct"] / 100.0
        r.room_size, r.damping, r.width = v["room_size"], v["damping"], v["width"]
        r.wet_level = mix * _WET_FULL
        r.dry_level = (1.0 - mix) * _DRY_UNITY
        r.freeze_mode = 1.0 if self.switch("freeze") else 0.0

    def _process(self, block: np.ndarray) -> np.ndarray:
        self._apply(block.shape[1])
        y = self._reverb.process(block.astype(np.float32), self.sample_rate, buffer_size=self.max_block,
                                 reset=False)
        return np.asarray(y, dtype=np.float64)
