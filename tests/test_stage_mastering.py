"""Multiband compressor and mid/side EQ measured on generated audio."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.signal import sosfilt
from stage_harness import SR, Harness, db, impulse, magnitude_db, noise, sine

import host
from host.analysis.signals import music
from host.errors import SessionError
from tests.conftest import read_mix

CROSSOVERS = [[1000.0], [200.0, 2000.0], [100.0, 500.0, 3000.0], [80.0, 300.0, 1500.0, 8000.0]]
PHASES = ["linear", "minimum"]
MINIMUM = {"phase": "minimum"}


def _bands(crossovers: list[float], **options: Any) -> dict[str, Any]:
    return {"crossovers_hz": crossovers, **options}


@pytest.mark.parametrize("crossovers", CROSSOVERS, ids=lambda c: f"{len(c) + 1}-bands")
def test_minimum_phase_neutral_bands_null_against_the_allpass_chain(crossovers: list[float]) -> None:
    h = Harness("multiband_compressor", _bands(crossovers, **MINIMUM))
    x = noise(1.0, amp=0.5)
    y = h.run(x, block=128)
    reference = sosfilt(h.stage.reference_allpass(), x, axis=-1)  # type: ignore[attr-defined]
    assert h.stage.latency == 0
    assert db(np.max(np.abs(y - reference))) < -100.0


def _delayed(x: np.ndarray, latency: int) -> np.ndarray:
    return np.concatenate([np.zeros((x.shape[0], latency)), x[:, : x.shape[1] - latency]], axis=1)


@pytest.mark.parametrize("crossovers", CROSSOVERS, ids=lambda c: f"{len(c) + 1}-bands")
@pytest.mark.parametrize("sample_rate", [44_100, 48_000, 96_000])
@pytest.mark.parametrize("material", ["noise", "music"])
def test_linear_phase_neutral_bands_null_against_the_input(crossovers: list[float], sample_rate: int,
                                                           material: str) -> None:
    h = Harness("multiband_compressor", _bands(crossovers), sample_rate=sample_rate)
    if material == "noise":
        x = noise(1.0, amp=0.5, sr=sample_rate)
    else:
        x = music(1.0, sample_rate, level_db=-12.0)
    y = h.run(x, block=128)
    lat = h.stage.latency
    assert lat > 0
    assert db(np.max(np.abs(y[:, lat:]))) > -20.0  # the signal came through
    assert db(np.max(np.abs(y - _delayed(x, lat)))) < -120.0


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("crossovers", CROSSOVERS, ids=lambda c: f"{len(c) + 1}-bands")
def test_bands_sum_flat(crossovers: list[float], phase: str) -> None:
    h = Harness("multiband_compressor", _bands(crossovers, phase=phase), channels=1)
    response = h.run(impulse(SR, channels=1), block=4096)[0]
    freqs = np.geomspace(20.0, 20_000.0, 100)
    assert np.max(np.abs(magnitude_db(response, freqs))) < 1e-6


def lr4_lowpass(freqs: np.ndarray, fc: float, sample_rate: float) -> np.ndarray:
    """|H_LP| of the bilinear LR4 low-pass: 1 / (1 + (tan(pi f/fs) / tan(pi fc/fs))^4)."""
    return np.asarray(1.0 / (1.0 + (np.tan(np.pi * freqs / sample_rate) / np.tan(np.pi * fc / sample_rate)) ** 4))


def _band_response(crossovers: list[float], band: int, sample_rate: int, base: np.ndarray) -> np.ndarray:
    """One band's impulse response: what +20 dB of its makeup adds to the output, over 10 - 1."""
    up = Harness("multiband_compressor", _bands(crossovers), {f"band{band}_makeup_db": 20.0},
                 sample_rate=sample_rate, channels=1)
    return (up.run(impulse(len(base), channels=1), block=4096)[0] - base) / 9.0


