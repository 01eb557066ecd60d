"""True-peak limiter: the output's true peak, measured by the BS.1770 meter, stays under the ceiling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly
from stage_harness import SR, Harness, db, noise, sine

from host.analysis.signals import music
from host.dsp.true_peak import true_peak_dbtp


def synthesised_music(seconds: float, seed: int = 3) -> np.ndarray:
    """Harmonic pad with slow tremolo, a bass line and noise-burst drums every 250 ms."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = np.zeros(n)
    for f in (55.0, 110.0, 220.0, 330.0, 440.0, 660.0, 880.0, 1320.0, 2640.0, 5280.0):
        tremolo = 1.0 + np.sin(2 * np.pi * rng.uniform(0.2, 3.0) * t)
        x += rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) * tremolo
    for start in range(0, n, SR // 4):
        length = min(4000, n - start)
        x[start : start + length] += rng.standard_normal(length) * np.exp(-np.arange(length) / 600.0)
    return np.vstack([x, 0.9 * np.roll(x, 100)]) / 4.0


SIGNALS = {
    "white-noise": lambda: noise(3.0, amp=0.5),
    "sine-12kHz": lambda: sine(12_000.0, 1.0, amp=0.9),
    "sine-19.9kHz": lambda: sine(19_900.0, 1.0, amp=0.9),
    "sine-22kHz": lambda: sine(22_000.0, 1.0, amp=0.9),
    "sine-23.9kHz": lambda: sine(23_900.0, 1.0, amp=0.9),
    "music": lambda: synthesised_music(4.0),
}


@pytest.mark.parametrize("name", SIGNALS)
@pytest.mark.parametrize("ceiling, drive", [(-1.0, 12.0), (-0.1, 6.0), (-6.0, 3.0)])
def test_output_true_peak_never_exceeds_ceiling(name: str, ceiling: float, drive: float) -> None:
    x = SIGNALS[name]()
    h = Harness("limiter", params={"ceiling_dbtp": ceiling, "input_gain_db": drive})
    # flush the latency, as a render does, so the output holds the whole signal
    y = h.run(np.concatenate([x, np.zeros((2, h.stage.latency))], axis=1), block=128)
    assert true_peak_dbtp(x * 10 ** (drive / 20), SR) > ceiling + 1.0  # it really had work to do
    out_tp = true_peak_dbtp(y, SR)
    margin = h.stage.p["margin_db"]  # the default aim under the ceiling, for other meters
    assert out_tp <= ceiling - margin
    assert out_tp > ceiling - margin - 0.1  # and it does not over-limit


def test_latency_is_reported_exactly() -> None:
    h = Harness("limiter", params={"ceiling_dbtp": 0.0})
    x = np.zeros((2, 2048))
    x[:, 100] = 0.25
    y = h.run(x)
    assert np.argmax(np.abs(y[0])) == 100 + h.stage.latency
    assert y[0, 100 + h.stage.latency] == 0.25


@pytest.mark.parametrize("release_ms", [20.0, 200.0])
def test_release_time_constant(release_ms: float) -> None:
    """After a single over, the gain recovers with the set time constant (auto release off)."""
    h = Harness("limiter", params={"ceiling_dbtp": -6.0, "release_ms": release_ms, "auto_release": False})
    frames = int(SR * release_ms / 1000 * 8) + 4096
    x = np.full((2, frames), 0.1)  # -20 dBFS DC: below the ceiling
    x[:, 1000] = 1.0  # one sample 6 dB over the ceiling, 20 dB over the bed
    y = h.run(x)[0]
    lat = h.stage.latency
    gain = y / 0.1
    reduction_db = -db(gain[1000 + lat + h.stage._window :])  # after the hold window
    start = reduction_db[0]
    tau_samples = np.argmax(reduction_db <= start * np.exp(-1.0))
    # the reduction decays as exp(-t / tau) in linear gain; in dB within a few % for small gains
    recovered = 1.0 - gain[1000 + lat + h.stage._window :]
    tau_linear = np.argmax(recovered <= recovered[0] * np.exp(-1.0))
    assert tau_linear / SR * 1000.0 == pytest.approx(release_ms, rel=0.05)
    assert tau_samples > 0


def test_auto_release_recovers_faster_after_isolated_peaks() -> None:
    x = np.full((2, SR), 0.1)
    x[:, 1000] = 1.0
    times = {}
    for auto in (False, True):
        h = Harness("limiter", params={"ceiling_dbtp": -6.0, "release_ms": 200.0, "auto_release": auto})
        gain = h.run(x)[0] / 0.1
        times[auto] = np.argmax(gain[1200:] > 0.99)
    assert times[True] < times[False] / 3


def _libebur128_dbtp(y: np.ndarray) -> float:
    import pyebur128

    state = pyebur128.R128State(y.shape[0], SR, pyebur128.MeasurementMode.MODE_TRUE_PEAK)
    state.add_frames(np.ascontiguousarray(y.T).ravel(), y.shape[1])
    peak = max(pyebur128.get_true_peak(state, c) for c in range(y.shape[0]))
    return float(20.0 * np.log10(peak))


INDEPENDENT = {
    **{k: SIGNALS[k] for k in ("white-noise", "sine-19.9kHz", "sine-22kHz", "sine-23.9kHz")},
    "music": lambda: music(4.0, SR, seed=5, level_db=-9.0),  # host.analysis.signals: notes, drums, bass, sections
}


@pytest.mark.parametrize("name", INDEPENDENT)
@pytest.mark.parametrize(("ceiling", "drive"), [(-0.1, 4.0), (-1.0, 8.0), (-2.0, 14.0)])
def test_an_independent_meter_reads_under_the_ceiling(name: str, ceiling: float, drive: float) -> None:
    """A second BS.1770 meter (libebur128, another interpolation filter), at the default margin."""
    x = INDEPENDENT[name]()
    h = Harness("limiter", params={"ceiling_dbtp": ceiling, "input_gain_db": drive})
    y = h.run(np.concatenate([x, np.zeros((2, h.stage.latency))], axis=1), block=128)
    assert _libebur128_dbtp(10 ** (drive / 20) * x) > ceiling + 1.0  # it had work to do
    assert _libebur128_dbtp(y) <= ceiling
    assert _continuous_peak_dbtp(y) <= ceiling


def _continuous_peak_dbtp(y: np.ndarray) -> float:
    """An independent estimate of the continuous peak: 16x polyphase upsampling (scipy), zero-padded ends."""
    padded = np.pad(y, ((0, 0), (64, 64)))
    return float(20.0 * np.log10(np.max(np.abs(resample_poly(padded, 16, 1, axis=1)))))


@pytest.mark.parametrize("sr", [44_100, 96_000, 192_000])
@pytest.mark.parametrize("signal", ["noise", "sine-0.47fs"])
def test_ceiling_holds_at_other_sample_rates(sr: int, signal: str) -> None:
    """Detection is 4x oversampled at every rate, though BS.1770's meter drops to 2x and 1x at 96 and 192 kHz."""
    if signal == "noise":
        x = 0.3 * np.random.default_rng(2).standard_normal((2, sr))
    else:
        x = np.tile(0.9 * np.sin(2 * np.pi * 0.47 * np.arange(sr) + 0.3), (2, 1))
    h = Harness("limiter", params={"input_gain_db": 10.0, "ceiling_dbtp": -1.0}, sample_rate=sr)
    y = h.run(np.concatenate([x, np.zeros((2, h.stage.latency))], axis=1), block=512)
    assert h.stage._detector.oversample >= 4
    assert _continuous_peak_dbtp(10 ** 0.5 * x) > 0.0  # it had work to do
    assert -1.35 < _continuous_peak_dbtp(y) <= -1.0
    assert true_peak_dbtp(y, sr) <= -1.0 - h.stage.p["margin_db"]


def test_a_block_never_lets_another_thread_run_python() -> None:
    """Live, the limiter runs in the audio callback.  Each time compiled code there lets the
    interpreter lock go, a control thread waiting for it takes it, and the callback then
    waits for that thread to give it back.  With the lock's hand-over interval long, the
    only way another thread runs during a block is the block letting the lock go."""
    import sys
    import threading
    import time

    harness = Harness("limiter", params={"ceiling_dbtp": -1.0})
    blocks = [np.ascontiguousarray(b) for b in np.split(synthesised_music(1.0)[:, : 128 * 300], 300, axis=1)]
    for block in blocks[:4]:   # compiled before the lock's hand-over matters (compiling is Python)
        harness.stage.process(block)
    turns = [0]
    stop = threading.Event()

    def control() -> None:   # always wanting the lock; lets it go now and then, as control threads do
        while not stop.is_set():
            turns[0] += 1
            if turns[0] % 100 == 0:
                time.sleep(0)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)   # the control thread is never handed the lock by the interval
    thread = threading.Thread(target=control, daemon=True)
    ran = 0
    try:
        thread.start()
        time.sleep(0.01)         # it runs, and from now on waits for the lock
        started = turns[0]
        for _ in range(10):
            for block in blocks:
                before = turns[0]
                harness.stage.process(block)
                ran += turns[0] != before
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        thread.join()
    assert started > 0
    assert ran == 0, f"another thread ran Python during {ran} of 3000 limiter blocks"
