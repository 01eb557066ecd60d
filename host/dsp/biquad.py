"""Second-order sections for equalisers and crossovers.

Bell, shelves, notch, band-pass and all-pass follow Robert Bristow-Johnson's
*Audio EQ Cookbook* (bilinear transform with the analogue prototype's centre
frequency pre-warped).  High- and low-pass filters of order 1..8 are
Butterworth cascades (pole angles of the analogue prototype) and
Linkwitz-Riley filters are two identical Butterworth cascades in series.

Every design returns an ``(n_sections, 6)`` array in ``scipy.signal.sosfilt``
layout ``[b0, b1, b2, 1, a1, a2]``, already normalised by ``a0``.

All formulas live in one compiled kernel, :func:`_design_kernel`, which fills
the sections of n value sets into a preallocated ``(n, n_sections, 6)``
array.  A gliding band needs a coefficient set every sub-block inside the
audio callback, where a numpy pass per formula (or a Python call per set)
costs more than the filtering; the scalar designs are the same kernel with
n = 1.  Argument checks stay in Python, before the kernel runs.
"""

from __future__ import annotations

import math
from functools import cache
from typing import NamedTuple

import numpy as np
from numba import njit, types

IDENTITY = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])

BELL, LOW_SHELF, HIGH_SHELF, HIGH_PASS, LOW_PASS, NOTCH, BAND_PASS, ALL_PASS = (
    "bell", "low_shelf", "high_shelf", "highpass", "lowpass", "notch", "bandpass", "allpass",
)
BAND_TYPES = (BELL, LOW_SHELF, HIGH_SHELF, HIGH_PASS, LOW_PASS, NOTCH, BAND_PASS)
SHAPES = ("butterworth", "linkwitz_riley")
SLOPES_DB = (6, 12, 18, 24, 30, 36, 42, 48)

# the integer band codes the kernel branches on
_BELL, _LOW_SHELF, _HIGH_SHELF, _NOTCH, _BAND_PASS, _ALL_PASS, _HIGH_PASS, _LOW_PASS = range(8)
_CODES = {
    BELL: _BELL, LOW_SHELF: _LOW_SHELF, HIGH_SHELF: _HIGH_SHELF, NOTCH: _NOTCH,
    BAND_PASS: _BAND_PASS, ALL_PASS: _ALL_PASS, HIGH_PASS: _HIGH_PASS, LOW_PASS: _LOW_PASS,
}


# -- the compiled kernel ----------------------------------------------------------------------------
@njit(cache=True)
def _w0(freq_hz: float, sample_rate: float) -> float:
    # keep the centre strictly inside (0, Nyquist) so tan() stays finite
    f = min(max(freq_hz, 1e-3), 0.4999 * sample_rate)
    return 2.0 * math.pi * f / sample_rate


@njit(cache=True)
def _put(out: np.ndarray, i: int, s: int,
         b0: float, b1: float, b2: float, a0: float, a1: float, a2: float) -> None:
    """Section ``s`` of set ``i``, normalised so that a0 = 1 as sosfilt expects."""
    out[i, s, 0] = b0 / a0
    out[i, s, 1] = b1 / a0
    out[i, s, 2] = b2 / a0
    out[i, s, 3] = 1.0
    out[i, s, 4] = a1 / a0
    out[i, s, 5] = a2 / a0


@njit(cache=True)
def _shelf(low: bool, a: float, cw: float, k: float, out: np.ndarray, i: int) -> None:
    """Cookbook shelves, ``k = 2 sqrt(A) alpha``.

    lowShelf:  H(s) = A (s^2 + (sqrt(A)/Q) s + A) / (A s^2 + (sqrt(A)/Q) s + 1)
    highShelf: H(s) = A (A s^2 + (sqrt(A)/Q) s + 1) / (s^2 + (sqrt(A)/Q) s + A)

    The cookbook's high-shelf coefficients are its low-shelf ones with cos(w0)
    negated and b1, a1 negated (the substitution z -> -z), so one formula serves both.
    """
    c = cw if low else -cw
    sign = 1.0 if low else -1.0
    _put(out, i, 0,
         a * ((a + 1) - (a - 1) * c + k),
         sign * 2 * a * ((a - 1) - (a + 1) * c),
         a * ((a + 1) - (a - 1) * c - k),
         (a + 1) + (a - 1) * c + k,
         sign * -2 * ((a - 1) + (a + 1) * c),
         (a + 1) + (a - 1) * c - k)


