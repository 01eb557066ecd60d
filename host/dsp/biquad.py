"""Second-order sections for equalisers and crossovers.

Bell, shelves, notch, band-pass and all-pass follow Robert Bristow-Johnson's
*Audio EQ Cookbook* (bilinear transform with the analogue prototype's centre
frequency pre-warped).  High- and low-pass filters of order 1..8 are
Butterworth cascades (pole angles of the analogue prototype) and
Linkwitz-Riley filters are two identical Butterworth cascades in series.

Every design returns an ``(n_sections, 6)`` array in ``scipy.signal.sosfilt``
layout ``[b0, b1, b2, 1, a1, a2]``, already normalised by ``a0``.
"""

from __future__ import annotations

import math

import numpy as np

IDENTITY = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])

BELL, LOW_SHELF, HIGH_SHELF, HIGH_PASS, LOW_PASS, NOTCH, BAND_PASS, ALL_PASS = (
    "bell", "low_shelf", "high_shelf", "highpass", "lowpass", "notch", "bandpass", "allpass",
)
BAND_TYPES = (BELL, LOW_SHELF, HIGH_SHELF, HIGH_PASS, LOW_PASS, NOTCH, BAND_PASS)
SHAPES = ("butterworth", "linkwitz_riley")
SLOPES_DB = (6, 12, 18, 24, 30, 36, 42, 48)


def _section(b0: float, b1: float, b2: float, a0: float, a1: float, a2: float) -> np.ndarray:
    return np.array([[b0 / a0, b1 / a0, b2 / a0, 1.0, a1 / a0, a2 / a0]])


def _w0(freq_hz: float, sample_rate: float) -> float:
    # keep the centre strictly inside (0, Nyquist) so tan() stays finite
    nyquist = 0.5 * sample_rate
    f = min(max(freq_hz, 1e-3), 0.4999 * sample_rate if nyquist > 0 else freq_hz)
    return 2.0 * math.pi * f / sample_rate


