"""Block levels for meters: peak and sum of squares per channel, in one compiled pass.

Run per strip per block in the audio thread: numpy would allocate a
temporary for ``abs`` and another for the square, so the pass is compiled
and writes into a row the caller preallocated.  (Not recursive: compiled only
to keep allocation out of the audio thread.)
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def block_levels(x: np.ndarray, frames: int, peak: np.ndarray, square: np.ndarray) -> None:  # pragma: no cover
    """peak[c] = max |x[c, :frames]|; square[c] = sum x[c, :frames]**2, for each row c of ``x``."""
    for c in range(x.shape[0]):
        top = 0.0
        total = 0.0
        row = x[c]
        for i in range(frames):
            v = row[i]
            a = abs(v)
            if a > top:
                top = a
            total += v * v
        peak[c] = top
        square[c] = total
