"""Properties every native stage keeps: neutral null, NaN/Inf policy, block-size independence, no clicks.

NaN/Inf policy (host.stages.native): a block holding NaN or Inf resets the
stage's state and comes out as silence; later finite blocks are processed
from a clean state, exactly as by a freshly built stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.signal import butter, sosfilt
from stage_harness import SR, Harness, db, max_step, noise, sine

from host.errors import RenderError

REPO = Path(__file__).resolve().parents[1]
PY_OPTIONS = {"module": "scripts/my_stage.py", "base_dir": str(REPO)}
EQ_BANDS = [
    {"type": "bell", "freq_hz": 800.0, "gain_db": 6.0, "q": 1.5},
    {"type": "highpass", "freq_hz": 60.0, "slope": 24, "shape": "linkwitz_riley"},
    {"type": "high_shelf", "freq_hz": 9000.0, "gain_db": -3.0},
]

MULTIBAND_ACTIVE = {"band1_ratio": 4.0, "band2_ratio": 3.0, "band3_ratio": 2.0,
                    "band1_threshold_db": -30.0, "band2_threshold_db": -30.0}

# type -> (options, neutral params, active params)
STAGES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "eq": ({}, {}, {}),
    "eq-bands": ({"bands": [{**b, "gain_db": 0.0} if "gain_db" in b else b for b in EQ_BANDS[:1]]}, {},
                 {"band1_gain_db": 6.0}),
    "compressor": ({"lookahead_ms": 2.0}, {"ratio": 1.0},
                   {"threshold_db": -30.0, "ratio": 4.0, "makeup_db": 3.0}),
    "compressor-rms": ({}, {"ratio": 1.0, "detection": "rms"},
                       {"threshold_db": -30.0, "ratio": 4.0, "detection": "rms", "sc_hpf_on": True}),
    "expander": ({}, {"ratio": 1.0}, {"threshold_db": -25.0, "ratio": 3.0}),
    "gate": ({}, {"range_db": 0.0}, {"threshold_db": -25.0, "hold_ms": 5.0}),
    "deesser": ({}, {"ratio": 1.0}, {"threshold_db": -40.0, "freq_hz": 4000.0}),
    "limiter": ({}, {"ceiling_dbtp": 0.0}, {"input_gain_db": 12.0, "ceiling_dbtp": -1.0}),
    "saturation": ({}, {"mix_pct": 0.0}, {"drive_db": 12.0, "mix_pct": 60.0}),
    "width": ({}, {}, {"width_pct": 150.0, "mono_bass": True}),
    "polarity": ({}, {}, {"invert_left": True}),
    "delay": ({}, {"mix_pct": 0.0}, {"time_ms": 10.0, "feedback_pct": 50.0, "mix_pct": 50.0}),
    "reverb": ({}, {"mix_pct": 0.0}, {"mix_pct": 30.0, "room_size": 0.7}),
    "multiband_compressor": ({}, {}, MULTIBAND_ACTIVE),
    "multiband_compressor-minimum": ({"phase": "minimum"}, {}, MULTIBAND_ACTIVE),
    "ms_eq": ({}, {}, {"mid_band2_gain_db": 4.0, "side_band3_gain_db": -3.0}),
    "dither": ({"seed": 1}, {"bits": 24}, {"bits": 16, "shaping": True}),
    "python": (PY_OPTIONS, {}, {"tilt_db": 3.0}),
}


def _make(key: str, which: str, channels: int = 2) -> Harness:
    options, neutral, active = STAGES[key]
    return Harness(key.split("-")[0], options, neutral if which == "neutral" else active, channels=channels)


def program(seconds: float = 1.0, channels: int = 2) -> np.ndarray:
    """Noise with a 3 Hz amplitude envelope swinging over 40 dB, plus a tone: dynamics have work."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    envelope = 10.0 ** (-(1.0 + np.sin(2 * np.pi * 3.0 * t)) * 20.0 / 20.0)
    x = noise(seconds, amp=0.2, channels=channels) * envelope
    return x + sine(330.0, seconds, amp=0.05, channels=channels)


