"""Parameter smoothing, so that no parameter move clicks.

A one-pole low-pass on the control signal (run by ``scipy.signal.lfilter``
with carried state, so it is vectorised and streams across blocks).  Once the
value is within ``SNAP`` of its target it snaps and costs nothing.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

DEFAULT_TIME_S = 0.010  # 10 ms time constant: fast enough to follow a hand, slow enough not to click
SNAP = 1e-6


class Smoother:
    """Smooths one control value toward a target, block by block."""

    __slots__ = ("value", "time_s", "_a", "_buffer")

    def __init__(self, value: float, time_s: float = DEFAULT_TIME_S) -> None:
        self.value = float(value)
        self.time_s = time_s
        self._a = 1.0
        self._buffer = np.empty(0)

    def prepare(self, sample_rate: float, max_block: int) -> None:
        # y[n] = y[n-1] + a (x[n] - y[n-1]);  a = 1 - exp(-1 / (tau fs))
        self._a = 1.0 - math.exp(-1.0 / (self.time_s * sample_rate)) if self.time_s > 0 else 1.0
        self._buffer = np.empty(max_block)

    def reset(self, value: float) -> None:
        self.value = float(value)

    def is_settled(self, target: float) -> bool:
        return abs(target - self.value) < SNAP

    def next(self, target: float, frames: int) -> float | np.ndarray:
        """The value for each of the next ``frames`` samples: a scalar once settled."""
        if abs(target - self.value) < SNAP:
            self.value = float(target)
            return self.value
        a = self._a
        x = self._buffer[:frames] if frames <= len(self._buffer) else np.empty(frames)
        x.fill(target)
        y, _ = lfilter([a], [1.0, a - 1.0], x, zi=[(1.0 - a) * self.value])
        self.value = float(y[-1])
        return y
