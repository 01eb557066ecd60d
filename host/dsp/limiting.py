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
# settings slots: the limiter's values for one call (integers stored as floats)
CEILING, ALPHA_FAST, ALPHA_SLOW, ALPHA_SUSTAIN, REFINE_LEVEL, AUTO, DELAY, WINDOW = range(8)
SETTINGS = 8
AUTO_FULL_REDUCTION = 0.3  # 1 - gain (about 3 dB) sustained: full release time
MAX_REFINEMENT = 1.1  # a parabolic peak estimate is trusted up to 10 % above its grid point


@njit(cache=True, fastmath=True)
def _frame_peak(over: np.ndarray, last: np.ndarray, i: int, oversample: int, refine_level: float) -> float:
    """Step 1a: the true peak of frame ``i``'s oversampled values, over all channels.

    ``last`` holds each channel's two oversampled values before this frame.
    """
    t = 0.0
    for c in range(over.shape[0]):
        y_m, y_0 = last[c, 0], last[c, 1]
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
    return t


@njit(cache=True, fastmath=True)
def _sliding_min(dq_val: np.ndarray, dq_idx: np.ndarray, head: int, tail: int, value: float, n: int,
                 window: int) -> tuple[float, int, int]:
    """Step 3: push ``value`` (sample ``n``); the minimum of the last ``window`` values (monotonic deque)."""
    qmask = dq_val.shape[0] - 1
    while tail > head and dq_val[(tail - 1) & qmask] >= value:
        tail -= 1
    dq_val[tail & qmask] = value
    dq_idx[tail & qmask] = n
    tail += 1
    if dq_idx[head & qmask] <= n - window:
        head += 1
    return dq_val[head & qmask], head, tail


@njit(cache=True, fastmath=True)
def _release(held: float, r: float, sustained: float, auto: bool, alpha_fast: float, alpha_slow: float,
             alpha_sustain: float) -> tuple[float, float]:
    """Step 4: instant attack, one-pole release toward ``held``; program-dependent with ``auto``."""
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
    return r, sustained


@njit(cache=True, fastmath=True)
def _box_mean(box: np.ndarray, pos: int, total: float, value: float) -> tuple[float, int, float]:
    """A moving average over ``len(box)`` values: push ``value``, return (mean, pos, total)."""
    width = box.shape[0]
    total += value - box[pos]
    box[pos] = value
    pos += 1
    if pos == width:
        pos = 0
        total = 0.0  # recompute exactly once per lap: no drift
        for b in range(width):
            total += box[b]
    mean = 1.0 if total == width else total * (1.0 / width)  # exact 1 at rest: neutral nulls
    return mean, pos, total


@njit(cache=True, fastmath=True)
def true_peak_limit(
    x: np.ndarray, over: np.ndarray, out: np.ndarray, history: np.ndarray, last: np.ndarray,
    dq_val: np.ndarray, dq_idx: np.ndarray, box: np.ndarray, box2: np.ndarray,
    fstate: np.ndarray, istate: np.ndarray, settings: np.ndarray,
) -> None:
    """Limit ``x`` (oversampled copy ``over``) into ``out``, steps 1-5 of the module docstring.

    State carried across calls: the audio ``history`` ring, ``last``, the
    deque, both moving averages and ``fstate``/``istate``; ``settings`` holds
    the values for this call (see the SETTINGS slots).
    """
    channels, frames = x.shape
    oversample = over.shape[1] // frames
    ring = history.shape[1] - 1  # power of two minus one
    delay, window = int(settings[DELAY]), int(settings[WINDOW])
    ceiling, refine_level = settings[CEILING], settings[REFINE_LEVEL]
    auto = settings[AUTO] != 0.0
    alpha_fast, alpha_slow, alpha_sustain = settings[ALPHA_FAST], settings[ALPHA_SLOW], settings[ALPHA_SUSTAIN]
    pos, head, tail = istate[POS], istate[HEAD], istate[TAIL]
    bpos, bpos2 = istate[BOX_POS], istate[BOX2_POS]
    prev_tp, r, sustained = fstate[PREV_TP], fstate[RELEASED], fstate[SUSTAINED]
    bsum, bsum2 = fstate[BOX_SUM], fstate[BOX2_SUM]
    for i in range(frames):
        for c in range(channels):
            history[c, pos & ring] = x[c, i]
        # 1. true peak in [j, j + 1), then over [j - 1, j + 1)
        t = _frame_peak(over, last, i, oversample, refine_level)
        peak = t if t > prev_tp else prev_tp
        prev_tp = t
        # 2. required gain; 3. its minimum over the lookahead window
        g_req = ceiling / peak if peak > ceiling else 1.0
        held, head, tail = _sliding_min(dq_val, dq_idx, head, tail, g_req, pos, window)
        # 4. release
        r, sustained = _release(held, r, sustained, auto, alpha_fast, alpha_slow, alpha_sustain)
        # 5. two cascaded moving averages spanning `window` samples (a triangular
        # weighting): a weighted mean of released values that all respect the
        # hold, with a gain curve whose slope has no corners, so the gain
        # modulation puts little energy near Nyquist (where meters disagree)
        m1, bpos, bsum = _box_mean(box, bpos, bsum, r)
        g, bpos2, bsum2 = _box_mean(box2, bpos2, bsum2, m1)
        d = (pos - delay - window + 1) & ring
        for c in range(channels):
            out[c, i] = history[c, d] * g
        pos += 1
    istate[POS], istate[HEAD], istate[TAIL] = pos, head, tail
    istate[BOX_POS], istate[BOX2_POS] = bpos, bpos2
    fstate[PREV_TP], fstate[RELEASED], fstate[SUSTAINED] = prev_tp, r, sustained
    fstate[BOX_SUM], fstate[BOX2_SUM] = bsum, bsum2
