"""Compiled per-sample kernels of the dynamics processors.

Level detection and gain smoothing are recursive, so they run as numba
``@njit(cache=True)`` loops.  The compressor and expander follow D. Giannoulis,
M. Massberg and J. D. Reiss, *Digital Dynamic Range Compressor Design - A
Tutorial and Analysis*, JAES 60(6), 2012: a log-domain gain computer with a
quadratic soft knee (their eq. 4) followed by the smooth *branching* peak
detector on the gain reduction (their eq. 17), which keeps the attack and
release time constants exact.

Every one-pole update is written ``y = x + a (y - x)`` so that a detector
resting at its target stays bit-exact (neutral settings null).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

LOG_FLOOR = 1e-30
DB_PER_NEPER = 20.0 / math.log(10.0)
_NEPER_PER_DB = math.log(10.0) / 20.0
_SNAP_DB = 1e-9  # a gain reduction below this is exactly zero


@njit(cache=True, fastmath=True)
def _level(det: np.ndarray, n: int, rms: bool, ms: float, rms_alpha: float) -> tuple[float, float]:
    """Linked detector level at sample n: max |x| of the channels, or the running RMS.

    Returns (linear amplitude, mean square state); the caller takes the
    logarithm only when the level can matter, which saves most of them.
    """
    channels = det.shape[0]
    if rms:
        s = 0.0
        for c in range(channels):
            s += det[c, n] * det[c, n]
        s /= channels
        ms = s + rms_alpha * (ms - s)
        return math.sqrt(ms), ms
    p = 0.0
    for c in range(channels):
        v = abs(det[c, n])
        if v > p:
            p = v
    return p, ms


@njit(cache=True, fastmath=True)
def compressor_reduction_db(x_g: float, threshold: float, ratio: float, knee: float) -> float:
    """Static gain computer (Giannoulis eq. 4): x_G - y_G, the reduction in dB (>= 0)."""
    over = x_g - threshold
    if 2.0 * over <= -knee:
        return 0.0
    if knee > 0.0 and 2.0 * abs(over) <= knee:
        t = over + 0.5 * knee
        return (1.0 - 1.0 / ratio) * t * t / (2.0 * knee)
    return over * (1.0 - 1.0 / ratio)


@njit(cache=True, fastmath=True)
def expander_reduction_db(x_g: float, threshold: float, ratio: float, knee: float,
                          range_db: float) -> float:
    """Downward expander: slope ``ratio`` below the threshold, quadratic knee, reduction capped."""
    under = x_g - threshold
    if 2.0 * under >= knee:
        return 0.0
    if knee > 0.0 and 2.0 * abs(under) <= knee:
        t = under - 0.5 * knee
        r = (ratio - 1.0) * t * t / (2.0 * knee)
    else:
        r = -under * (ratio - 1.0)
    return min(r, range_db)


@njit(cache=True, fastmath=True)
def compressor(det: np.ndarray, audio: np.ndarray, out: np.ndarray, makeup: np.ndarray,
               state: np.ndarray, threshold: float, ratio: float, knee: float,
               alpha_attack: float, alpha_release: float, rms: bool, rms_alpha: float,
               expander: bool, range_db: float) -> None:
    """Detect on ``det``, write ``audio * gain`` into ``out``; ``state = [y_L, mean square]``.

    ``makeup`` holds linear gains: one per sample, or a single value.
    For an expander, 'attack' is the opening (reduction falling) branch.
    """
    channels, frames = audio.shape
    y_l = state[0]
    ms = state[1]
    per_sample = makeup.shape[0] > 1
    # a compressor cannot reduce below the knee's foot; an expander not above its top
    quiet = 10.0 ** ((threshold - 0.5 * knee) / 20.0)
    loud = 10.0 ** ((threshold + 0.5 * knee) / 20.0)
    for n in range(frames):
        level, ms = _level(det, n, rms, ms, rms_alpha)
        if expander:
            if level >= loud:
                x_l = 0.0
            else:
                x_g = 20.0 * math.log10(level + LOG_FLOOR)
                x_l = expander_reduction_db(x_g, threshold, ratio, knee, range_db)
            a = alpha_attack if x_l < y_l else alpha_release
        else:
            if level <= quiet:
                x_l = 0.0
            else:
                x_l = compressor_reduction_db(20.0 * math.log10(level), threshold, ratio, knee)
            a = alpha_attack if x_l > y_l else alpha_release
        y_l = x_l + a * (y_l - x_l)  # Giannoulis eq. 17 (smooth branching)
        if y_l < _SNAP_DB:
            y_l = 0.0
        g = makeup[n] if per_sample else makeup[0]
        if y_l > 0.0:
            g *= math.exp(-y_l * _NEPER_PER_DB)
        for c in range(channels):
            out[c, n] = audio[c, n] * g
    state[0] = y_l
    state[1] = ms


@njit(cache=True, fastmath=True)
def gate(det: np.ndarray, audio: np.ndarray, out: np.ndarray, state: np.ndarray,
         open_level: float, close_level: float, floor: float, hold_samples: int,
         alpha_attack: float, alpha_release: float) -> None:
    """Gate with hysteresis and hold; ``state = [gain, hold counter, open]``.

    Opens when the linked peak reaches ``open_level``; after the level falls
    below ``close_level`` it stays open for ``hold_samples``, then closes to
    ``floor``.  The gain moves with one-pole attack (opening) and release.
    """
    channels, frames = audio.shape
    g = state[0]
    hold = int(state[1])
    is_open = state[2] >= 0.5
    for n in range(frames):
        p = 0.0
        for c in range(det.shape[0]):
            v = abs(det[c, n])
            if v > p:
                p = v
        if p >= open_level or (is_open and p >= close_level):
            is_open = True
            hold = hold_samples
        elif is_open:
            if hold > 0:
                hold -= 1
            else:
                is_open = False
        target = 1.0 if is_open else floor
        a = alpha_attack if target > g else alpha_release
        g = target + a * (g - target)
        for c in range(channels):
            out[c, n] = audio[c, n] * g
    state[0] = g
    state[1] = hold
    state[2] = 1.0 if is_open else 0.0
