"""Automation lanes: a parameter address and its (time, value) points.

Lanes are evaluated per block with ``np.interp`` (linear) or a
``searchsorted`` hold (step), so automation costs no per-sample Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .registry import Parameter

SUB_BLOCK = 64  # the coarsest step for automated stage parameters, in samples


@dataclass
class Lane:
    param: Parameter
    times_s: np.ndarray          # ascending
    values: np.ndarray           # stored (parsed) values
    interpolation: str = "linear"

    @property
    def address(self) -> str:
        return self.param.address

    def at_samples(self, positions: np.ndarray, sample_rate: float) -> np.ndarray:
        """Lane values at the given sample positions (session timeline)."""
        t = positions / sample_rate
        if self.interpolation == "step":
            index = np.searchsorted(self.times_s, t, side="right") - 1
            return self.values[np.clip(index, 0, len(self.values) - 1)]
        return np.interp(t, self.times_s, self.values)

    def block(self, start: int, frames: int, sample_rate: float) -> np.ndarray:
        """Per-sample values for the block starting at sample ``start``."""
        return self.at_samples(np.arange(start, start + frames, dtype=np.float64), sample_rate)

    def value_at(self, position: float, sample_rate: float) -> float:
        """The lane's value at one sample position: a binary search, no arrays (per-block use)."""
        t = position / sample_rate
        if self.interpolation == "step":
            index = int(np.searchsorted(self.times_s, t, side="right")) - 1
            return float(self.values[min(max(index, 0), len(self.values) - 1)])
        return float(np.interp(t, self.times_s, self.values))

    def is_constant(self, start: int, frames: int, sample_rate: float) -> bool:
        """True when the lane holds one value over [start, start + frames).

        Two binary searches count the points inside (t0, t1], so a long lane costs
        O(log n) per block and allocates nothing.
        """
        t0, t1 = start / sample_rate, (start + frames - 1) / sample_rate
        times = self.times_s
        inside = int(np.searchsorted(times, t1, side="right")) - int(np.searchsorted(times, t0, side="right"))
        if inside:
            return False
        if self.interpolation == "step":
            return True
        return self.value_at(start, sample_rate) == self.value_at(start + frames - 1, sample_rate)
