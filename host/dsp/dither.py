"""Dither and requantisation for integer PCM output.

TPDF dither: the sum of two independent uniform variables of one LSB each
(triangular, +-1 LSB), which makes the first two moments of the
requantisation error independent of the signal.  Optional noise shaping by
error feedback with the 3-tap F-weighted filter of Lipshitz, Vanderkooy and
Wannamaker (*Minimally audible noise shaping*, JAES 1991): the noise transfer
function is ``1 - 1.623 z^-1 + 0.982 z^-2 - 0.109 z^-3`` (about -12 dB at
DC, +11 dB at Nyquist), moving noise out of the ear's most sensitive band.

The output is on the grid of ``2^-(bits - 1)`` and inside ``[-1, 1 - LSB]``,
so a writer scaling by ``2^(bits - 1)`` gets exact integers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SHAPING_FIR = np.array([1.623, -0.982, 0.109])
SUPPORTED_BITS = (8, 12, 16, 20, 24)


def lsb(bits: int) -> float:
    return 2.0 ** (1 - int(bits))


def tpdf(rng: np.random.Generator, channels: int, frames: int) -> np.ndarray:
    """TPDF noise of +-1 LSB (in LSB units), ``(channels, frames)``.

    Drawn frame-major so that a stream cut into blocks of any size gets the
    same noise.
    """
    u = rng.random((frames, channels, 2))
    return np.ascontiguousarray((u[..., 0] - u[..., 1]).T)


@njit(cache=True)
def _shaped(x: np.ndarray, noise: np.ndarray, out: np.ndarray, errors: np.ndarray,
            fir: np.ndarray, step: float) -> None:
    """Error-feedback quantiser: v = x - sum h_k e[n-k]; y = Q(v + d); e = y - v."""
    channels, frames = x.shape
    taps = fir.shape[0]
    top = 1.0 - step
    for c in range(channels):
        for n in range(frames):
            v = x[c, n]
            for k in range(taps):
                v -= fir[k] * errors[c, k]
            y = np.floor((v + noise[c, n] * step) / step + 0.5) * step
            if y > top:
                y = top
            elif y < -1.0:
                y = -1.0
            e = y - v
            # a clipped sample would feed back a huge error: limit it to keep the loop stable
            if e > step:
                e = step
            elif e < -step:
                e = -step
            for k in range(taps - 1, 0, -1):
                errors[c, k] = errors[c, k - 1]
            errors[c, 0] = e
            out[c, n] = y


def dither(block: np.ndarray, bits: int, rng: np.random.Generator, shaping: bool = False,
           state: np.ndarray | None = None) -> np.ndarray:
    """Dither and requantise a ``(channels, frames)`` float block to ``bits``.

    ``state`` (``(channels, 3)``, zeros to start) carries the noise shaper's
    error memory across blocks; without it each call starts from silence.
    """
    if int(bits) not in SUPPORTED_BITS:
        raise ValueError(f"bits must be one of {SUPPORTED_BITS}, got {bits!r}")
    x = np.atleast_2d(np.asarray(block, dtype=np.float64))
    step = lsb(bits)
    noise = tpdf(rng, x.shape[0], x.shape[1])
    if not shaping:
        y = np.floor(x / step + noise + 0.5) * step
        return np.clip(y, -1.0, 1.0 - step)
    errors = state if state is not None else np.zeros((x.shape[0], len(SHAPING_FIR)))
    out = np.empty_like(x)
    _shaped(x, noise, out, errors, SHAPING_FIR, step)
    return out