@pytest.mark.parametrize("crossovers", CROSSOVERS, ids=lambda c: f"{len(c) + 1}-bands")
@pytest.mark.parametrize("sample_rate", [44_100, 48_000, 96_000])
def test_linear_phase_band_magnitudes_are_lr4(crossovers: list[float], sample_rate: int) -> None:
    """Band i is L_i - L_(i-1) (L_0 = 0, L_(k+1) = 1): within 0.1 dB wherever it is above -60 dB."""
    h = Harness("multiband_compressor", _bands(crossovers), sample_rate=sample_rate, channels=1)
    base = h.run(impulse(1 << 15, channels=1), block=4096)[0]
    freqs = np.geomspace(20.0, 0.45 * sample_rate, 200)
    lows = [np.zeros_like(freqs)] + [lr4_lowpass(freqs, fc, sample_rate) for fc in crossovers] + [np.ones_like(freqs)]
    for band in range(1, len(crossovers) + 2):
        want = db(lows[band] - lows[band - 1])
        got = magnitude_db(_band_response(crossovers, band, sample_rate, base), freqs, sample_rate)
        audible = want > -60.0
        assert np.max(np.abs(got - want)[audible]) < 0.1, f"band {band}"
    # the spec's point: a crossover's high side a quarter of the way down
    quarter = np.array([crossovers[0] / 4.0])
    high_side = 1.0 - lr4_lowpass(quarter, crossovers[0], sample_rate)
    got = magnitude_db(base - _band_response(crossovers, 1, sample_rate, base), quarter, sample_rate)
    assert got[0] - db(high_side[0]) == pytest.approx(0.0, abs=0.1)


ACTIVE = {"band1_ratio": 4.0, "band1_threshold_db": -40.0, "band3_ratio": 3.0, "band3_threshold_db": -35.0,
          "band5_ratio": 2.0, "band5_threshold_db": -45.0, "band4_makeup_db": 3.0}


@pytest.mark.parametrize("block", [1, 37, 128, 1000, 8192])
def test_linear_phase_is_block_size_independent(block: int) -> None:
    crossovers = CROSSOVERS[-1]
    x = music(0.5, SR, level_db=-12.0)
    reference = Harness("multiband_compressor", _bands(crossovers), ACTIVE).run(x, block=64)
    y = Harness("multiband_compressor", _bands(crossovers), ACTIVE).run(x, block=block)
    assert db(np.max(np.abs(reference))) > -20.0
    assert np.max(np.abs(y - reference)) < 1e-12


