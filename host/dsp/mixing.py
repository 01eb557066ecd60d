"""The strip-to-bus summing kernel: one pass over a track's block for all its destinations.

With every fader, pan and send level at rest, a strip's work is a set of
constant left/right coefficients per destination.  numpy would take two
passes per destination and temporaries; this loop reads each sample once and
adds it into every destination, which is what keeps the host's overhead over
a hand-written numpy mix small.  (Not recursive: compiled only for speed.)
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def mix_static(x: np.ndarray, frames: int, k_left: np.ndarray, k_right: np.ndarray, dests: np.ndarray,
               acc: np.ndarray, post: np.ndarray, post_left: float, post_right: float,
               write_post: bool) -> None:  # pragma: no cover - compiled
    """acc[dests[e], 0] += x_left * k_left[e]; acc[dests[e], 1] += x_right * k_right[e].

    ``x`` is (channels, n) with channels 1 (a mono source feeds both sides) or
    2.  With ``write_post`` the post-fader stereo signal is also written to
    ``post`` (for stems).
    """
    left_in = x[0]
    right_in = x[x.shape[0] - 1]
    for e in range(dests.shape[0]):  # edge by edge: contiguous rows, so the loop vectorises
        k_l = k_left[e]
        k_r = k_right[e]
        acc_l = acc[dests[e], 0]
        acc_r = acc[dests[e], 1]
        for i in range(frames):
            acc_l[i] += left_in[i] * k_l
            acc_r[i] += right_in[i] * k_r
    if write_post:
        for i in range(frames):
            post[0, i] = left_in[i] * post_left
            post[1, i] = right_in[i] * post_right
