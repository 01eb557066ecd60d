"""EQ: measured magnitude responses against the analytic prototypes, clicks, options."""

from __future__ import annotations

import numpy as np
import pytest
from stage_harness import SR, Harness, db, impulse, magnitude_db, max_step, sine

from host.errors import SessionError

FREQS = np.geomspace(20.0, 20_000.0, 200)


def _s(freqs: np.ndarray, f0: float, sr: float = SR) -> np.ndarray:
    """Bilinear-transform frequency warping: s = j tan(w/2) / tan(w0/2)."""
    return 1j * np.tan(np.pi * freqs / sr) / np.tan(np.pi * f0 / sr)


def analytic_db(band: dict, freqs: np.ndarray, sr: float = SR) -> np.ndarray:
    """Analogue prototypes of the RBJ cookbook and Butterworth, evaluated at warped s."""
    kind, f0 = band["type"], band["freq_hz"]
    a = 10.0 ** (band.get("gain_db", 0.0) / 40.0)
    q = band.get("q", 1 / np.sqrt(2))
    s = _s(freqs, f0, sr)
    if kind == "bell":
        h = (s**2 + s * a / q + 1) / (s**2 + s / (a * q) + 1)
    elif kind == "low_shelf":
        h = a * (s**2 + np.sqrt(a) / q * s + a) / (a * s**2 + np.sqrt(a) / q * s + 1)
    elif kind == "high_shelf":
        h = a * (a * s**2 + np.sqrt(a) / q * s + 1) / (s**2 + np.sqrt(a) / q * s + a)
    elif kind == "notch":
        h = (s**2 + 1) / (s**2 + s / q + 1)
    elif kind == "bandpass":
        h = (s / q) / (s**2 + s / q + 1)
    else:
        order = band["slope"] // 6
        ratio = np.abs(s) if kind == "lowpass" else 1.0 / np.abs(s)
        if band.get("shape") == "linkwitz_riley":
            # LR of order N = Butterworth of order N/2 squared: |H| = 1 / (1 + w^N)
            return np.asarray(db(1.0 / (1.0 + ratio**order)))
        return np.asarray(db(1.0 / np.sqrt(1.0 + ratio ** (2 * order))))
    return np.asarray(db(h))


BANDS = [
    {"type": "bell", "freq_hz": 1000.0, "gain_db": 6.0, "q": 1.0},
    {"type": "bell", "freq_hz": 80.0, "gain_db": -12.0, "q": 4.0},
    {"type": "bell", "freq_hz": 12000.0, "gain_db": 18.0, "q": 0.5},
    {"type": "low_shelf", "freq_hz": 200.0, "gain_db": 9.0, "q": 0.7071},
    {"type": "high_shelf", "freq_hz": 6000.0, "gain_db": -6.0, "q": 1.2},
    {"type": "notch", "freq_hz": 3000.0, "q": 2.0},
    {"type": "bandpass", "freq_hz": 500.0, "q": 0.8},
    *[
        {"type": t, "freq_hz": f, "slope": slope, "shape": "butterworth"}
        for t, f in (("highpass", 100.0), ("lowpass", 5000.0))
        for slope in (6, 12, 18, 24, 36, 48)
    ],
    *[
        {"type": t, "freq_hz": f, "slope": slope, "shape": "linkwitz_riley"}
        for t, f in (("highpass", 300.0), ("lowpass", 2000.0))
        for slope in (12, 24, 48)
    ],
]


@pytest.mark.parametrize("band", BANDS, ids=lambda b: f"{b['type']}-{b['freq_hz']:g}-{b.get('slope', '')}")
def test_magnitude_matches_analytic_response(band: dict) -> None:
    h = Harness("eq", {"bands": [band]}, channels=1)
    response = h.run(impulse(SR, channels=1), block=4096)[0]
    measured = magnitude_db(response, FREQS)
    expected = analytic_db(band, FREQS)
    # compare where the response is above -60 dB (deep stop band is numerically floor-bound)
    mask = expected > -60.0
    assert np.max(np.abs(measured[mask] - expected[mask])) < 0.1


@pytest.mark.parametrize("sr", [44_100, 96_000])
@pytest.mark.parametrize("band", [BANDS[0], BANDS[3], BANDS[4], BANDS[10], BANDS[-1]],
                         ids=lambda b: f"{b['type']}-{b['freq_hz']:g}")
def test_magnitude_at_other_sample_rates(band: dict, sr: int) -> None:
    h = Harness("eq", {"bands": [band]}, channels=1, sample_rate=sr)
    response = h.run(impulse(sr, channels=1), block=4096)[0]
    freqs = np.geomspace(20.0, 0.45 * sr, 200)
    measured = magnitude_db(response, freqs, sr)
    expected = analytic_db(band, freqs, sr)
    mask = expected > -60.0
    assert np.max(np.abs(measured[mask] - expected[mask])) < 0.1


def test_bands_cascade_multiply() -> None:
    bands = [BANDS[0], BANDS[3], BANDS[7]]
    h = Harness("eq", {"bands": bands}, channels=1)
    measured = magnitude_db(h.run(impulse(SR, channels=1), block=4096)[0], FREQS)
    expected = sum(analytic_db(b, FREQS) for b in bands)
    assert np.max(np.abs(measured - expected)) < 0.1


def test_band_switched_off_is_identity() -> None:
    h = Harness("eq", {"bands": [BANDS[0], BANDS[7]]}, params={"band1_on": False, "band2_on": False})
    x = sine(440.0, 0.1)
    assert np.array_equal(h.run(x), x)


