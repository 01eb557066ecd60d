"""Multiband compressor and mid/side EQ measured on generated audio."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import sosfilt
from stage_harness import SR, Harness, db, impulse, magnitude_db, noise, sine

from host.errors import SessionError

CROSSOVERS = [[1000.0], [200.0, 2000.0], [100.0, 500.0, 3000.0], [80.0, 300.0, 1500.0, 8000.0]]


@pytest.mark.parametrize("crossovers", CROSSOVERS, ids=lambda c: f"{len(c) + 1}-bands")
def test_neutral_bands_null_against_the_allpass_chain(crossovers: list[float]) -> None:
    h = Harness("multiband_compressor", {"crossovers_hz": crossovers})
    x = noise(1.0, amp=0.5)
    y = h.run(x, block=128)
    reference = sosfilt(h.stage.reference_allpass(), x, axis=-1)
    assert db(np.max(np.abs(y - reference))) < -100.0


@pytest.mark.parametrize("crossovers", CROSSOVERS, ids=lambda c: f"{len(c) + 1}-bands")
def test_bands_sum_flat(crossovers: list[float]) -> None:
    h = Harness("multiband_compressor", {"crossovers_hz": crossovers}, channels=1)
    response = h.run(impulse(SR, channels=1), block=4096)[0]
    freqs = np.geomspace(20.0, 20_000.0, 100)
    assert np.max(np.abs(magnitude_db(response, freqs))) < 1e-6


def test_only_the_loud_band_is_compressed() -> None:
    h = Harness("multiband_compressor", {"crossovers_hz": [500.0]},
                params={"band2_threshold_db": -30.0, "band2_ratio": 10.0, "band1_threshold_db": -30.0,
                        "band1_ratio": 1.0, "knee_db": 0.0})
    low, high = sine(100.0, 1.0, amp=0.3), sine(5000.0, 1.0, amp=0.3)
    y = h.run(low + high)[0, SR // 2 :]
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y)))) * 4 / len(y)
    level = {f: db(spectrum[int(f * len(y) / SR)]) for f in (100.0, 5000.0)}
    assert level[100.0] - db(0.3) == pytest.approx(0.0, abs=0.2)
    assert level[5000.0] - db(0.3) < -15.0


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
