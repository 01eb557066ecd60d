"""The compiled gain computer of the true-peak brickwall limiter.

Input: the audio (input gain applied) and its oversampled copy from
:class:`host.dsp.true_peak.TruePeakDetector`, whose interpolator delays by
``D`` samples: the ``os`` values at sample ``n`` cover ``[j, j + 1)`` for
``j = n - D``.  Then, in one numba loop with state
carried across blocks:

1. the peak constraining sample ``j`` is the maximum over ``[j - 1, j + 1)``,
   so both samples bounding an inter-sample peak are held down;
2. required gain ``g_req = min(1, ceiling / peak)``;
3. lookahead hold: the minimum of ``g_req`` over the last ``W`` samples
   (monotonic deque);
4. release: instant attack, one-pole release toward the held value (never
   above the hold);
5. attack ramp: the moving average of the last ``W`` released values.  Every
   value averaged into the gain of sample ``j`` (output ``W - 1`` samples
   after it was detected) already includes ``g_req[j]``, so the average never
   exceeds it: the gain meets each peak's requirement by the time the peak is
   output, along a smooth ramp of ``W`` samples.

The audio comes out ``D + W - 1`` samples late, meeting its gain.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# integer state slots
POS, HEAD, TAIL, BOX_POS = range(4)
# float state slots
PREV_TP, RELEASED, BOX_SUM, SUSTAINED = range(4)
AUTO_FULL_REDUCTION = 0.3  # 1 - gain (about 3 dB) sustained: full release time


@njit(cache=True)
def true_peak_limit(
    x: np.ndarray, over: np.ndarray, out: np.ndarray, history: np.ndarray,
    dq_val: np.ndarray, dq_idx: np.ndarray, box: np.ndarray, fstate: np.ndarray,
    istate: np.ndarray, ceiling: float, alpha_fast: float, alpha_slow: float,
    alpha_sustain: float, auto: bool, delay: int, window: int,
) -> None:
    channels, frames = x.shape
    oversample = over.shape[1] // frames
    ring = history.shape[1] - 1  # power of two minus one
    qmask = dq_val.shape[0] - 1
    pos, head, tail, bpos = istate[POS], istate[HEAD], istate[TAIL], istate[BOX_POS]
    prev_tp, r, bsum, sustained = fstate[PREV_TP], fstate[RELEASED], fstate[BOX_SUM], fstate[SUSTAINED]
    inv_w = 1.0 / window
    for i in range(frames):
        n = pos
        for c in range(channels):
            history[c, n & ring] = x[c, i]
        # 1. true peak in [j, j + 1), then over [j - 1, j + 1)
        t = 0.0
        for c in range(channels):
            for k in range(i * oversample, (i + 1) * oversample):
                v = abs(over[c, k])
                if v > t:
                    t = v
        peak = t if t > prev_tp else prev_tp
        prev_tp = t
        # 2. required gain
        g_req = ceiling / peak if peak > ceiling else 1.0
        # 3. sliding minimum over the last `window` values (monotonic deque)
        while tail > head and dq_val[(tail - 1) & qmask] >= g_req:
            tail -= 1
        dq_val[tail & qmask] = g_req
        dq_idx[tail & qmask] = n
        tail += 1
        if dq_idx[head & qmask] <= n - window:
            head += 1
        held = dq_val[head & qmask]
        # 4. instant attack, (program-dependent) one-pole release
        if held < r:
            r = held
        else:
            a = alpha_slow
            if auto:
                w = sustained / AUTO_FULL_REDUCTION
                a = alpha_fast + (alpha_slow - alpha_fast) * (w if w < 1.0 else 1.0)
            r = held + a * (r - held)
        if auto:
            sustained = (1.0 - r) + alpha_sustain * (sustained - (1.0 - r))
        # 5. moving average of the last `window` released values
        bsum += r - box[bpos]
        box[bpos] = r
        bpos += 1
        if bpos == window:
            bpos = 0
            bsum = 0.0  # recompute exactly once per window: no drift
            for b in range(window):
                bsum += box[b]
        g = bsum * inv_w
        d = (n - delay - window + 1) & ring
        for c in range(channels):
            out[c, i] = history[c, d] * g
        pos += 1
    istate[POS], istate[HEAD], istate[TAIL], istate[BOX_POS] = pos, head, tail, bpos
    fstate[PREV_TP], fstate[RELEASED], fstate[BOX_SUM], fstate[SUSTAINED] = prev_tp, r, bsum, sustained