@pytest.mark.parametrize("key", STAGES)
@pytest.mark.parametrize("channels", [1, 2])
def test_neutral_settings_null(key: str, channels: int) -> None:
    h = _make(key, "neutral", channels)
    x = program(channels=channels)
    y = h.run(x)
    lat = h.stage.latency
    if key == "multiband_compressor-minimum":  # the IIR tree nulls against its all-pass chain
        reference = sosfilt(h.stage.reference_allpass(), x, axis=-1)  # type: ignore[attr-defined]
        assert db(np.max(np.abs(y - reference))) < -100.0
        return
    reference = np.concatenate([np.zeros((channels, lat)), x[:, : x.shape[1] - lat]], axis=1)
    assert y.shape == x.shape
    assert db(np.max(np.abs(y - reference))) < -120.0


@pytest.mark.parametrize("key", STAGES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_gives_silence_and_a_clean_restart(key: str, bad: float) -> None:
    h = _make(key, "active")
    x = program(0.5)
    h.run(x[:, :4096])
    poisoned = x[:, 4096:4224].copy()
    poisoned[1, 17] = bad
    out = h.process(poisoned)
    assert np.array_equal(out, np.zeros_like(poisoned))
    after = h.run(x[:, 4224:])
    assert np.all(np.isfinite(after))
    if key != "dither":  # dither's noise generator runs on, by design
        fresh = _make(key, "active").run(x[:, 4224:])
        assert np.allclose(after, fresh, atol=1e-12, rtol=0)


@pytest.mark.parametrize("key", STAGES)
def test_a_block_of_another_channel_count_is_refused(key: str) -> None:
    # the compiled kernels index by the prepared layout: a wrong one must not reach them
    h = _make(key, "active", channels=1)
    with pytest.raises(RenderError, match=r"stage 'st' was prepared for 1 channel\(s\) and given a block of 2"):
        h.stage.process(np.zeros((2, 128)))
    assert np.all(np.isfinite(h.run(program(0.1, channels=1))))  # and it still works on its own layout


@pytest.mark.parametrize("key", STAGES)
def test_block_size_independence(key: str) -> None:
    x = program(1.0)
    a = _make(key, "active").run(x, block=128)
    b = _make(key, "active").run(x, block=4096)
    c = _make(key, "active").run(x, block=100)  # not a multiple of the 64-sample sub-block
    assert np.max(np.abs(a - b)) < 1e-9
    assert np.max(np.abs(a - c)) < 1e-9


JUMPS = [
    ("eq-bands", "band1_gain_db", 12.0, -12.0),
    ("eq-bands", "band1_freq_hz", 200.0, 5000.0),
    ("compressor", "makeup_db", 0.0, -24.0),
    ("compressor", "threshold_db", 0.0, -60.0),
    ("expander", "threshold_db", -60.0, -10.0),
    ("gate", "threshold_db", -60.0, -10.0),
    ("gate", "range_db", 0.0, -80.0),
    ("delay", "mix_pct", 0.0, 100.0),
    ("delay", "feedback_pct", 0.0, 95.0),
    ("delay", "time_ms", 10.0, 300.0),
    ("deesser", "freq_hz", 16000.0, 1000.0),
    ("limiter", "input_gain_db", 0.0, 24.0),
    ("limiter", "ceiling_dbtp", 0.0, -24.0),
    ("saturation", "drive_db", 0.0, 36.0),
    ("saturation", "mix_pct", 0.0, 100.0),
    ("width", "width_pct", 100.0, 0.0),
    ("width", "mid_db", 0.0, -24.0),
    ("width", "side_db", 0.0, -24.0),
    ("width", "mono_bass_hz", 20.0, 500.0),
    ("multiband_compressor", "band2_makeup_db", 0.0, -24.0),
    ("multiband_compressor", "xover1_hz", 100.0, 1000.0),
    ("multiband_compressor", "xover1_hz", 1000.0, 100.0),
    ("multiband_compressor-minimum", "xover1_hz", 100.0, 1000.0),
    ("ms_eq", "mid_band2_gain_db", 12.0, -12.0),
    ("python", "tilt_db", -12.0, 12.0),
]


HF = butter(8, 4000.0, "highpass", fs=SR, output="sos")
# Moves that legitimately reshape the waveform, checked by the broadband criterion only:
# a filter frequency sweeping across the tone, a delay time gliding (Doppler: the echo
# beats against the dry sine), feedback building a comb's resonance, and the user stage,
# whose contract glides parameters in 8-sample slices (its 24 dB tilt move steps 0.3 %
# beyond the sine's own largest step; per-sample calls into user code would cost too much).
BENDS = {("delay", "time_ms"), ("delay", "feedback_pct"), ("python", "tilt_db")}
# A limiter's gain still settling after a 24 dB input jump moves the peak by about 2 ppm.
SETTLING = 1e-5


@pytest.mark.parametrize("key, name, start, end", JUMPS, ids=lambda v: str(v))
def test_parameter_jump_does_not_click(key: str, name: str, start: float, end: float) -> None:
    """A 440 Hz sine through the stage while a parameter jumps.

    * Level-type moves: no sample step exceeds the larger steady state's own
      largest step (the spec's criterion).  Frequency moves and the others
      in ``BENDS`` legitimately reshape the waveform, so they get only:
    * a discontinuity shows as broadband energy: above 4 kHz the output holds
      less during the move than a step of half the sine's own largest step
      would put there (calibrated below), or no more than the steady states
      hold anyway (harmonics of a saturator).  The 64-sample coefficient
      updates leave a zipper residue under that (5 dB under for the worst
      case, a 24 dB bell jump in ms_eq).
    """
    h = _make(key, "active")
    h.set(name, start)
    h.stage.reset()
    x = sine(440.0, 1.0, amp=0.2)
    before = h.run(x[:, : SR // 2])
    h.set(name, end)
    after = h.run(x[:, SR // 2 :])
    y = np.concatenate([before[0], after[0]])
    if not name.endswith("_hz") and (key, name) not in BENDS:
        own = max(max_step(before[0, -4800:]), max_step(after[0, -4800:]))
        assert max_step(y[SR // 2 - 4800 :]) <= own * (1.0 + SETTLING)
    _assert_no_broadband_click(y)


def _assert_no_broadband_click(y: np.ndarray, freq: float = 440.0) -> None:
    """Above 4 kHz the move holds no more than half the sine's largest step would put there, or the steady states."""
    hf = np.abs(sosfilt(HF, y))
    during = db(np.max(hf[SR // 2 : SR // 2 + 9600]))
    steady = db(max(np.max(hf[SR // 2 - 9600 : SR // 2]), np.max(hf[-4800:])))
    peak = np.max(np.abs(y))
    half_step = 0.5 * 2.0 * np.sin(np.pi * freq / SR) * peak
    click = np.zeros(9600)
    click[4800:] = half_step
    click_hf = db(np.max(np.abs(sosfilt(HF, click))))
    assert during <= max(click_hf, steady + 1.0)


# The compressor's detection switch needs no fade: its gain reduction glides at the attack and
# release times whatever the detector, so even at these fast times the switch does not click.
FAST = {"attack_ms": 0.05, "release_ms": 5.0}
SWITCHES = [
    ("width", "mono_bass", False, True, {}),
    ("width", "mono_bass", True, False, {}),
    ("saturation", "curve", "tanh", "soft_clip", {}),
    ("compressor", "detection", "peak", "rms", FAST),
    ("compressor", "detection", "rms", "peak", FAST),
]


def _switched(key: str, name: str, start: Any, extra: dict[str, Any]) -> Harness:
    h = _make(key, "active")
    for param, value in {**extra, name: start}.items():
        h.set(param, value)
    h.stage.reset()
    return h


@pytest.mark.parametrize("key, name, start, end, extra", SWITCHES, ids=lambda v: str(v))
@pytest.mark.parametrize("block", [128, 100])  # the 5 ms fade spans blocks, and not on their edges
def test_a_switch_crossfades_without_a_click(key: str, name: str, start: Any, end: Any,
                                             extra: dict[str, Any], block: int) -> None:
    """A switch cannot glide: width and saturation blend the old and new settings' outputs over 5 ms."""
    h = _switched(key, name, start, extra)
    bass = sine(90.0, 1.0, amp=0.2, channels=1)[0]  # in the side: what mono bass removes
    x = sine(440.0, 1.0, amp=0.2) + np.vstack([bass, -bass])
    before = h.run(x[:, : SR // 2], block=block)
    h.set(name, end)
    after = h.run(x[:, SR // 2 :], block=block)
    y = np.concatenate([before[0], after[0]])
    unswitched = _switched(key, name, start, extra)
    assert np.max(np.abs(unswitched.run(x, block=block)[0, -4800:] - y[-4800:])) > 0.01  # it did switch
    _assert_no_broadband_click(y)