@njit(cache=True)
def _cookbook(code: int, w0: float, gain_db: float, q: float, out: np.ndarray, i: int) -> None:
    """The one-section cookbook bands; A = 10^(dB/40), alpha = sin(w0) / (2 Q)."""
    cw = math.cos(w0)
    alpha = math.sin(w0) / (2.0 * q)
    c = -2.0 * cw
    if code == _NOTCH:  # H(s) = (s^2 + 1) / (s^2 + s/Q + 1)
        _put(out, i, 0, 1.0, c, 1.0, 1.0 + alpha, c, 1.0 - alpha)
    elif code == _BAND_PASS:  # 0 dB peak gain: H(s) = (s/Q) / (s^2 + s/Q + 1)
        _put(out, i, 0, alpha, 0.0, -alpha, 1.0 + alpha, c, 1.0 - alpha)
    elif code == _ALL_PASS:  # H(s) = (s^2 - s/Q + 1) / (s^2 + s/Q + 1)
        _put(out, i, 0, 1.0 - alpha, c, 1.0 + alpha, 1.0 + alpha, c, 1.0 - alpha)
    else:
        a = 10.0 ** (gain_db / 40.0)
        if code == _BELL:  # peakingEQ: H(s) = (s^2 + s A/Q + 1) / (s^2 + s/(A Q) + 1)
            _put(out, i, 0, 1.0 + alpha * a, c, 1.0 - alpha * a, 1.0 + alpha / a, c, 1.0 - alpha / a)
        else:
            _shelf(code == _LOW_SHELF, a, cw, 2.0 * math.sqrt(a) * alpha, out, i)


@njit(types.float64(types.int64, types.int64), cache=True)
def _pole_pair_q(order: int, k: int) -> float:
    """Q of the k-th (1-based) conjugate pole pair of an analogue Butterworth filter.

    Poles sit at angles theta_k = (2k - 1) pi / (2N) from the negative real
    axis for even N and theta_k = k pi / N for odd N (whose remaining pole is
    real); a pair at angle theta has Q = 1 / (2 cos theta).
    """
    odd = order % 2
    return 1.0 / (2.0 * math.cos((2 * k - 1 + odd) * math.pi / (2 * order)))


@njit(cache=True)
def _butterworth(high: bool, w0: float, order: int, out: np.ndarray, i: int) -> int:
    """Butterworth cascade of ``order`` into set ``i`` from section 0; returns its section count.

    Pole pairs are cookbook LPF/HPF sections, H(s) = 1 / (s^2 + s/Q + 1) and
    s^2 / (s^2 + s/Q + 1); an odd order ends with the bilinear transform of
    1 / (s + 1) (or s / (s + 1)) with K = tan(w0 / 2).
    """
    cw, sw = math.cos(w0), math.sin(w0)
    if high:
        b0, b1 = (1.0 + cw) / 2.0, -(1.0 + cw)
    else:
        b0, b1 = (1.0 - cw) / 2.0, 1.0 - cw
    pairs = order // 2
    for s in range(pairs):
        alpha = sw / (2.0 * _pole_pair_q(order, s + 1))
        _put(out, i, s, b0, b1, b0, 1.0 + alpha, -2.0 * cw, 1.0 - alpha)
    if order % 2 == 0:
        return pairs
    k = math.tan(0.5 * w0)
    if high:
        _put(out, i, pairs, 1.0, -1.0, 0.0, 1.0 + k, k - 1.0, 0.0)
    else:
        _put(out, i, pairs, k, k, 0.0, 1.0 + k, k - 1.0, 0.0)
    return pairs + 1


@njit(cache=True)
def design_set(code: int, order: int, linkwitz_riley: bool, freq_hz: float, gain_db: float, q: float,
               sample_rate: float, out: np.ndarray, i: int) -> None:  # pragma: no cover - compiled
    """One value set's sections into set ``i`` of ``out`` (for other compiled kernels to call)."""
    w0 = _w0(freq_hz, sample_rate)
    if code in (_HIGH_PASS, _LOW_PASS):
        count = _butterworth(code == _HIGH_PASS, w0, order, out, i)
        if linkwitz_riley:  # the same cascade again, in series
            for s in range(count):
                for j in range(6):
                    out[i, count + s, j] = out[i, s, j]
    else:
        _cookbook(code, w0, gain_db, q, out, i)