@pytest.mark.parametrize("phase", PHASES)
def test_only_the_loud_band_is_compressed(phase: str) -> None:
    h = Harness("multiband_compressor", _bands([500.0], phase=phase),
                params={"band2_threshold_db": -30.0, "band2_ratio": 10.0, "band1_threshold_db": -30.0,
                        "band1_ratio": 1.0, "knee_db": 0.0})
    low, high = sine(100.0, 1.0, amp=0.3), sine(5000.0, 1.0, amp=0.3)
    y = h.run(low + high)[0, SR // 2 :]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)))) * 4 / len(y)
    level = {f: db(spectrum[int(f * len(y) / SR)]) for f in (100.0, 5000.0)}
    assert level[100.0] - db(0.3) == pytest.approx(0.0, abs=0.2)
    assert level[5000.0] - db(0.3) < -15.0


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("ratio", [2.0, 4.0])
def test_a_loud_band_is_reduced_by_the_static_curve(phase: str, ratio: float) -> None:
    """A 3 kHz sine 19.5 dB over band 3's threshold comes out (1 - 1/ratio) * 19.5 dB lower.

    3 kHz is 16 samples a cycle at 48 kHz, so the sample peaks are the true
    peak; instant attack and a very slow release hold the gain at its reduction.
    A 50 Hz sine in bands 1 and 2, at ratio 1, passes untouched.
    """
    h = Harness("multiband_compressor", _bands([100.0, 300.0], phase=phase),
                params={"band3_threshold_db": -30.0, "band3_ratio": ratio, "band3_attack_ms": 0.1,
                        "band3_release_ms": 5000.0, "knee_db": 0.0})
    amp = 0.3
    y = h.run(sine(50.0, 1.0, amp=amp) + sine(3000.0, 1.0, amp=amp))[0, SR // 2 :]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)))) * 4 / len(y)
    level = {f: db(spectrum[int(f * len(y) / SR)]) for f in (50.0, 3000.0)}
    over = db(amp) + 30.0
    assert level[3000.0] - db(amp) == pytest.approx(-over * (1.0 - 1.0 / ratio), abs=0.05)
    assert level[50.0] - db(amp) == pytest.approx(0.0, abs=0.05)


def test_bad_phase_is_a_user_error() -> None:
    with pytest.raises(SessionError, match='phase.*did you mean "linear"'):
        Harness("multiband_compressor", {"phase": "lienar"})


@pytest.mark.parametrize("crossovers", [[], [500.0, 200.0], [1, 2, 3, 4, 5], "200"])
def test_bad_crossovers_are_user_errors(crossovers: object) -> None:
    with pytest.raises(SessionError, match="crossovers_hz"):
        Harness("multiband_compressor", {"crossovers_hz": crossovers})


def test_ms_eq_treats_mid_and_side_separately() -> None:
    bell = {"type": "bell", "freq_hz": 1000.0, "gain_db": 6.0, "q": 1.0}
    h = Harness("ms_eq", {"mid_bands": [bell], "side_bands": [{**bell, "gain_db": -6.0}]})
    s = sine(1000.0, 1.0, amp=0.1, channels=1)[0]
    mid_only = h.run(np.vstack([s, s]))[:, SR // 2 :]
    assert db(np.max(np.abs(mid_only[0]))) - db(0.1) == pytest.approx(6.0, abs=0.01)
    h2 = Harness("ms_eq", {"mid_bands": [bell], "side_bands": [{**bell, "gain_db": -6.0}]})
    side_only = h2.run(np.vstack([s, -s]))[:, SR // 2 :]
    assert db(np.max(np.abs(side_only[0]))) - db(0.1) == pytest.approx(-6.0, abs=0.01)
    assert np.allclose(side_only[0], -side_only[1])


def test_ms_eq_params_are_prefixed() -> None:
    h = Harness("ms_eq", {"mid_bands": [{"type": "bell"}], "side_bands": [{"type": "highpass", "freq_hz": 100.0}]})
    names = [s.name for s in h.stage.param_specs()]
    assert names == ["mid_band1_on", "mid_band1_freq_hz", "mid_band1_gain_db", "mid_band1_q",
                     "side_band1_on", "side_band1_freq_hz"]


@pytest.mark.parametrize("phase, floor_db", [("linear", -120.0), ("minimum", None)])
def test_the_engine_lines_up_a_linear_phase_multiband_with_a_dry_track(
    write_audio: Any, write_session: Any, phase: str, floor_db: float | None
) -> None:
    """A neutral linear multiband on one track, the same source inverted on another: the mix nulls.

    The engine delays the dry track by the multiband's reported latency; the
    minimum-phase tree (no latency, but an all-pass) does not null, which shows the test can fail.
    """
    write_audio("n.wav", np.random.default_rng(3).uniform(-0.5, 0.5, (SR, 2)))
    path = write_session(f"""
        tracks:
          split:
            source: n.wav
            chain: [{{type: multiband_compressor, phase: {phase}, crossovers_hz: [120, 900, 6000]}}]
          dry:
            source: n.wav
            chain: [{{type: polarity, params: {{invert_left: true, invert_right: true}}}}]
        outputs: {{mixdown: mix.wav, bit_depth: float}}
    """)
    host.load_session(path).render(workers=1)
    residual = db(np.max(np.abs(read_mix(path.parent / "mix.wav"))))
    if floor_db is None:
        assert residual > -40.0
    else:
        assert residual < floor_db


@pytest.mark.parametrize("moved", [(0,), (1,), (0, 2), (0, 1, 2)])
def test_a_linear_phase_split_redesigns_only_the_crossovers_that_moved(moved: tuple[int, ...]) -> None:
    """What it keeps and what it designs anew together equal every crossover designed afresh
    (the filter length stays the one the split was built with)."""
    from host.stages.multiband import LinearPhaseSplit

    old = (120.0, 1000.0, 6000.0)
    new = tuple(f * 1.1 if i in moved else f for i, f in enumerate(old))
    split = LinearPhaseSplit(old, SR, 2, 4096)
    partial = split._design(new)
    assert not np.array_equal(partial, split._spectra)  # something did move
    split.freqs = ()  # nothing to keep: every crossover designed
    assert np.array_equal(partial, split._design(new))
