"""Saturation, width, polarity, delay and reverb measured on generated audio."""

from __future__ import annotations

import numpy as np
import pytest
from stage_harness import SR, Harness, db, noise, sine


def _level_at(x: np.ndarray, freq: float) -> float:
    """Amplitude (dB) of the component at ``freq`` (Hann-windowed DFT, coherent gain undone)."""
    n = x.shape[-1]
    w = np.hanning(n)
    spectrum = np.abs(np.fft.rfft(x * w)) * 2 / np.sum(w)
    k = int(round(freq * n / SR))
    return float(db(np.max(spectrum[max(k - 2, 0) : k + 3])))


def test_saturation_is_transparent_for_small_signals() -> None:
    h = Harness("saturation", params={"drive_db": 6.0, "curve": "tanh"})
    x = sine(1000.0, 0.5, amp=1e-3)
    y = h.run(x)
    lat = h.stage.latency
    assert lat == 32
    assert np.max(np.abs(y[:, lat + 4800 :] - x[:, 4800:-lat])) < 1e-3 * 10 ** (-60 / 20)


@pytest.mark.parametrize("curve", ["tanh", "soft_clip"])
def test_saturation_adds_odd_harmonics_and_bounds_the_output(curve: str) -> None:
    h = Harness("saturation", params={"drive_db": 24.0, "curve": curve, "output_db": 0.0})
    x = sine(1000.0, 1.0, amp=0.5)
    y = h.run(x)[0, SR // 2 :]
    assert _level_at(y, 3000.0) - _level_at(y, 1000.0) > -20.0  # strong third harmonic
    assert _level_at(y, 2000.0) < -100.0  # symmetric curve: no even harmonics
    assert np.max(np.abs(y)) <= 10 ** (-24 / 20) * 1.02  # |f| <= 1, divided by the drive


def test_oversampling_reduces_aliasing() -> None:
    """A 15 kHz sine driven hard: its 3rd harmonic (45 kHz) aliases to 3 kHz without oversampling."""
    levels = {}
    for factor in (1, 8):
        h = Harness("saturation", {"oversample": factor}, params={"drive_db": 18.0})
        y = h.run(sine(15_000.0, 1.0, amp=0.5))[0, SR // 2 :]
        levels[factor] = _level_at(y, 3000.0) - _level_at(y, 15_000.0)
    assert levels[1] > -30.0
    assert levels[8] < levels[1] - 30.0


@pytest.mark.parametrize("width", [0.0, 50.0, 200.0])
def test_width_scales_the_side(width: float) -> None:
    h = Harness("width", params={"width_pct": width})
    rng = np.random.default_rng(5)
    left, right = rng.standard_normal((2, SR // 2)) * 0.1
    y = h.run(np.vstack([left, right]))
    side_in = 0.5 * (left - right)
    side_out = 0.5 * (y[0] - y[1])
    mid_out = 0.5 * (y[0] + y[1])
    settle = 4800
    assert np.allclose(side_out[settle:], side_in[settle:] * width / 100.0, atol=1e-12)
    assert np.allclose(mid_out, 0.5 * (left + right), atol=1e-12)


@pytest.mark.parametrize("freq, kept", [(40.0, False), (2000.0, True)])
def test_mono_bass_removes_low_side_only(freq: float, kept: bool) -> None:
    h = Harness("width", params={"mono_bass": True, "mono_bass_hz": 150.0})
    s = sine(freq, 2.0, amp=0.25, channels=1)[0]
    y = h.run(np.vstack([s, -s]))  # pure side
    side = 0.5 * (y[0] - y[1])[SR:]
    change = db(np.max(np.abs(side))) - db(0.25)
    if kept:
        assert abs(change) < 0.05
    else:
        assert change < -40.0


def test_mono_bass_keeps_the_magnitude_flat() -> None:
    """Mid through the LR4 all-pass, side through the LR4 high-pass: |output| unchanged for mid."""
    h = Harness("width", params={"mono_bass": True, "mono_bass_hz": 150.0})
    for freq in (30.0, 150.0, 1000.0):
        m = sine(freq, 1.0, amp=0.25, channels=1)[0]
        y = h.run(np.vstack([m, m]))
        assert db(np.max(np.abs(y[0, SR // 2 :]))) - db(0.25) == pytest.approx(0.0, abs=0.01)


def test_polarity_inverts_after_a_short_fade() -> None:
    h = Harness("polarity")
    x = sine(100.0, 0.2, amp=0.5)
    h.run(x[:, :4800])
    h.set("invert_left", True)
    y = h.run(x[:, 4800:])
    assert np.allclose(y[0, 4800:], -x[0, 9600:], atol=1e-9)
    assert np.array_equal(y[1], x[1, 4800:])
    assert np.max(np.abs(np.diff(y[0]))) <= np.max(np.abs(np.diff(x[0]))) * 1.01


def test_delay_echoes_at_the_set_time_with_feedback() -> None:
    h = Harness("delay", params={"time_ms": 100.0, "feedback_pct": 50.0, "mix_pct": 50.0})
    x = np.zeros((2, SR // 2))
    x[:, 0] = 1.0
    y = h.run(x)[0]
    d = int(0.1 * SR)
    assert y[0] == pytest.approx(0.5)
    assert y[d] == pytest.approx(0.5)  # first echo at mix
    assert y[2 * d] == pytest.approx(0.25)  # feedback 50 %
    assert np.count_nonzero(np.abs(y) > 1e-12) == 5  # 0, d, 2d, 3d, 4d


def test_delay_time_change_glides_without_clicks() -> None:
    h = Harness("delay", params={"time_ms": 100.0, "feedback_pct": 0.0, "mix_pct": 100.0})
    x = sine(200.0, 1.0, amp=0.5)
    a = h.run(x[:, : SR // 2])
    h.set("time_ms", 50.0)
    b = h.run(x[:, SR // 2 :])
    y = np.concatenate([a, b], axis=1)[0, int(0.2 * SR) :]
    assert np.max(np.abs(np.diff(y))) < np.max(np.abs(np.diff(x[0]))) * 1.5  # a pitch glide, no step


def test_reverb_adds_a_decaying_tail() -> None:
    h = Harness("reverb", params={"mix_pct": 50.0, "room_size": 0.8})
    burst = np.zeros((2, 2 * SR))
    burst[:, :4800] = noise(0.1, amp=0.3)
    y = h.run(burst)
    early = np.sqrt(np.mean(y[:, 9600:14400] ** 2))
    late = np.sqrt(np.mean(y[:, SR : SR + 4800] ** 2))
    assert early > 1e-3
    assert late < early
    assert late > 1e-6


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_oversampler_streams_like_the_direct_filter(factor: int) -> None:
    """Polyphase up/down in odd-sized blocks == zero-stuffing + full FIR on the whole signal."""
    from scipy.signal import butter, lfilter, sosfilt

    from host.dsp.oversampling import Oversampler

    x = np.random.default_rng(0).standard_normal((2, 5000))
    o = Oversampler(2, factor)
    ups, downs = [], []
    for i in range(0, x.shape[1], 333):
        u = o.up(x[:, i : i + 333])
        ups.append(u)
        downs.append(o.down(u))
    stuffed = np.zeros((2, x.shape[1] * factor))
    stuffed[:, ::factor] = x * factor
    up_ref = lfilter(o.h, 1.0, stuffed, axis=-1)
    down_ref = lfilter(o.h, 1.0, up_ref, axis=-1)[:, ::factor]
    assert np.max(np.abs(np.concatenate(ups, axis=1) - up_ref)) < 1e-12
    assert np.max(np.abs(np.concatenate(downs, axis=1) - down_ref)) < 1e-12
    # round trip: the input comes back, delayed by the reported latency, within the filter's ripple
    lat = o.latency
    band_limited = sosfilt(butter(12, 0.35 * SR, fs=SR, output="sos"), x, axis=-1)  # inside the pass band
    o.reset()
    back = o.down(o.up(band_limited))
    assert np.max(np.abs(back[:, lat + 100 :] - band_limited[:, 100:-lat])) < 0.01
