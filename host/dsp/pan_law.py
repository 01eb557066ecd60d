"""Pan laws: the left/right gains for a pan position p in -1..+1.

For a mono source the law sets the centre attenuation:

* ``-3db``   constant power, L = cos(theta), R = sin(theta), theta = (p+1) pi/4
* ``-4.5db`` the geometric mean of constant power and linear
* ``-6db``   linear crossfade, L = (1-p)/2, R = (1+p)/2
* ``linear`` 0 dB at centre: the far side fades linearly, the near side stays at unity

A stereo source is balanced instead: each side is the law's gain divided
by its centre gain, capped at unity, so the centre leaves the source as it
is and a hard pan silences the other side.
"""

from __future__ import annotations

import numpy as np

PAN_LAWS = ("-3db", "-4.5db", "-6db", "linear")


def mono_gains(pan: float | np.ndarray, law: str) -> tuple[np.ndarray, np.ndarray]:
    """Left and right gains for a mono source panned to ``pan``."""
    p = np.clip(np.asarray(pan, dtype=np.float64), -1.0, 1.0)
    x = (p + 1.0) * 0.5  # 0 = hard left, 1 = hard right
    if law == "-3db":
        theta = x * (np.pi / 2)
        return np.cos(theta), np.sin(theta)
    if law == "-4.5db":
        theta = x * (np.pi / 2)
        return np.sqrt((1.0 - x) * np.cos(theta)), np.sqrt(x * np.sin(theta))
    if law == "-6db":
        return 1.0 - x, x
    if law == "linear":
        return np.minimum(1.0, 1.0 - p), np.minimum(1.0, 1.0 + p)
    raise ValueError(f"unknown pan law {law!r}; expected one of {', '.join(PAN_LAWS)}")


def balance_gains(pan: float | np.ndarray, law: str) -> tuple[np.ndarray, np.ndarray]:
    """Left and right gains for a stereo source balanced to ``pan``."""
    left, right = mono_gains(pan, law)
    centre_l, centre_r = mono_gains(0.0, law)
    return np.minimum(1.0, left / centre_l), np.minimum(1.0, right / centre_r)
