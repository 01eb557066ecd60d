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
POS, HEAD, TAIL, BOX_POS, BOX2_POS = range(5)
# float state slots
PREV_TP, RELEASED, BOX_SUM, SUSTAINED, BOX2_SUM = range(5)
AUTO_FULL_REDUCTION = 0.3
MAX_REFINEMENT = 1.1  # a parabolic peak estimate is trusted up to 10 % above its grid point  # 1 - gain (about 3 dB) sustained: full release time


@njit(cache=True, fastmath=True)
def true_peak_limit(
    x: np.ndarray, over: np.ndarray, out: np.ndarray, history: np.ndarray,
    last: np.ndarray, dq_val: np.ndarray, dq_idx: np.ndarray, box: np.ndarray, box2: np.ndarray,
    fstate: np.ndarray,
    istate: np.ndarray, ceiling: float, alpha_fast: float, alpha_slow: float,
    alpha_sustain: float, auto: bool, delay: int, window: int, refine_level: float,
) -> None:
    channels, frames = x.shape
    oversample = over.shape[1] // frames
    ring = history.shape[1] - 1  # power of two minus one
    qmask = dq_val.shape[0] - 1
    pos, head, tail = istate[POS], istate[HEAD], istate[TAIL]
    bpos, bpos2 = istate[BOX_POS], istate[BOX2_POS]
    prev_tp, r, sustained = fstate[PREV_TP], fstate[RELEASED], fstate[SUSTAINED]
    bsum, bsum2 = fstate[BOX_SUM], fstate[BOX2_SUM]
    w1, w2 = box.shape[0], box2.shape[0]
    inv1, inv2 = 1.0 / w1, 1.0 / w2
    for i in range(frames):
        n = pos
        for c in range(channels):
            history[c, n & ring] = x[c, i]
        # 1. true peak in [j, j + 1), then over [j - 1, j + 1)
        t = 0.0
        for c in range(channels):
            y_m, y_0 = last[c, 0], last[c, 1]  # the two oversampled values before this frame's
            a_m, a_0 = abs(y_m), abs(y_0)
            for k in range(i * oversample, (i + 1) * oversample):
                y_p = over[c, k]
                a_p = abs(y_p)
                if a_p > t:
                    t = a_p
                # a local extremum at y_0 that could reach the ceiling: the parabola through
                # (y_m, y_0, y_p) estimates the continuous peak the grid alone can miss
                if a_0 > refine_level and a_0 >= a_m and a_0 >= a_p:
                    curve = y_m - 2.0 * y_0 + y_p
                    if curve != 0.0:
                        vertex = abs(y_0 - (y_p - y_m) * (y_p - y_m) / (8.0 * curve))
                        if vertex > a_0 * MAX_REFINEMENT:
                            vertex = a_0 * MAX_REFINEMENT
                        if vertex > t:
                            t = vertex
                y_m, y_0, a_m, a_0 = y_0, y_p, a_0, a_p
            last[c, 0], last[c, 1] = y_m, y_0
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
        # 5. two cascaded moving averages spanning `window` samples (a triangular
        # weighting): a weighted mean of released values that all respect the
        # hold, with a gain curve whose slope has no corners, so the gain
        # modulation puts little energy near Nyquist (where meters disagree)
        bsum += r - box[bpos]
        box[bpos] = r
        bpos += 1
        if bpos == w1:
            bpos = 0
            bsum = 0.0  # recompute exactly once per lap: no drift
            for b in range(w1):
                bsum += box[b]
        m1 = 1.0 if bsum == w1 else bsum * inv1  # exact 1 at rest: neutral nulls
        bsum2 += m1 - box2[bpos2]
        box2[bpos2] = m1
        bpos2 += 1
        if bpos2 == w2:
            bpos2 = 0
            bsum2 = 0.0
            for b in range(w2):
                bsum2 += box2[b]
        g = 1.0 if bsum2 == w2 else bsum2 * inv2
        d = (n - delay - window + 1) & ring
        for c in range(channels):
            out[c, i] = history[c, d] * g
        pos += 1
    istate[POS], istate[HEAD], istate[TAIL] = pos, head, tail
    istate[BOX_POS], istate[BOX2_POS] = bpos, bpos2
    fstate[PREV_TP], fstate[RELEASED], fstate[SUSTAINED] = prev_tp, r, sustained
    fstate[BOX_SUM], fstate[BOX2_SUM] = bsum, bsum2