_VALUES = types.Array(types.float64, 1, "A", readonly=True)
_SETS = types.Array(types.float64, 3, "A")


# An explicit signature with any-layout arrays: one compiled version serves contiguous,
# strided and read-only inputs alike, compiled (or loaded from the cache) at import.  The EQ's
# audio path calls design_set from its own kernel instead.
@njit(types.void(types.int64, _VALUES, _VALUES, _VALUES, types.float64, types.int64,
                 types.boolean, _SETS), cache=True)
def _design_kernel(code: int, freq_hz: np.ndarray, gain_db: np.ndarray, q: np.ndarray,
                   sample_rate: float, order: int, linkwitz_riley: bool, out: np.ndarray) -> None:
    """Sections of ``freq_hz.shape[0]`` value sets into ``out`` (sets, sections, 6).

    ``gain_db`` and ``q`` hold one value per set, or a single value shared by
    every set.  ``order`` is the Butterworth order of a high/low-pass (unused
    by the other bands); a Linkwitz-Riley filter repeats that cascade.
    """
    gain_step = 1 if gain_db.shape[0] > 1 else 0
    q_step = 1 if q.shape[0] > 1 else 0
    for i in range(freq_hz.shape[0]):
        design_set(code, order, linkwitz_riley, freq_hz[i], gain_db[i * gain_step], q[i * q_step],
                   sample_rate, out, i)


# -- checks and thin wrappers -----------------------------------------------------------------------
class Layout(NamedTuple):
    """What the kernel needs to know of a band's shape."""

    code: int
    order: int            # Butterworth order of one cascade; 0 for the cookbook bands
    linkwitz_riley: bool
    sections: int


def _cascade_sections(order: int, linkwitz_riley: bool) -> int:
    per_cascade = (order + 1) // 2
    return 2 * per_cascade if linkwitz_riley else per_cascade


