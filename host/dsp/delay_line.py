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
