"""A feedback delay line with a fractional, per-sample delay time (numba)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def feedback_delay(x: np.ndarray, out: np.ndarray, buffer: np.ndarray, state: np.ndarray,
                   delay: np.ndarray, feedback: np.ndarray, mix: np.ndarray) -> None:
    """``w[n] = x[n] + fb d[n]``, ``d[n] = w[n - D]`` (linearly interpolated), out = mix blend.

    ``delay`` (samples, >= 1), ``feedback`` and ``mix`` hold one value per
    sample or a single value.  ``buffer`` is ``(channels, 2^k)``; ``state[0]``
    is the write position.
    """
    channels, frames = x.shape
    mask = buffer.shape[1] - 1
    pos = int(state[0])
    for i in range(frames):
        d = delay[i] if delay.shape[0] > 1 else delay[0]
        fb = feedback[i] if feedback.shape[0] > 1 else feedback[0]
        m = mix[i] if mix.shape[0] > 1 else mix[0]
        whole = int(d)
        frac = d - whole
        r0 = (pos - whole) & mask
        r1 = (pos - whole - 1) & mask
        for c in range(channels):
            wet = buffer[c, r0] + frac * (buffer[c, r1] - buffer[c, r0])
            buffer[c, pos] = x[c, i] + fb * wet
            out[c, i] = x[c, i] + m * (wet - x[c, i])
        pos = (pos + 1) & mask
    state[0] = pos


class FixedDelay:
    """A whole-sample delay of ``(channels, frames)`` blocks; nothing is allocated per block.

    The returned block is a view of a buffer reused on the next call (the
    stage protocol's blocks live until the next ``process``).
    """

    def __init__(self, channels: int, delay: int, max_block: int) -> None:
        self.delay = int(delay)
        self._buffer = np.zeros((channels, self.delay + max_block))
        self._out = np.zeros((channels, max_block))

    def process(self, block: np.ndarray) -> np.ndarray:
        d = self.delay
        if d == 0:
            return block
        c, frames = block.shape
        if frames > self._out.shape[1]:  # a longer block than prepared for: grow once
            self._buffer = np.concatenate((self._buffer[:, :d], np.zeros((self._buffer.shape[0], frames))), axis=1)
            self._out = np.zeros((self._out.shape[0], frames))
        buf = self._buffer[:c]
        buf[:, d : d + frames] = block
        out = self._out[:c, :frames]
        out[:] = buf[:, :frames]
        buf[:, :d] = buf[:, frames : frames + d]  # numpy copes with the overlap when frames < d
        return out

    def reset(self) -> None:
        self._buffer.fill(0.0)
