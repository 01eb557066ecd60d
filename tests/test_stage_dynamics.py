"""Compressor, expander, gate and de-esser measured on generated audio."""

from __future__ import annotations

import numpy as np
import pytest
from stage_harness import SR, Harness, db, max_step, sine


def _dc(level_db: float, seconds: float, channels: int = 2) -> np.ndarray:
    return np.full((channels, int(seconds * SR)), 10.0 ** (level_db / 20.0))


def giannoulis_out_db(x: np.ndarray, t: float, r: float, w: float) -> np.ndarray:
    """The static curve of Giannoulis et al. (2012), eq. 4."""
    y = np.where(2 * (x - t) < -w, x, t + (x - t) / r)
    if w > 0:
        knee = np.abs(2 * (x - t)) <= w
        y = np.where(knee, x + (1 / r - 1) * (x - t + w / 2) ** 2 / (2 * w), y)
    return y


LEVELS = np.arange(-50.0, 0.1, 2.5)


@pytest.mark.parametrize("threshold, ratio, knee", [(-20.0, 4.0, 0.0), (-30.0, 2.0, 12.0), (-10.0, 10.0, 6.0), (-24.0, 100.0, 3.0)])
def test_static_curve_peak_detection(threshold: float, ratio: float, knee: float) -> None:
    measured = []
    for level in LEVELS:
        h = Harness("compressor", params={"threshold_db": threshold, "ratio": ratio, "knee_db": knee,
                                          "attack_ms": 1.0, "release_ms": 10.0})
        y = h.run(_dc(level, 0.2), block=1024)
        measured.append(db(y[0, -1]))
    expected = giannoulis_out_db(LEVELS, threshold, ratio, knee)
    assert np.max(np.abs(np.array(measured) - expected)) < 0.2


