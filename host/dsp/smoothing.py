"""Parameter smoothing, so that no parameter move clicks.

A one-pole low-pass on the control signal, streamed across blocks.  Toward a
constant target its step response is closed-form, so a block is one
multiply-add over a precomputed decay table instead of a recursive filter
call.  Once the value is within ``SNAP`` of its target it snaps and costs
nothing.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

DEFAULT_TIME_S = 0.010  # 10 ms time constant: fast enough to follow a hand, slow enough not to click
SNAP = 1e-6


class Smoother:
    """Smooths one control value toward a target, block by block."""

    __slots__ = ("value", "time_s", "_a", "_decay")

    def __init__(self, value: float, time_s: float = DEFAULT_TIME_S) -> None:
        self.value = float(value)
        self.time_s = time_s
        self._a = 1.0
        self._decay = np.empty(0)

    def prepare(self, sample_rate: float, max_block: int) -> None:
        # y[n] = y[n-1] + a (x[n] - y[n-1]);  a = 1 - exp(-1 / (tau fs))
        self._a = smoothing_alpha(self.time_s, sample_rate)
        self._decay = decay_table(self._a, max_block)

    def reset(self, value: float) -> None:
        self.value = float(value)

    def next(self, target: float, frames: int) -> float | np.ndarray:
        """The value for each of the next ``frames`` samples: a scalar once settled."""
        if abs(target - self.value) < SNAP:
            self.value = float(target)
            return self.value
        if frames > len(self._decay):  # longer than prepared for: the table grows once
            self._decay = decay_table(self._a, frames)
        # y[n] - x = (1 - a)^(n+1) (y[-1] - x) for a constant target x
        y = self._decay[:frames] * (self.value - target)
        y += target
        self.value = float(y[-1])
        return y


@lru_cache(maxsize=64)
def decay_table(a: float, frames: int) -> np.ndarray:
    """(1 - a)^(n+1) for n = 0..frames-1: how much of a step is left after each sample.

    Shared, read-only: a session's smoothers mostly have the same time constant,
    and ``np.power`` over a block for each of them was most of a graph's prepare.
    """
    table = np.power(1.0 - a, np.arange(1, frames + 1, dtype=np.float64))
    table.setflags(write=False)
    return table


def smoothing_alpha(time_s: float, sample_rate: float) -> float:
    """a = 1 - exp(-1 / (tau fs)): the one-pole step of a glide with time constant tau (1: no glide)."""
    return 1.0 - math.exp(-1.0 / (time_s * sample_rate)) if time_s > 0 else 1.0
