"""The block-level NaN/Inf check every stage and the live guard make.

One compiled pass that sums the block: any NaN or Inf makes the sum
non-finite, and so does a sum that overflows (values near 1e308), which the
stages treat the same way.  ``np.sum`` gives the same answer but costs
several microseconds of Python wrapping per call, paid by every stage in
every block of the live callback.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def is_finite(block: np.ndarray) -> bool:  # pragma: no cover - compiled
    """True when the sum of ``block`` (any shape) is finite."""
    total = 0.0
    for value in block.flat:
        total += value
    return math.isfinite(total)