@pytest.mark.parametrize("threshold, ratio, knee", [(-20.0, 4.0, 6.0), (-30.0, 3.0, 0.0)])
def test_static_curve_rms_detection_on_sines(threshold: float, ratio: float, knee: float) -> None:
    errors = []
    for level in LEVELS:  # level = RMS of the sine in dBFS
        amp = 10.0 ** (level / 20.0) * np.sqrt(2.0)
        h = Harness("compressor", params={"threshold_db": threshold, "ratio": ratio, "knee_db": knee,
                                          "attack_ms": 20.0, "release_ms": 200.0, "detection": "rms",
                                          "rms_ms": 50.0})
        y = h.run(sine(1000.0, 1.5, amp=amp), block=4096)
        out_rms_db = db(np.sqrt(np.mean(y[0, -SR // 2 :] ** 2)))
        errors.append(out_rms_db - giannoulis_out_db(np.array(level), threshold, ratio, knee))
    assert np.max(np.abs(errors)) < 0.2


def _time_to(curve: np.ndarray, fraction_of_final: float, rising: bool) -> float:
    idx = np.argmax(curve >= fraction_of_final) if rising else np.argmax(curve <= fraction_of_final)
    return idx / SR * 1000.0


@pytest.mark.parametrize("attack_ms, release_ms", [(1.0, 50.0), (10.0, 200.0), (30.0, 500.0)])
def test_attack_and_release_time_constants(attack_ms: float, release_ms: float) -> None:
    h = Harness("compressor", params={"threshold_db": -30.0, "ratio": 100.0, "knee_db": 0.0,
                                      "attack_ms": attack_ms, "release_ms": release_ms})
    quiet, loud = -40.0, 0.0
    h.run(_dc(quiet, 0.1))
    up = h.run(_dc(loud, 10 * attack_ms / 1000 + 0.1))
    gr_up = loud - db(up[0])
    final = gr_up[-1]
    assert final == pytest.approx(30.0 * (1 - 1 / 100.0), abs=0.01)
    tau_a = _time_to(gr_up, final * (1 - np.exp(-1)), rising=True)
    down = h.run(_dc(quiet, 10 * release_ms / 1000))
    gr_down = quiet - db(down[0])
    tau_r = _time_to(gr_down, final * np.exp(-1), rising=False)
    assert tau_a == pytest.approx(attack_ms, rel=0.10)
    assert tau_r == pytest.approx(release_ms, rel=0.10)


def test_lookahead_reports_latency_and_catches_the_transient() -> None:
    h = Harness("compressor", {"lookahead_ms": 5.0},
                params={"threshold_db": -20.0, "ratio": 100.0, "knee_db": 0.0, "attack_ms": 1.0})
    assert h.stage.latency == 240
    x = np.concatenate([_dc(-60.0, 0.1), _dc(0.0, 0.1)], axis=1)
    y = h.run(x)
    onset = int(0.1 * SR) + 240  # where the step comes out
    # at the step's first output sample the gain is already reduced (by the ~5 ms head start)
    assert db(y[0, onset]) < -10.0
    assert np.allclose(y[:, 240:1000], x[:, :760])


def test_sidechain_ducks_and_its_high_pass_ignores_bass() -> None:
    params = {"threshold_db": -30.0, "ratio": 10.0, "knee_db": 0.0, "attack_ms": 1.0, "release_ms": 50.0}
    music = sine(440.0, 1.0, amp=0.05)  # -26 dBFS peak... below threshold only with its own detector
    h = Harness("compressor", params={**params, "threshold_db": -20.0})
    own = h.run(music)
    assert np.max(np.abs(own[:, -4800:])) == pytest.approx(0.05, rel=1e-6)

    def ducked(key: np.ndarray, hpf: bool) -> float:
        d = Harness("compressor", params={**params, "sc_hpf_on": hpf, "sc_hpf_hz": 500.0})
        out = []
        for i in range(0, music.shape[1], 128):
            d.stage.sidechain = key[:, i : i + 128]
            out.append(d.process(music[:, i : i + 128]))
        return float(db(np.max(np.abs(np.concatenate(out, axis=1)[:, -4800:]))) - db(0.05))

    assert ducked(sine(2000.0, 1.0, amp=0.5), hpf=False) < -20.0
    assert ducked(sine(50.0, 1.0, amp=0.5), hpf=True) > -6.0
    assert ducked(sine(50.0, 1.0, amp=0.5), hpf=False) < -20.0


def test_threshold_jump_does_not_click() -> None:
    h = Harness("compressor", params={"threshold_db": 0.0, "ratio": 20.0, "attack_ms": 5.0, "release_ms": 50.0})
    x = sine(500.0, 1.0, amp=0.5)
    before = h.run(x[:, : SR // 2])
    h.set("threshold_db", -60.0)
    h.set("makeup_db", -24.0)
    after = h.run(x[:, SR // 2 :])
    y = np.concatenate([before, after], axis=1)[0]
    assert max_step(y[SR // 2 - 1000 :]) <= max_step(before[0, -4800:]) * 1.001


@pytest.mark.parametrize("level, threshold, ratio, expected", [
    (-30.0, -20.0, 2.0, -40.0),   # 10 dB under: falls 20 dB
    (-50.0, -20.0, 4.0, -60.0),   # reduction capped at range 40 dB... (90 dB wanted)
    (-10.0, -20.0, 4.0, -10.0),   # above threshold: unchanged
])
def test_expander_static_curve(level: float, threshold: float, ratio: float, expected: float) -> None:
    h = Harness("expander", params={"threshold_db": threshold, "ratio": ratio, "knee_db": 0.0,
                                    "range_db": 10.0 if level == -50.0 else 40.0,
                                    "attack_ms": 1.0, "release_ms": 5.0})
    y = h.run(_dc(level, 0.2))
    assert db(y[0, -1]) == pytest.approx(expected, abs=0.05)


def test_gate_closes_to_its_range_and_reopens() -> None:
    h = Harness("gate", params={"threshold_db": -40.0, "range_db": -60.0, "attack_ms": 0.5,
                                "hold_ms": 20.0, "release_ms": 20.0})
    loud, soft = sine(1000.0, 0.3, amp=0.1), sine(1000.0, 0.5, amp=0.001)
    y_loud = h.run(loud)
    y_soft = h.run(soft)
    y_again = h.run(loud)
    assert np.max(np.abs(y_loud[:, -4800:])) == pytest.approx(0.1, rel=1e-6)
    assert db(np.max(np.abs(y_soft[:, -4800:]))) == pytest.approx(-60.0 - 60.0, abs=0.2)
    # the gate is still open during the hold time
    assert np.max(np.abs(y_soft[:, : int(0.015 * SR)])) == pytest.approx(0.001, rel=1e-3)
    assert np.max(np.abs(y_again[:, -4800:])) == pytest.approx(0.1, rel=1e-6)


@pytest.mark.parametrize("freq, reduced", [(10000.0, True), (300.0, False)])
def test_deesser_reduces_only_the_high_band(freq: float, reduced: bool) -> None:
    h = Harness("deesser", params={"freq_hz": 5000.0, "threshold_db": -30.0, "ratio": 10.0})
    x = sine(freq, 0.5, amp=0.3)
    y = h.run(x)
    change = db(np.max(np.abs(y[:, -4800:]))) - db(0.3)
    if reduced:
        assert change < -10.0
    else:
        assert abs(change) < 0.1


def test_non_finite_sidechain_counts_as_silence() -> None:
    h = Harness("compressor", params={"threshold_db": -30.0, "ratio": 10.0, "knee_db": 0.0})
    x = sine(440.0, 0.1, amp=0.01)  # -40 dBFS: below threshold
    key = np.full_like(x, np.nan)
    out = []
    for i in range(0, x.shape[1], 128):
        h.stage.sidechain = key[:, i : i + 128]
        out.append(h.process(x[:, i : i + 128]))
    assert np.array_equal(np.concatenate(out, axis=1), x)


MOVES = {
    "compressor": {"threshold_db": -40.0, "ratio": 12.0, "knee_db": 0.0, "attack_ms": 1.0,
                   "release_ms": 400.0, "rms_ms": 50.0, "makeup_db": 9.0},
    "expander": {"threshold_db": -10.0, "ratio": 6.0, "knee_db": 12.0, "attack_ms": 20.0,
                 "release_ms": 10.0, "range_db": 20.0},
}


@pytest.mark.parametrize("type_name, detection", [("compressor", "peak"), ("compressor", "rms"), ("expander", None)])
def test_one_call_per_block_equals_the_scalar_kernel_per_sub_block(type_name: str, detection: str | None) -> None:
    """The stage's compiled block call follows each glide as 64-sample segments of the scalar kernel would."""
    from host.dsp import dynamics as kernels
    from host.dsp.dynamics import one_pole_coefficient

    h = Harness(type_name, params={"detection": detection} if detection else None)
    stage = h.stage
    x = sine(300.0, 0.6, amp=0.6) * np.linspace(0.05, 1.0, int(0.6 * SR))
    state, extra = np.zeros(4), "range_db" if type_name == "expander" else "rms_ms"
    rows = {name: stage.smoothed_index(name) for name in [*MOVES[type_name], "threshold_db"]}
    out, ref = [], []
    for k, start in enumerate(range(0, x.shape[1], 200)):  # 200: sub-blocks straddle block ends
        if k == 40:
            for name, value in MOVES[type_name].items():
                h.set(name, value)
        block = x[:, start : start + 200]
        out.append(h.process(block))
        settled, landed, ramps = stage.glide_state
        expected = np.empty_like(block)
        for s in range(0, block.shape[1], 64):
            e = min(s + 64, block.shape[1])
            v = {n: landed[i] if settled[i] else ramps[i, s] for n, i in rows.items()}
            m = rows.get("makeup_db")
            makeup = (np.array([1.0]) if m is None else
                      np.array([10 ** (landed[m] / 20)]) if settled[m] else 10 ** (ramps[m, s:e] / 20))
            kernels.compressor(block[:, s:e], block[:, s:e], expected[:, s:e], makeup, state,
                               v["threshold_db"], v["ratio"], v["knee_db"],
                               one_pole_coefficient(v["attack_ms"], SR), one_pole_coefficient(v["release_ms"], SR),
                               detection == "rms", one_pole_coefficient(v[extra], SR) if extra == "rms_ms" else 0.0,
                               type_name == "expander", v[extra] if extra == "range_db" else 0.0)
        ref.append(expected)
    y, r = np.concatenate(out, axis=1), np.concatenate(ref, axis=1)
    assert not stage.moving(list(MOVES[type_name]))  # the glides ran and landed within the signal
    assert np.max(np.abs(db(np.max(np.abs(y[:, -2000:]))) - db(np.max(np.abs(x[:, -2000:]))))) > 1.0
    np.testing.assert_allclose(y, r, rtol=1e-12, atol=1e-15)
