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
from numba import float64, njit

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
def _compress_span(det: np.ndarray, audio: np.ndarray, out: np.ndarray, start: int, stop: int,
                   makeup: np.ndarray, per_sample: bool, state: np.ndarray, threshold: float,
                   ratio: float, knee: float, alpha_attack: float, alpha_release: float, rms: bool,
                   rms_alpha: float, expander: bool, range_db: float) -> None:
    """Samples start..stop of the detector and gain stage, with constant coefficients.

    ``makeup`` holds linear gains: ``makeup[n]`` per sample, or ``makeup[0]``.
    """
    channels = audio.shape[0]
    y_l = state[0]
    ms = state[1]
    # a compressor cannot reduce below the knee's foot; an expander not above its top
    quiet = 10.0 ** ((threshold - 0.5 * knee) / 20.0)
    loud = 10.0 ** ((threshold + 0.5 * knee) / 20.0)
    for n in range(start, stop):
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
def compressor(det: np.ndarray, audio: np.ndarray, out: np.ndarray, makeup: np.ndarray,
               state: np.ndarray, threshold: float, ratio: float, knee: float,
               alpha_attack: float, alpha_release: float, rms: bool, rms_alpha: float,
               expander: bool, range_db: float) -> None:
    """Detect on ``det``, write ``audio * gain`` into ``out``; ``state = [y_L, mean square]``.

    ``makeup`` holds linear gains: one per sample, or a single value.
    For an expander, 'attack' is the opening (reduction falling) branch.
    """
    _compress_span(det, audio, out, 0, audio.shape[1], makeup, makeup.shape[0] > 1, state, threshold,
                   ratio, knee, alpha_attack, alpha_release, rms, rms_alpha, expander, range_db)


@njit(float64(float64, float64), cache=True)  # typed: ints from Python convert, one compile
def one_pole_coefficient(time_ms: float, sample_rate: float) -> float:
    """alpha = exp(-1 / (tau fs)): the per-sample decay of a one-pole with time constant tau (ms).

    Compiled, so the block kernels call it too; the stages call it from Python.
    """
    return math.exp(-1.0 / (max(time_ms, 1e-6) * 1e-3 * sample_rate))


@njit(cache=True)
def _at(settled: np.ndarray, landed: np.ndarray, ramps: np.ndarray, i: int, n: int) -> float:
    """Glide i's value at sample n of this block (its target once it has landed)."""
    return landed[i] if settled[i] else ramps[i, n]


@njit(cache=True)
def compressor_glide(det: np.ndarray, audio: np.ndarray, out: np.ndarray, state: np.ndarray,
                     settled: np.ndarray, landed: np.ndarray, ramps: np.ndarray, rows: np.ndarray,
                     makeup: np.ndarray, sample_rate: float, rms: bool, expander: bool,
                     sub_block: int) -> None:
    """A whole block of a compressor or expander whose settings may glide, in one call.

    ``settled``, ``landed`` and ``ramps`` are the stage's glide state
    (``NativeStage.glide_state``); ``rows`` indexes it for threshold, ratio,
    knee, attack, release, then rms_ms (compressor) or range_db (expander),
    then makeup_db (-1: none).  While any of the first six glides,
    coefficients follow them once per ``sub_block`` samples, valued at the
    sub-block's first sample, as ``NativeStage.segments`` does.  ``makeup`` is scratch for the linear
    makeup gains (at least one per frame).
    """
    frames = audio.shape[1]
    m = rows[6]
    per_sample = m >= 0 and not settled[m]
    if per_sample:
        for n in range(frames):
            makeup[n] = 10.0 ** (ramps[m, n] / 20.0)
    else:
        makeup[0] = 10.0 ** (landed[m] / 20.0) if m >= 0 else 1.0
    step = frames  # settled coefficients: one span for the whole block
    for k in range(6):
        if not settled[rows[k]]:
            step = sub_block
    for start in range(0, frames, max(step, 1)):
        threshold = _at(settled, landed, ramps, rows[0], start)
        ratio = _at(settled, landed, ramps, rows[1], start)
        knee = _at(settled, landed, ramps, rows[2], start)
        attack = one_pole_coefficient(_at(settled, landed, ramps, rows[3], start), sample_rate)
        release = one_pole_coefficient(_at(settled, landed, ramps, rows[4], start), sample_rate)
        extra = _at(settled, landed, ramps, rows[5], start)
        _compress_span(det, audio, out, start, min(start + step, frames), makeup, per_sample, state,
                       threshold, ratio, knee, attack, release, rms,
                       0.0 if expander else one_pole_coefficient(extra, sample_rate),
                       expander, extra if expander else 0.0)


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
