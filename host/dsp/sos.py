"""A cascade of second-order sections whose coefficients change every few samples.

``scipy.signal.sosfilt`` takes one coefficient set per call; a gliding EQ
band needs a new set every sub-block, and one ``sosfilt`` call per sub-block
costs far more in call overhead than in filtering.  :func:`run_cascade` runs
a whole block with a coefficient set per sub-block in one compiled loop.

Each section is transposed direct form II, as in ``sosfilt``::

    y[n]  = b0 x[n] + z0
    z0    = b1 x[n] - a1 y[n] + z1
    z1    = b2 x[n] - a2 y[n]

A section whose numerator equals its denominator (b == a) passes its input
unchanged: it is skipped and its state cleared, so a band glided to neutral
rings out nothing when it comes back.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def run_cascade(x: np.ndarray, sos: np.ndarray, step: int, zi: np.ndarray, out: np.ndarray) -> None:
    """Filter ``x`` (channels, frames) into ``out``.

    ``sos`` is (sets, sections, 6): set k applies to samples [k step, (k + 1) step).
    ``zi`` is (sections, >= channels, 2), carried in place.
    """
    channels, frames = x.shape
    sets, sections = sos.shape[0], sos.shape[1]
    for c in range(channels):
        for n in range(frames):
            out[c, n] = x[c, n]
        for k in range(sets):
            start = k * step
            stop = min(start + step, frames)
            for s in range(sections):
                b0, b1, b2 = sos[k, s, 0], sos[k, s, 1], sos[k, s, 2]
                a0, a1, a2 = sos[k, s, 3], sos[k, s, 4], sos[k, s, 5]
                if b0 == a0 and b1 == a1 and b2 == a2:
                    zi[s, c, 0] = 0.0
                    zi[s, c, 1] = 0.0
                    continue
                z0, z1 = zi[s, c, 0], zi[s, c, 1]
                for n in range(start, stop):
                    xn = out[c, n]
                    y = b0 * xn + z0
                    z0 = b1 * xn - a1 * y + z1
                    z1 = b2 * xn - a2 * y
                    out[c, n] = y
                zi[s, c, 0] = z0
                zi[s, c, 1] = z1


@njit(cache=True)
def settle_identity(sos: np.ndarray, zi: np.ndarray) -> int:
    """Clear the state of every identity section of ``sos`` (sections, 6); returns how many are not."""
    active = 0
    for s in range(sos.shape[0]):
        if sos[s, 0] == sos[s, 3] and sos[s, 1] == sos[s, 4] and sos[s, 2] == sos[s, 5]:
            zi[s] = 0.0
        else:
            active += 1
    return active