def bell(freq_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook peakingEQ: H(s) = (s^2 + s A/Q + 1) / (s^2 + s/(A Q) + 1), A = 10^(dB/40)."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = _w0(freq_hz, sample_rate)
    alpha = math.sin(w0) / (2.0 * q)
    c = -2.0 * math.cos(w0)
    return _section(1.0 + alpha * a, c, 1.0 - alpha * a, 1.0 + alpha / a, c, 1.0 - alpha / a)


def low_shelf(freq_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook lowShelf: H(s) = A (s^2 + (sqrt(A)/Q) s + A) / (A s^2 + (sqrt(A)/Q) s + 1)."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = _w0(freq_hz, sample_rate)
    cw, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    k = 2.0 * math.sqrt(a) * alpha
    return _section(
        a * ((a + 1) - (a - 1) * cw + k),
        2 * a * ((a - 1) - (a + 1) * cw),
        a * ((a + 1) - (a - 1) * cw - k),
        (a + 1) + (a - 1) * cw + k,
        -2 * ((a - 1) + (a + 1) * cw),
        (a + 1) + (a - 1) * cw - k,
    )


def high_shelf(freq_hz: float, gain_db: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook highShelf: H(s) = A (A s^2 + (sqrt(A)/Q) s + 1) / (s^2 + (sqrt(A)/Q) s + A)."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = _w0(freq_hz, sample_rate)
    cw, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    k = 2.0 * math.sqrt(a) * alpha
    return _section(
        a * ((a + 1) + (a - 1) * cw + k),
        -2 * a * ((a - 1) + (a + 1) * cw),
        a * ((a + 1) + (a - 1) * cw - k),
        (a + 1) - (a - 1) * cw + k,
        2 * ((a - 1) - (a + 1) * cw),
        (a + 1) - (a - 1) * cw - k,
    )


def notch(freq_hz: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook notch: H(s) = (s^2 + 1) / (s^2 + s/Q + 1)."""
    w0 = _w0(freq_hz, sample_rate)
    alpha = math.sin(w0) / (2.0 * q)
    c = -2.0 * math.cos(w0)
    return _section(1.0, c, 1.0, 1.0 + alpha, c, 1.0 - alpha)


def band_pass(freq_hz: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook BPF with 0 dB peak gain: H(s) = (s/Q) / (s^2 + s/Q + 1)."""
    w0 = _w0(freq_hz, sample_rate)
    alpha = math.sin(w0) / (2.0 * q)
    c = -2.0 * math.cos(w0)
    return _section(alpha, 0.0, -alpha, 1.0 + alpha, c, 1.0 - alpha)


def all_pass(freq_hz: float, q: float, sample_rate: float) -> np.ndarray:
    """Cookbook APF: H(s) = (s^2 - s/Q + 1) / (s^2 + s/Q + 1)."""
    w0 = _w0(freq_hz, sample_rate)
    alpha = math.sin(w0) / (2.0 * q)
    c = -2.0 * math.cos(w0)
    return _section(1.0 - alpha, c, 1.0 + alpha, 1.0 + alpha, c, 1.0 - alpha)


def _second_order_pass(freq_hz: float, q: float, sample_rate: float, high: bool) -> np.ndarray:
    """Cookbook LPF/HPF: H(s) = 1 / (s^2 + s/Q + 1) and s^2 / (s^2 + s/Q + 1)."""
    w0 = _w0(freq_hz, sample_rate)
    cw, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    if high:
        b0, b1 = (1.0 + cw) / 2.0, -(1.0 + cw)
    else:
        b0, b1 = (1.0 - cw) / 2.0, 1.0 - cw
    return _section(b0, b1, b0, 1.0 + alpha, -2.0 * cw, 1.0 - alpha)


def _first_order_pass(freq_hz: float, sample_rate: float, high: bool) -> np.ndarray:
    """Bilinear transform of 1 / (s + 1) (or s / (s + 1)) with K = tan(w0 / 2)."""
    k = math.tan(0.5 * _w0(freq_hz, sample_rate))
    if high:
        return _section(1.0, -1.0, 0.0, 1.0 + k, k - 1.0, 0.0)
    return _section(k, k, 0.0, 1.0 + k, k - 1.0, 0.0)


def butterworth_qs(order: int) -> list[float]:
    """Q of each conjugate pole pair of an analogue Butterworth filter of this order.

    Poles sit at angles theta_k = (2k - 1) pi / (2N) from the negative real
    axis for even N and theta_k = k pi / N for odd N (whose remaining pole is
    real); a pair at angle theta has Q = 1 / (2 cos theta).
    """
    odd = order % 2
    return [
        1.0 / (2.0 * math.cos((2 * k - 1 + odd) * math.pi / (2 * order)))
        for k in range(1, order // 2 + 1)
    ]


def butterworth(freq_hz: float, order: int, sample_rate: float, high: bool) -> np.ndarray:
    """Butterworth high- or low-pass of ``order`` (1..16) as second-order sections."""
    if order < 1:
        raise ValueError("filter order must be at least 1")
    sections = [_second_order_pass(freq_hz, q, sample_rate, high) for q in butterworth_qs(order)]
    if order % 2:
        sections.append(_first_order_pass(freq_hz, sample_rate, high))
    return np.concatenate(sections)


def pass_filter(freq_hz: float, slope_db: int, shape: str, sample_rate: float, high: bool) -> np.ndarray:
    """High/low-pass of 6..48 dB/oct; Linkwitz-Riley = two Butterworth of half the order."""
    order = slope_sections_order(slope_db, shape)
    if shape == "linkwitz_riley":
        half = butterworth(freq_hz, order // 2, sample_rate, high)
        return np.concatenate([half, half])
    return butterworth(freq_hz, order, sample_rate, high)


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
        order = slope_sections_order(slope_db, shape)
        if shape == "linkwitz_riley":
            return 2 * ((order // 2 + 1) // 2)
        return (order + 1) // 2
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
    if band_type == BELL:
        return bell(freq_hz, gain_db, q, sample_rate)
    if band_type == LOW_SHELF:
        return low_shelf(freq_hz, gain_db, q, sample_rate)
    if band_type == HIGH_SHELF:
        return high_shelf(freq_hz, gain_db, q, sample_rate)
    if band_type == NOTCH:
        return notch(freq_hz, q, sample_rate)
    if band_type == BAND_PASS:
        return band_pass(freq_hz, q, sample_rate)
    if band_type == ALL_PASS:
        return all_pass(freq_hz, q, sample_rate)
    if band_type in (HIGH_PASS, LOW_PASS):
        return pass_filter(freq_hz, slope_db, shape, sample_rate, band_type == HIGH_PASS)
    raise ValueError(f"unknown band type {band_type!r}")


def is_identity(sections: np.ndarray) -> np.ndarray:
    """Per section: True when b == a exactly, so the section passes its input unchanged."""
    return np.all(sections[:, :3] == sections[:, 3:], axis=1)


# -- many coefficient sets at once (a gliding band: one set per sub-block) ------------------------
def _sections_many(b0: np.ndarray, b1: np.ndarray, b2: np.ndarray,
                   a0: np.ndarray, a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """(n, 1, 6) normalised sections from per-set coefficient arrays."""
    inv = 1.0 / a0
    return np.stack([b0 * inv, b1 * inv, b2 * inv, np.ones_like(a0), a1 * inv, a2 * inv], axis=-1)[:, None, :]


def _w0_many(freq_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    # the same clamp as _w0: the centre strictly inside (0, Nyquist)
    return 2.0 * np.pi * np.clip(freq_hz, 1e-3, 0.4999 * sample_rate) / sample_rate


def _cookbook_many(band_type: str, freq_hz: np.ndarray, gain_db: np.ndarray, q: np.ndarray,
                   sample_rate: float) -> np.ndarray:
    """The cookbook formulas above, evaluated for arrays of (freq, gain, Q)."""
    w0 = _w0_many(freq_hz, sample_rate)
    cw, alpha = np.cos(w0), np.sin(w0) / (2.0 * q)
    one = np.ones_like(w0)
    if band_type == NOTCH:
        return _sections_many(one, -2.0 * cw, one, 1.0 + alpha, -2.0 * cw, 1.0 - alpha)
    if band_type == BAND_PASS:
        return _sections_many(alpha, 0.0 * alpha, -alpha, 1.0 + alpha, -2.0 * cw, 1.0 - alpha)
    if band_type == ALL_PASS:
        return _sections_many(1.0 - alpha, -2.0 * cw, 1.0 + alpha, 1.0 + alpha, -2.0 * cw, 1.0 - alpha)
    a = 10.0 ** (gain_db / 40.0)
    if band_type == BELL:
        return _sections_many(1.0 + alpha * a, -2.0 * cw, 1.0 - alpha * a, 1.0 + alpha / a, -2.0 * cw, 1.0 - alpha / a)
    k = 2.0 * np.sqrt(a) * alpha
    if band_type == LOW_SHELF:
        return _sections_many(a * ((a + 1) - (a - 1) * cw + k), 2 * a * ((a - 1) - (a + 1) * cw),
                              a * ((a + 1) - (a - 1) * cw - k), (a + 1) + (a - 1) * cw + k,
                              -2 * ((a - 1) + (a + 1) * cw), (a + 1) + (a - 1) * cw - k)
    return _sections_many(a * ((a + 1) + (a - 1) * cw + k), -2 * a * ((a - 1) + (a + 1) * cw),
                          a * ((a + 1) + (a - 1) * cw - k), (a + 1) - (a - 1) * cw + k,
                          2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - k)


def _butterworth_many(freq_hz: np.ndarray, order: int, sample_rate: float, high: bool) -> np.ndarray:
    w0 = _w0_many(freq_hz, sample_rate)
    cw, sw = np.cos(w0), np.sin(w0)
    if high:
        b0, b1 = (1.0 + cw) / 2.0, -(1.0 + cw)
    else:
        b0, b1 = (1.0 - cw) / 2.0, 1.0 - cw
    sections = []
    for q in butterworth_qs(order):
        alpha = sw / (2.0 * q)
        sections.append(_sections_many(b0, b1, b0, 1.0 + alpha, -2.0 * cw, 1.0 - alpha))
    if order % 2:
        k = np.tan(0.5 * w0)
        zero = 0.0 * k
        if high:
            sections.append(_sections_many(np.ones_like(k), -np.ones_like(k), zero, 1.0 + k, k - 1.0, zero))
        else:
            sections.append(_sections_many(k, k, zero, 1.0 + k, k - 1.0, zero))
    return np.concatenate(sections, axis=1)


def design_many(
    band_type: str,
    freq_hz: np.ndarray,
    gain_db: np.ndarray,
    q: np.ndarray,
    sample_rate: float,
    slope_db: int = 12,
    shape: str = "butterworth",
) -> np.ndarray:
    """:func:`design` for n value sets at once: an ``(n, n_sections, 6)`` array.

    A gliding band needs a coefficient set every sub-block; computing them as
    arrays costs one numpy pass per formula instead of one Python call per set.
    """
    freq_hz = np.asarray(freq_hz, dtype=np.float64)
    gain_db = np.broadcast_to(np.asarray(gain_db, dtype=np.float64), freq_hz.shape)
    q = np.broadcast_to(np.asarray(q, dtype=np.float64), freq_hz.shape)
    if band_type in (HIGH_PASS, LOW_PASS):
        order = slope_sections_order(slope_db, shape)
        high = band_type == HIGH_PASS
        if shape == "linkwitz_riley":
            half = _butterworth_many(freq_hz, order // 2, sample_rate, high)
            return np.concatenate([half, half], axis=1)
        return _butterworth_many(freq_hz, order, sample_rate, high)
    if band_type in (BELL, LOW_SHELF, HIGH_SHELF, NOTCH, BAND_PASS, ALL_PASS):
        return _cookbook_many(band_type, freq_hz, gain_db, q, sample_rate)
    raise ValueError(f"unknown band type {band_type!r}")
