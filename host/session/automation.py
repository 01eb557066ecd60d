"""Automation lanes: a parameter address and its (time, value) points.

Lanes are evaluated per block with ``np.interp`` (linear) or a
``searchsorted`` hold (step), so automation costs no per-sample Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..registry import Parameter, Registry

JUMP_S = 0.010  # a jump in a linear lane (two points at one time) ramps over this long, like a smoothed step


def soften_jumps(times_s: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A linear lane's vertical jumps as short ramps, so a jump written into a lane never clicks.

    Points sharing a time become the value before and the value after (the
    ones between are never heard); the ramp starts at that time and takes
    JUMP_S, or half the gap to the next point if that is shorter.  A lane of
    a few points, so a loop over points, not samples.
    """
    if len(times_s) < 2 or not bool(np.any(np.diff(times_s) == 0.0)):
        return times_s, values
    times, out = [float(times_s[0])], [float(values[0])]
    for index in range(1, len(times_s)):
        t, value = float(times_s[index]), float(values[index])
        if len(times) >= 2 and times[-1] == times[-2] == t:
            out[-1] = value  # a third point at the same time: only the last one lands
            continue
        times.append(t)
        out.append(value)
    for index in range(1, len(times)):
        if times[index] == times[index - 1]:
            # at most two points share a time now, so the next point is later
            gap = (times[index + 1] - times[index]) / 2 if index + 1 < len(times) else JUMP_S
            times[index] += min(JUMP_S, gap)
    return np.array(times), np.array(out)


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


LaneData = tuple[str, np.ndarray, np.ndarray, str]  # address, times, values, interpolation: picklable


def lanes_data(lanes: list[Lane]) -> list[LaneData]:
    """Lanes as plain data, for a process that rebuilds them in a registry of its own."""
    return [(lane.address, lane.times_s.copy(), lane.values.copy(), lane.interpolation) for lane in lanes]


def lanes_from(registry: Registry, data: list[LaneData]) -> list[Lane]:
    """The lanes :func:`lanes_data` described, on ``registry``'s parameters."""
    return [Lane(registry.param(address), times, values, interpolation)
            for address, times, values, interpolation in data]
