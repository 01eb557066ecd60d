"""Feedback delay: ``time_ms`` (smoothed, so a change glides like tape), feedback and mix.

Neutral (``mix_pct`` 0) passes the input exactly.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..dsp.delay_line import feedback_delay
from ..registry import ParamSpec
from .native import NativeStage

MAX_DELAY_MS = 2000.0


class Delay(NativeStage):
    type_name = "delay"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("time_ms", 250.0, 1.0, MAX_DELAY_MS, unit="ms", scale="log", doc="delay time"),
        ParamSpec("feedback_pct", 30.0, 0.0, 95.0, unit="%", doc="share of the echo fed back"),
        ParamSpec("mix_pct", 25.0, 0.0, 100.0, unit="%", doc="wet share of the output"),
    )

    # a delay-time change glides like tape: 200 ms keeps the pitch bend moderate
    SMOOTHING_S: ClassVar[dict[str, float]] = {"time_ms": 0.2}

    def _setup(self) -> None:
        size = 1 << int(np.ceil(np.log2(MAX_DELAY_MS * 1e-3 * self.sample_rate + 4)))
        self._buffer = np.zeros((self.channels, size))
        self._state = np.zeros(1)

    def _clear(self) -> None:
        self._buffer[:] = 0.0
        self._state[:] = 0.0

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        samples_per_ms = self.sample_rate * 1e-3
        delay = np.atleast_1d(np.asarray(self.glide("time_ms", frames)) * samples_per_ms)
        feedback = np.atleast_1d(np.asarray(self.glide("feedback_pct", frames)) / 100.0)
        mix = np.atleast_1d(np.asarray(self.glide("mix_pct", frames)) / 100.0)
        out = np.empty_like(block)
        feedback_delay(block, out, self._buffer, self._state, np.maximum(delay, 1.0), feedback, mix)
        return out