@cache  # the audio thread asks for the same few layouts every sub-block; errors are not cached
def layout(band_type: str, slope_db: int, shape: str) -> Layout:
    code = _CODES.get(band_type)
    if code is None:
        raise ValueError(f"unknown band type {band_type!r}")
    if code not in (_HIGH_PASS, _LOW_PASS):
        return Layout(code, 0, False, 1)
    order = slope_sections_order(slope_db, shape)
    if shape == "linkwitz_riley":
        return Layout(code, order // 2, True, _cascade_sections(order // 2, True))
    return Layout(code, order, False, _cascade_sections(order, False))


def _one(shape: Layout, freq_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """The kernel for a single value set: ``(n_sections, 6)``."""
    # one small array sliced three ways: the cheapest way to hand three floats to the kernel
    values = np.array((freq_hz, gain_db, q), dtype=np.float64)
    out = np.empty((1, shape.sections, 6))
    _design_kernel(shape.code, values[0:1], values[1:2], values[2:3], float(sample_rate),
                   shape.order, shape.linkwitz_riley, out)
    return out[0]


def bell(freq_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook peakingEQ: H(s) = (s^2 + s A/Q + 1) / (s^2 + s/(A Q) + 1), A = 10^(dB/40)."""
    return _one(layout(BELL, 12, "butterworth"), freq_hz, gain_db, q, sample_rate)


def low_shelf(freq_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook lowShelf: H(s) = A (s^2 + (sqrt(A)/Q) s + A) / (A s^2 + (sqrt(A)/Q) s + 1)."""
    return _one(layout(LOW_SHELF, 12, "butterworth"), freq_hz, gain_db, q, sample_rate)


def high_shelf(freq_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook highShelf: H(s) = A (A s^2 + (sqrt(A)/Q) s + 1) / (s^2 + (sqrt(A)/Q) s + A)."""
    return _one(layout(HIGH_SHELF, 12, "butterworth"), freq_hz, gain_db, q, sample_rate)


def notch(freq_hz: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook notch: H(s) = (s^2 + 1) / (s^2 + s/Q + 1)."""
    return _one(layout(NOTCH, 12, "butterworth"), freq_hz, 0.0, q, sample_rate)


def band_pass(freq_hz: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook BPF with 0 dB peak gain: H(s) = (s/Q) / (s^2 + s/Q + 1)."""
    return _one(layout(BAND_PASS, 12, "butterworth"), freq_hz, 0.0, q, sample_rate)


def all_pass(freq_hz: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook APF: H(s) = (s^2 - s/Q + 1) / (s^2 + s/Q + 1)."""
    return _one(layout(ALL_PASS, 12, "butterworth"), freq_hz, 0.0, q, sample_rate)


def butterworth_qs(order: int) -> list[float]:
    """Q of each conjugate pole pair of an analogue Butterworth filter of this order."""
    return [_pole_pair_q(order, k) for k in range(1, order // 2 + 1)]


def butterworth(freq_hz: float, order: int, sample_rate: float, high: bool) -> np.ndarray:
    """Butterworth high- or low-pass of ``order`` (1..16) as second-order sections."""
    if order < 1:
        raise ValueError("filter order must be at least 1")
    order = int(order)
    cascade = Layout(_HIGH_PASS if high else _LOW_PASS, order, False, _cascade_sections(order, False))
    return _one(cascade, freq_hz, 0.0, 1.0, sample_rate)


def pass_filter(freq_hz: float, slope_db: int, shape: str, sample_rate: float, high: bool) -> np.ndarray:
    """High/low-pass of 6..48 dB/oct; Linkwitz-Riley = two Butterworth of half the order."""
    return _one(layout(HIGH_PASS if high else LOW_PASS, slope_db, shape), freq_hz, 0.0, 1.0,
                sample_rate)


def slope_sections_order(slope_db: int, shape: str) -> int:
    """The filter order of a slope; raises ValueError for impossible combinations."""
    if slope_db not in SLOPES_DB:
        raise ValueError(f"slope must be one of {', '.join(map(str, SLOPES_DB))} dB/oct")
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}")
    order = slope_db // 6
    if shape == "linkwitz_riley" and order % 2:
        raise ValueError("a Linkwitz-Riley filter needs a slope of 12, 24, 36 or 48 dB/oct")
    return order


def section_count(band_type: str, slope_db: int = 12, shape: str = "butterworth") -> int:
    if band_type in (HIGH_PASS, LOW_PASS):
        return layout(band_type, slope_db, shape).sections
    return 1


def design(
    band_type: str,
    freq_hz: float,
    gain_db: float,
    q: float,
    sample_rate: float,
    slope_db: int = 12,
    shape: str = "butterworth",
) -> np.ndarray:
    """Sections for one EQ band."""
    return _one(layout(band_type, slope_db, shape), freq_hz, gain_db, q, sample_rate)


def is_identity(sections: np.ndarray) -> np.ndarray:
    """Per section: True when b == a exactly, so the section passes its input unchanged."""
    return np.all(sections[:, :3] == sections[:, 3:], axis=1)


# -- many coefficient sets at once (a gliding band: one set per sub-block) ------------------------
def _values(x: np.ndarray | float, name: str) -> np.ndarray:
    """A 1-D float64 view of ``x`` (a scalar becomes one value); copies only to convert."""
    values = np.asarray(x, dtype=np.float64)
    if values.ndim == 0:
        return values.reshape(1)
    if values.ndim != 1:
        raise ValueError(f"{name} must be a number or a 1-D array, got shape {values.shape}")
    return values


def design_many(
    band_type: str,
    freq_hz: np.ndarray,
    gain_db: np.ndarray | float,
    q: np.ndarray | float,
    sample_rate: float,
    slope_db: int = 12,
    shape: str = "butterworth",
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`design` for n value sets at once: an ``(n, n_sections, 6)`` array.

    ``gain_db`` and ``q`` may be single values shared by every set.  With
    ``out`` (any writeable float64 view of that shape, e.g. a band's rows of a
    larger set) the sections are written there and nothing is allocated for
    float64 inputs.
    """
    band = layout(band_type, slope_db, shape)
    freq = _values(freq_hz, "freq_hz")
    gain = _values(gain_db, "gain_db")
    qs = _values(q, "q")
    n = freq.shape[0]
    for name, values in (("gain_db", gain), ("q", qs)):
        if values.shape[0] not in (1, n):
            raise ValueError(f"{name} must hold 1 or {n} values, got {values.shape[0]}")
    expected = (n, band.sections, 6)
    if out is None:
        out = np.empty(expected)
    # the kernel does not check bounds: a wrong out would be written past its end
    if out.shape != expected or out.dtype != np.float64 or not out.flags.writeable:
        raise ValueError(f"out must be a writeable float64 array of shape {expected}, "
                         f"got {out.dtype} {out.shape}")
    _design_kernel(band.code, freq, gain, qs, float(sample_rate), band.order,
                   band.linkwitz_riley, out)
    return out