def test_switching_a_bell_off_glides_without_a_click() -> None:
    h = Harness("eq", {"bands": [{"type": "bell", "freq_hz": 1000.0, "gain_db": 12.0, "q": 1.0}]})
    x = sine(1000.0, 1.0, amp=0.2)
    before = h.run(x[:, : SR // 2])
    h.set("band1_on", False)
    after = h.run(x[:, SR // 2 :])
    assert max_step(np.concatenate([before[0], after[0]])[SR // 2 - 4800 :]) <= max_step(before[0, -4800:])
    assert np.array_equal(after[:, -4800:], x[:, -4800:])  # once at 0 dB the band is bypassed exactly


def test_gain_jump_does_not_click() -> None:
    """+12 dB -> -12 dB on a 1 kHz bell: no sample step above the signal's own."""
    h = Harness("eq", {"bands": [{"type": "bell", "freq_hz": 1000.0, "gain_db": 12.0, "q": 1.0}]})
    x = sine(1000.0, 1.0, amp=0.2)
    before = h.run(x[:, : SR // 2])
    h.set("band1_gain_db", -12.0)
    after = h.run(x[:, SR // 2 :])
    y = np.concatenate([before, after], axis=1)[0]
    steady_step = max_step(before[0, -4800:])  # the loud steady state's own largest step
    assert max_step(y[SR // 2 - 1000 :]) <= steady_step * 1.001
    # and the move completes: the level ends 24 dB lower
    assert db(np.max(np.abs(after[0, -4800:]))) - db(np.max(np.abs(before[0, -4800:]))) == pytest.approx(-24.0, abs=0.1)


def test_frequency_sweep_updates_every_64_samples() -> None:
    h = Harness("eq", {"bands": [{"type": "bell", "freq_hz": 200.0, "gain_db": 12.0, "q": 2.0}]})
    x = sine(3000.0, 0.5, amp=0.1)
    h.run(x[:, :4800])
    h.set("band1_freq_hz", 3000.0)
    y = h.run(x[:, 4800:])
    assert np.all(np.isfinite(y))
    assert db(np.max(np.abs(y[0, -4800:]))) == pytest.approx(db(0.1) + 12.0, abs=0.05)


@pytest.mark.parametrize(
    "bands, message",
    [
        ([{"type": "wobble"}], "unknown band type"),
        ([{"type": "highpass", "slope": 7}], "slope"),
        ([{"type": "highpass", "slope": 18, "shape": "linkwitz_riley"}], "Linkwitz"),
        ([{"type": "bell", "gain_db": 40}], "gain_db"),
        ([{"type": "bell", "frq": 40}], "unknown key"),
        ("bell", "must be a list"),
    ],
)
def test_bad_bands_are_user_errors(bands: object, message: str) -> None:
    with pytest.raises(SessionError, match=message):
        Harness("eq", {"bands": bands})


def test_param_specs_follow_options() -> None:
    h = Harness("eq", {"bands": [BANDS[0], {"type": "highpass", "freq_hz": 80.0, "slope": 24}]})
    names = [s.name for s in h.stage.param_specs()]
    assert names == ["band1_on", "band1_freq_hz", "band1_gain_db", "band1_q", "band2_on", "band2_freq_hz"]
    assert h.registry.get("test/st/band1_gain_db") == 6.0


@pytest.mark.parametrize("band", BANDS, ids=lambda b: f"{b['type']}-{b['freq_hz']:g}-{b.get('slope', '')}")
def test_designing_many_sets_at_once_equals_one_at_a_time(band: dict) -> None:
    """The vectorised design a glide uses gives the scalar design's sections."""
    from host.dsp import biquad
    from host.stages.eq import parse_bands

    parsed = parse_bands([band], "test")[0]
    freqs = np.geomspace(15.0, 23_000.0, 9)
    gains = np.linspace(-24.0, 24.0, 9)
    qs = np.geomspace(0.1, 24.0, 9)
    many = biquad.design_many(parsed.type, freqs, gains, qs, SR, parsed.slope, parsed.shape)
    one = np.stack([biquad.design(parsed.type, f, g, q, SR, parsed.slope, parsed.shape)
                    for f, g, q in zip(freqs, gains, qs, strict=True)])
    assert many.shape == one.shape == (9, parsed.sections, 6)
    np.testing.assert_allclose(many, one, rtol=1e-12, atol=1e-15)


def test_compiled_cascade_equals_sosfilt_per_sub_block() -> None:
    """A coefficient set per 64 samples, carried state: the same output as sosfilt sub-block by sub-block."""
    from scipy.signal import sosfilt

    from host.dsp import biquad
    from host.dsp.sos import run_cascade

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 300))
    sets = np.concatenate([biquad.design_many("bell", np.geomspace(200.0, 4000.0, 5), np.linspace(-9, 9, 5), 1.0, SR),
                           biquad.design_many("lowpass", np.linspace(3000.0, 8000.0, 5), 0.0, 1.0, SR, 24)], axis=1)
    sets[2, 0] = biquad.IDENTITY           # a neutral set mid-glide: skipped, its state cleared
    zi = np.zeros((sets.shape[1], 2, 2))
    zi[:, :, 0] = 0.01                     # carried in from the block before
    reference_zi = zi.copy()
    out = np.empty_like(x)
    run_cascade(x, sets, 64, zi, out)
    expected = np.empty_like(x)
    for k in range(sets.shape[0]):
        piece = slice(64 * k, 64 * (k + 1))
        reference_zi[biquad.is_identity(sets[k])] = 0.0
        expected[:, piece], reference_zi = sosfilt(sets[k], x[:, piece], axis=-1, zi=reference_zi)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(zi, reference_zi, rtol=1e-12, atol=1e-14)
