"""`mixhost analyze`, run through ``host.cli.main`` on generated files with known values."""

from __future__ import annotations

import json
import math

import numpy as np
import pyebur128
import pytest
import soundfile as sf

from host.analysis.report import JSON_KEYS
from host.analysis.signals import music, sine
from host.cli import main
from host.errors import UserInputError
from host.loudness.targets import PRESETS, resolve_target

FS = 48000


def write(tmp_path, name: str, x: np.ndarray, fs: int = FS) -> str:
    path = tmp_path / name
    sf.write(path, x.T, fs, subtype="FLOAT")
    return str(path)


def libebur128_integrated(path: str) -> float:
    x, fs = sf.read(path, always_2d=True)
    state = pyebur128.R128State(x.shape[1], fs, pyebur128.MeasurementMode.MODE_I)
    state.add_frames(np.ascontiguousarray(x).ravel(), x.shape[0])
    return float(pyebur128.get_loudness_global(state))


def analyze_json(capsys, *argv: str) -> list[dict]:
    assert main(["analyze", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_steady_tone(tmp_path, capsys) -> None:
    [data] = analyze_json(capsys, write(tmp_path, "tone.wav", sine(-23, 20)))
    assert set(JSON_KEYS) <= set(data)
    assert data["integrated_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert data["max_momentary_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert data["max_short_term_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert data["lra_lu"] == pytest.approx(0.0, abs=0.1)
    assert data["true_peak_dbtp"] == pytest.approx(-23.0, abs=0.05)
    assert data["sample_peak_dbfs"] == pytest.approx(-23.0, abs=0.01)
    assert data["plr_db"] == pytest.approx(0.0, abs=0.1)
    assert data["crest_factor_db"] == pytest.approx(10 * math.log10(2), abs=0.01)
    assert data["dc_offset"] == pytest.approx(0.0, abs=1e-6)
    assert data["correlation"] == pytest.approx(1.0, abs=1e-6)
    assert data["mono_loss_lu"] == pytest.approx(0.0, abs=0.01)
    assert data["octave_bands_db"]["1k"] == pytest.approx(0.0, abs=0.1)
    others = [db for band, db in data["octave_bands_db"].items() if band != "1k"]
    assert max(others) < -40


def _stereo_noise(kind: str) -> np.ndarray:
    rng = np.random.default_rng(4)
    left = 0.1 * rng.standard_normal(10 * FS)
    right = {
        "same": left,
        "inverted": -left,
        "unrelated": 0.1 * rng.standard_normal(10 * FS),
    }[kind]
    return np.stack([left, right])


@pytest.mark.parametrize(
    "kind,correlation,mono_loss",
    [("same", 1.0, 0.0), ("unrelated", 0.0, 3.01), ("inverted", -1.0, None)],
)
def test_stereo_correlation_and_mono_fold(
    tmp_path, capsys, kind: str, correlation: float, mono_loss: float | None
) -> None:
    [data] = analyze_json(capsys, write(tmp_path, f"{kind}.wav", _stereo_noise(kind)))
    assert data["correlation"] == pytest.approx(correlation, abs=0.02)
    if mono_loss is None:  # folds to silence: an infinite loss, null in JSON
        assert data["mono_loss_lu"] is None
    else:
        assert data["mono_loss_lu"] == pytest.approx(mono_loss, abs=0.1)


@pytest.mark.parametrize("offset", [0.05, -0.2])
def test_dc_offset(tmp_path, capsys, offset: float) -> None:
    [data] = analyze_json(capsys, write(tmp_path, "dc.wav", sine(-20, 5) + offset))
    assert data["dc_offset"] == pytest.approx(offset, abs=1e-4)
    assert data["dc_offset_per_channel"] == pytest.approx([offset, offset], abs=1e-4)


def test_inter_sample_peak_shows_in_true_peak_and_plr(tmp_path, capsys) -> None:
    x = sine(-3.0, 5, FS, FS / 4, phase_deg=45.0)  # samples at -6 dBFS, true peak -3 dBTP
    [data] = analyze_json(capsys, write(tmp_path, "isp.wav", x))
    assert data["sample_peak_dbfs"] == pytest.approx(-6.0, abs=0.05)
    assert data["true_peak_dbtp"] == pytest.approx(-3.0, abs=0.2)
    assert data["plr_db"] == pytest.approx(data["true_peak_dbtp"] - data["integrated_lufs"])


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_channel_layouts(tmp_path, capsys, channels: int) -> None:
    [data] = analyze_json(capsys, write(tmp_path, "m.wav", music(8, FS, channels, seed=2)))
    assert data["channels"] == channels
    # libebur128's default layouts are ours: mono, stereo, 5.1 as L R C LFE Ls Rs
    assert data["integrated_lufs"] == pytest.approx(libebur128_integrated(data["file"]), abs=0.05)
    assert data["true_peak_dbtp"] >= data["sample_peak_dbfs"]


def test_several_files_keep_their_order(tmp_path, capsys) -> None:
    paths = [write(tmp_path, f"{level}.wav", sine(level, 5)) for level in (-30, -20)]
    data = analyze_json(capsys, *paths)
    assert [d["file"] for d in data] == paths
    assert [round(d["integrated_lufs"]) for d in data] == [-30, -20]


def test_html_report_with_plots_and_reference(tmp_path, capsys) -> None:
    mix = write(tmp_path, "mix.wav", music(10, FS, seed=8))
    ref = write(tmp_path, "ref.wav", music(10, FS, seed=9, level_db=-14))
    report = tmp_path / "report.html"
    assert main(["analyze", mix, "--html", str(report), "--reference", ref, "--target", "-16"]) == 0
    text = report.read_text()
    assert text.count("data:image/png;base64,") == 2
    # the alt text lists the curves the figures' legends hold: the target line, the reference
    # the distribution panel's L10 and L95 (the LRA's ends) follow the loudness curves
    assert 'alt="loudness over time: momentary (400 ms), short-term (3 s), integrated, target -16 LUFS, L10 ' in text
    assert 'alt="spectrum: mix.wav, reference: ref.wav"' in text
    assert "Integrated loudness" in text
    assert "report:" in capsys.readouterr().out


def test_table_output(tmp_path, capsys) -> None:
    assert main(["analyze", write(tmp_path, "tone.wav", sine(-23, 5))]) == 0
    text = capsys.readouterr().out
    assert "integrated" in text and "-23.0 LUFS" in text


@pytest.mark.parametrize("content", [None, b"RIFF not really a wave file"])
def test_bad_input_is_a_clean_exit_2(tmp_path, capsys, content: bytes | None) -> None:
    path = tmp_path / "broken.wav"
    if content is not None:
        path.write_bytes(content)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert "broken.wav" in err and "Traceback" not in err


def test_bad_target_is_a_clean_exit_2(tmp_path, capsys) -> None:
    assert main(["analyze", write(tmp_path, "t.wav", sine(-23, 1)), "--target", "spotfy"]) == 2
    assert 'did you mean "spotify"' in capsys.readouterr().err


def test_unwritable_report_is_a_clean_exit_2(tmp_path, capsys) -> None:
    (tmp_path / "a-file").write_text("")  # a missing folder is made, as for every output; a file in the way is not
    target = tmp_path / "a-file" / "r.html"
    assert main(["analyze", write(tmp_path, "t.wav", sine(-23, 1)), "--html", str(target)]) == 2
    assert "r.html" in capsys.readouterr().err


@pytest.mark.parametrize(
    "spec,lufs,ceiling",
    [
        ("spotify", -14, -1),
        ("apple-music", -16, -1),
        ("youtube", -14, -1),
        ("tidal", -14, -1),
        ("amazon", -14, -2),
        ("deezer", -15, -1),
        ("ebu-r128", -23, -1),
        ("atsc-a85", -24, -2),
        ("podcast", -16, -1),
        ("-18", -18, -1),
        ("-9/-0.3", -9, -0.3),
    ],
)
def test_loudness_targets(spec: str, lufs: float, ceiling: float) -> None:
    target = resolve_target(spec)
    assert (target.integrated_lufs, target.ceiling_dbtp) == (lufs, ceiling)


def test_every_preset_is_tested() -> None:
    assert len(PRESETS) == 9


@pytest.mark.parametrize("spec", ["loud", "5", "-14/2", "-14/-1/-2"])
def test_bad_targets(spec: str) -> None:
    with pytest.raises(UserInputError):
        resolve_target(spec)


# --- mixhost compare ------------------------------------------------------------------


def _bright(x: np.ndarray) -> np.ndarray:
    """x plus its content above ~3 kHz raised by about 6 dB (a 4th-order high-pass added in)."""
    from scipy.signal import butter, sosfilt

    return x + sosfilt(butter(4, 3000, "highpass", fs=FS, output="sos"), x, axis=1)


def test_compare_a_quieter_copy_is_only_quieter(tmp_path, capsys) -> None:
    x = music(12, FS, seed=30)
    a = write(tmp_path, "a.wav", x)
    b = write(tmp_path, "b.wav", x * 10 ** (-6 / 20))
    assert main(["compare", a, b, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["match_gain_db"] == pytest.approx(6.0, abs=0.01)
    assert data["differences"]["plr_db"] == pytest.approx(0.0, abs=0.05)
    assert data["differences"]["lra_lu"] == pytest.approx(0.0, abs=0.05)
    assert max(abs(d) for d in data["octave_difference_db"].values()) < 0.01
    assert data["findings"][0].startswith("A is 6.0 LU louder")


def test_compare_finds_the_brighter_version(tmp_path, capsys) -> None:
    x = music(12, FS, seed=31)
    a, b = write(tmp_path, "a.wav", x), write(tmp_path, "b.wav", _bright(x))
    report = tmp_path / "ab.html"
    assert main(["compare", a, b, "--json", "--html", str(report)]) == 0
    data = json.loads(capsys.readouterr().out)
    bands = data["octave_difference_db"]
    assert bands["8k"] > 3.0 and bands["16k"] > 3.0
    assert bands["8k"] - bands["125"] > 3.0  # the tilt, independent of the matching gain
    assert any("8k Hz octave" in f and "more" in f for f in data["findings"])
    text = report.read_text()
    assert text.count("data:image/png;base64,") == 2
    assert 'alt="short-term loudness: A: a.wav, B: b.wav (matched)"' in text


def test_compare_table_and_missing_file(tmp_path, capsys) -> None:
    a = write(tmp_path, "a.wav", sine(-20, 5))
    assert main(["compare", a, a]) == 0
    assert "equally loud" in capsys.readouterr().out
    assert main(["compare", a, str(tmp_path / "nope.wav")]) == 2
    assert "nope.wav" in capsys.readouterr().err


def test_session_notes_are_shown(tmp_path, capsys) -> None:
    mix = write(tmp_path, "mix.wav", sine(-20, 3))
    session = tmp_path / "s.yaml"
    session.write_text(
        "session:\n  notes: Warm and wide.\ntracks:\n  a:\n    source: mix.wav\n    notes: Lead.\n"
    )
    report = tmp_path / "r.html"
    assert main(["analyze", mix, "--session", str(session), "--html", str(report)]) == 0
    text = capsys.readouterr().out
    assert "Warm and wide." in text and "a: Lead." in text
    assert "Warm and wide." in report.read_text()
    [data] = analyze_json(capsys, mix, "--session", str(session))
    assert data["session"]["notes"] == "Warm and wide."
    assert data["session"]["track_notes"] == {"a": "Lead."}
    assert set(JSON_KEYS) <= set(data)  # the stable metric keys are all still there


def test_session_references_are_in_the_json(tmp_path, capsys) -> None:
    mix = write(tmp_path, "mix.wav", sine(-20, 3))
    session = tmp_path / "s.yaml"
    session.write_text(
        "session:\n  references: [{path: ref.wav, note: this tone}]\n"
        "tracks:\n  a:\n    source: mix.wav\n"
    )
    [data] = analyze_json(capsys, mix, "--session", str(session))
    assert data["session"]["notes"] == ""
    [ref] = data["session"]["references"]
    assert ref["path"] == str(tmp_path.resolve() / "ref.wav") and ref["note"] == "this tone"


@pytest.mark.parametrize("frames", [FS, 9000])
def test_silent_or_too_short_files_read_null_not_crash(tmp_path, capsys, frames: int) -> None:
    x = np.zeros((2, frames)) if frames == FS else 0.1 * np.ones((2, frames))
    report = tmp_path / "r.html"
    [data] = analyze_json(capsys, write(tmp_path, "s.wav", x), "--html", str(report))
    assert data["integrated_lufs"] is None and data["plr_db"] is None
    assert data["max_momentary_lufs"] is None  # silence, or shorter than one 400 ms window
    assert report.exists()


# --- report plots: the data behind them ------------------------------------------------


def pink_noise(seconds: float, seed: int = 3) -> np.ndarray:
    """Pink noise (equal energy per octave), stereo, RMS −20 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=1)
    f = np.fft.rfftfreq(n, 1 / FS)
    spectrum[:, 1:] /= np.sqrt(f[1:])
    spectrum[:, 0] = 0.0
    x = np.fft.irfft(spectrum, n, axis=1)
    return x * 0.1 / np.sqrt(np.mean(x**2))


def test_the_spectrum_plot_is_smoothed_at_a_sixth_of_an_octave(tmp_path) -> None:
    from host.analysis.report import analyze_file, smoothed_spectrum_db

    a = analyze_file(write(tmp_path, "pink.wav", pink_noise(20)))
    hz, level = smoothed_spectrum_db(a)
    inside = (hz >= 100) & (hz <= 10000)
    # pink noise falls 3 dB an octave: the smoothed curve follows that line within 1 dB,
    # where the raw FFT bins scatter several dB about it
    slope, offset = np.polyfit(np.log2(hz[inside]), level[inside], 1)
    assert slope == pytest.approx(-3.0, abs=0.2)
    assert np.max(np.abs(level[inside] - (slope * np.log2(hz[inside]) + offset))) < 1.0
    raw = (a.spectrum_hz >= 100) & (a.spectrum_hz <= 10000)
    raw_fit = slope * np.log2(a.spectrum_hz[raw]) + offset
    assert np.max(np.abs(a.spectrum_db[raw] - raw_fit)) > 3.0
    # a pure tone is spread over one sixth of an octave, no more
    tone = analyze_file(write(tmp_path, "tone.wav", sine(-20, 10, frequency=1000.0)))
    hz, level = smoothed_spectrum_db(tone)
    lit = hz[level > -20.0]
    assert np.log2(lit.max() / lit.min()) == pytest.approx(1 / 6, abs=1 / 24)
    assert lit.min() < 1000.0 < lit.max()


def steady_programme(lra_lu: float, seconds: float = 60.0) -> np.ndarray:
    """Pink noise whose level swings slowly (20 s period) by about ``lra_lu`` between L10 and L95."""
    t = np.arange(int(seconds * FS)) / FS
    # a sine swing of amplitude A puts L95 − L10 near 1.94 A (arcsine distribution)
    swing_db = lra_lu / 1.94 * np.sin(2 * np.pi * t / 20.0)
    return pink_noise(seconds) * 10 ** (swing_db / 20)


@pytest.mark.parametrize("kind", ["steady", "music"])
def test_the_short_term_distribution_is_the_one_behind_the_lra(tmp_path, kind: str) -> None:
    from host.analysis.report import analyze_file, short_term_distribution

    x = steady_programme(1.1) if kind == "steady" else music(40, FS, seed=12)
    a = analyze_file(write(tmp_path, "p.wav", x))
    spread = short_term_distribution(a)
    assert spread.high_lufs - spread.low_lufs == pytest.approx(a.lra_lu, abs=0.02)
    assert spread.values.size > 10 * (a.duration_s - 3) * 0.5  # 10 values a second, most kept
    assert np.all(spread.values > a.integrated_lufs - 20 - 1.0)  # the relative gate held


def test_the_loudness_axis_fits_a_1_lu_programme(tmp_path) -> None:
    from host.analysis.report import analyze_file, loudness_axis, short_term_distribution

    a = analyze_file(write(tmp_path, "steady.wav", steady_programme(1.1)))
    assert a.lra_lu == pytest.approx(1.1, abs=0.3)
    low, high = loudness_axis(a)
    spread = short_term_distribution(a)
    # the programme is on the axis, and its loudness range fills a visible part of it
    assert low < spread.values.min() and spread.values.max() < high
    assert low < a.integrated_lufs < high
    assert high - low <= 12.0
    assert a.lra_lu / (high - low) >= 0.1


def test_a_report_renders_to_html_and_png(tmp_path, capsys) -> None:
    import base64
    import re

    from matplotlib.image import imread

    mix = write(tmp_path, "mix.wav", music(20, FS, seed=8))
    report = tmp_path / "report.html"
    assert main(["analyze", mix, "--html", str(report)]) == 0
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', report.read_text())
    assert len(pngs) == 2
    for index, data in enumerate(pngs):
        path = tmp_path / f"plot{index}.png"
        path.write_bytes(base64.b64decode(data))
        image = imread(path)
        assert image.shape[0] > 200 and image.shape[1] > 600  # a 9 × 3.2 in figure at 100 dpi
        assert float(image[..., :3].std()) > 0.05  # something is drawn on it


# --- files without a loudness: too short, or silent --------------------------------------


@pytest.mark.parametrize(
    "seconds,note", [(0.02, "too short to measure: 0.02 s"), (2.0, "short: 2.0 s")]
)
def test_a_short_file_is_too_short_not_silent(tmp_path, capsys, seconds: float, note: str) -> None:
    path = write(tmp_path, "blip.wav", sine(-20, seconds))
    assert main(["analyze", path]) == 0
    table_text = capsys.readouterr().out
    assert "silent" not in table_text and "too short" in table_text
    [data] = analyze_json(capsys, path)
    assert data["note"].startswith(note)
    assert data["lra_lu"] is None and data["max_short_term_lufs"] is None
    assert data["true_peak_dbtp"] == pytest.approx(-20.0, abs=0.1)  # the peaks are measured
    if seconds < 0.4:
        assert data["integrated_lufs"] is None
    else:
        assert data["integrated_lufs"] == pytest.approx(-20.0, abs=0.1)  # −20 dBFS sine in 2 ch
    assert main(["feedback", path, "--json"]) == 0
    findings = json.loads(capsys.readouterr().out)["findings"]
    if seconds < 0.4:
        assert [(f["area"], f["severity"]) for f in findings] == [("length", "problem")]
    assert all("silent" not in f["suggestion"] for f in findings)


def test_a_silent_file_says_silent(tmp_path, capsys) -> None:
    [data] = analyze_json(capsys, write(tmp_path, "quiet.wav", np.zeros((2, 5 * FS))))
    assert data["note"] == "silent: nothing above the −70 LUFS gate"


@pytest.mark.parametrize(
    "a_kind,b_kind,message",
    [
        ("tone", "silence", "B is silent"),
        ("silence", "tone", "A is silent"),
        ("blip", "tone", "A is too short to measure (0.02 s"),
    ],
)
def test_compare_against_silence_says_what_is_going_on(
    tmp_path, capsys, a_kind: str, b_kind: str, message: str
) -> None:
    signals = {
        "tone": sine(-20, 5),
        "silence": np.zeros((2, 5 * FS)),
        "blip": sine(-20, 0.02),
    }
    a = write(tmp_path, f"a-{a_kind}.wav", signals[a_kind])
    b = write(tmp_path, f"b-{b_kind}.wav", signals[b_kind])
    report = tmp_path / "ab.html"
    assert main(["compare", a, b, "--html", str(report)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "no loudness to match" in captured.err
    silent_one = a if message.startswith("A") else b
    assert silent_one in captured.err
    assert "inf" not in captured.out and not report.exists()
