"""Saturation: tanh or cubic soft clip, computed oversampled to keep aliasing down.

``out = (1 - mix) * dry + mix * f(drive * x) / drive * output`` where the
division by ``drive`` keeps small signals at unity gain.  The nonlinearity
runs at ``oversample`` (option: 1, 2, 4 or 8; default 4) times the sample
rate; the dry path is delayed to match, and the delay is reported as
``latency``.  Neutral (``mix`` 0 %) passes the input, delayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..dsp.decibels import db_to_amp
from ..dsp.delay_line import FixedDelay
from ..dsp.oversampling import Oversampler
from ..errors import SessionError
from ..registry import ParamSpec, enum
from .native import NativeStage, SwitchFade

CURVES = ("tanh", "soft_clip")
FACTORS = (1, 2, 4, 8)


def soft_clip(x: np.ndarray) -> np.ndarray:
    """Cubic soft clip: 1.5 x - 0.5 x^3 inside [-1, 1], +-1 outside (C1-continuous)."""
    c = np.clip(x, -1.0, 1.0)
    return np.asarray(1.5 * c - 0.5 * c * c * c)


class Saturation(NativeStage):
    type_name = "saturation"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("drive_db", 6.0, 0.0, 36.0, unit="dB", doc="gain into the curve"),
        enum("curve", CURVES, "tanh", doc="transfer curve"),
        ParamSpec("output_db", 0.0, -24.0, 24.0, unit="dB", doc="output gain of the wet path"),
        ParamSpec("mix_pct", 100.0, 0.0, 100.0, unit="%", doc="wet share of the output"),
    )
    OPTIONS: ClassVar[dict[str, Any]] = {"oversample": {"enum": list(FACTORS), "default": 4}}

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        factor = self.options.get("oversample", 4)
        if factor not in FACTORS:
            raise SessionError(f"stage {stage_id!r}: oversample must be one of 1, 2, 4, 8, got {factor!r}")
        self._factor = int(factor)
        self._latency = 0

    @property
    def latency(self) -> int:
        return self._latency

    def _setup(self) -> None:
        self._os = Oversampler(self.channels, self._factor)
        self._latency = self._os.latency
        self._dry = FixedDelay(self.channels, self._latency, self.max_block)
        self._out = np.zeros((self.channels, self.max_block))
        self._fade = SwitchFade(self.choice("curve"))
        self._fade.prepare(self.sample_rate)

    def _clear(self) -> None:
        self._os.reset()
        self._dry.reset()
        self._fade.reset(self.choice("curve"))

    @staticmethod
    def _shape(driven: np.ndarray, curve: int) -> np.ndarray:
        return np.tanh(driven) if curve == 0 else soft_clip(driven)

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        drive = db_to_amp(self.glide("drive_db", frames))
        output = db_to_amp(self.glide("output_db", frames))
        mix = np.asarray(self.glide("mix_pct", frames)) / 100.0
        dry = self._dry.process(block)
        high = self._os.up(block)  # a fresh array (or the block itself at 1x): worked on in place
        if high is block:
            high = self._out[: block.shape[0], :frames]
            high[:] = block
        drive_high = np.repeat(drive, self._factor) if np.ndim(drive) else drive
        driven = np.multiply(high, drive_high, out=high)
        curve = self.choice("curve")
        old = self._fade.update(curve)
        if old is not None:  # the curve just changed: 5 ms from the old curve's output to the new
            before = self._shape(driven, old)
            shaped = self._shape(driven, curve)
            shaped = before + np.repeat(self._fade.weights(frames), self._factor) * (shaped - before)
        else:
            shaped = np.tanh(driven, out=driven) if curve == 0 else soft_clip(driven)
        np.divide(shaped, drive_high, out=shaped)
        wet = self._os.down(shaped)
        wet *= output
        if np.ndim(mix) == 0 and mix == 1.0:
            return np.asarray(wet)
        wet -= dry  # dry + mix (wet - dry)
        wet *= mix
        wet += dry
        return np.asarray(wet)
