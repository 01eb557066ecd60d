"""Loudness conformance: how close is close enough, the next gain to try, and the verdicts.

Shared by everything that brings a programme to a loudness target by passes
(the ``loudness`` stage, ``mixhost master``, ``mixhost album``) and by the
renderer, which checks a written mixdown:

* ``TOLERANCE_LU``: the aim, well inside EBU R128's ±0.2 LU for files;
* ``FILE_TOLERANCE_LU``: R128's tolerance for file-based programme;
* :func:`next_gain`: a secant step on (gain, achieved loudness);
* :func:`missed_target`: why the passes ended outside the tolerance;
* :func:`check_written`: measure a file as written and refuse a miss.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import RenderError
from .meter import LoudnessResult, measure_file
from .targets import LoudnessTarget

TOLERANCE_LU = 0.05  # aim: well inside R128's ±0.2 LU file-based tolerance
FILE_TOLERANCE_LU = 0.2  # EBU R128: a file-based programme lands within ±0.2 LU of its target
MAX_PASSES = 6
# Below this many LU per dB of extra gain the limiter takes (almost) all of it:
# the target is out of reach under the ceiling, more passes cannot help.
SATURATED_SLOPE = 0.1


def next_gain(history: list[tuple[float, float]], target_lufs: float) -> float:
    """The next gain to try: a secant step on (gain, achieved loudness), clamped.

    Without limiting, loudness follows gain 1:1; the limiter takes a share of
    any extra gain, so the slope falls below 1 and the secant finds it.
    """
    gain, achieved = history[-1]
    slope = 1.0
    if len(history) >= 2:
        previous_gain, previous = history[-2]
        if abs(gain - previous_gain) > 1e-6:
            slope = (achieved - previous) / (gain - previous_gain)
    slope = min(max(slope, 0.2), 1.0)  # loudness never grows faster than gain
    step = (target_lufs - achieved) / slope
    return gain + max(-12.0, min(12.0, step))


def check_written(path: Path, target: LoudnessTarget, name: str) -> LoudnessResult:
    """Measure a file as written; RenderError when it misses ±0.2 LU or passes the ceiling.

    The limiter's output met the target, but the file holds it after
    quantisation and dither (and any resampling), so it is the file that is
    checked.  ``name`` is the output as the user knows it.
    """
    result = measure_file(path)
    error = result.integrated_lufs - target.integrated_lufs
    if not abs(error) <= FILE_TOLERANCE_LU:
        raise RenderError(
            f"{name}: the written file measures {result.integrated_lufs:.2f} LUFS for a target of "
            f"{target.integrated_lufs:.2f} LUFS ({error:+.2f} LU, outside R128's ±{FILE_TOLERANCE_LU} LU "
            "for files); nothing was written",
            hint="a gain or fader after the loudness stage moves the level; write float to rule out quantisation",
        )
    if result.true_peak_dbtp > target.ceiling_dbtp:
        raise RenderError(
            f"{name}: the written file's true peak is {result.true_peak_dbtp:.2f} dBTP, over the "
            f"{target.ceiling_dbtp:.2f} dBTP ceiling (added after the limiter, by quantisation, dither "
            "or resampling); nothing was written",
            hint="raise the limiter's margin_db, or write float at the session's rate",
        )
    return result


def missed_target(name: str, history: list[tuple[float, float]], target: LoudnessTarget) -> RenderError:
    """Why the passes ended outside the tolerance: out of reach under the ceiling, or no convergence."""
    gain, achieved = history[-1]
    slope = math.nan
    if len(history) >= 2 and abs(gain - history[-2][0]) > 1e-6:
        slope = (achieved - history[-2][1]) / (gain - history[-2][0])
    if achieved < target.integrated_lufs and slope < SATURATED_SLOPE:
        return RenderError(
            f"{name}: {target.integrated_lufs:.2f} LUFS is out of reach under a "
            f"{target.ceiling_dbtp:.2f} dBTP ceiling: {gain:+.1f} dB of gain reaches {achieved:.2f} LUFS "
            f"and each further dB adds only {max(slope, 0.0):.2f} LU (the true-peak limiter takes it); "
            "nothing was written",
            hint="choose a lower target or a higher ceiling",
        )
    return RenderError(
        f"{name}: after {len(history)} passes the output measures {achieved:.2f} LUFS for a target of "
        f"{target.integrated_lufs:.2f} LUFS ({achieved - target.integrated_lufs:+.2f} LU, outside "
        f"±{FILE_TOLERANCE_LU} LU); nothing was written",
        hint="the limiter's gain reduction did not settle; please report this file",
    )
