"""`mixhost feedback`: planted mix problems are found, with measured value, threshold, suggestion."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from host.analysis.signals import music
from host.cli import main

FS = 48000
SECONDS = 12


def pink(seed: int, seconds: float = SECONDS) -> np.ndarray:
    """Pink noise (−3 dB/octave): a straight line on a log-frequency plot, nothing sticks out."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / FS)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return x / np.sqrt(np.mean(x**2))


def stereo_mix(seed: int = 1, rms_db: float = -20.0, width: float = 0.5) -> np.ndarray:
    """Pink noise with a mono low end and some width above 200 Hz, like a sensible mix."""
    common = pink(seed)
    side = sosfilt(butter(2, 200, "highpass", fs=FS, output="sos"), pink(seed + 100))
    x = np.stack([common + width * side, common - width * side])
    return x * 10 ** (rms_db / 20) / np.sqrt(np.mean(x**2))


def band(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return sosfilt(butter(2, [low, high], "bandpass", fs=FS, output="sos"), x, axis=1)


def planted(problem: str) -> np.ndarray:
    x = stereo_mix()
    if problem == "clipping":
        return np.clip(x * 10 ** (18 / 20), -1.0, 1.0)
    if problem == "hot":
        return x * (10 ** (-0.5 / 20) / np.max(np.abs(x)))
    if problem == "dc":
        return x + 0.01
    if problem == "inverted":
        return np.stack([x[0], -x[0]])
    if problem == "bass-out-of-phase":
        low = sosfilt(butter(4, 120, "lowpass", fs=FS, output="sos"), x[0]) * 4
        high = x - sosfilt(butter(4, 120, "lowpass", fs=FS, output="sos"), x, axis=1)
        return np.stack([high[0] + low, high[1] - low])
    if problem == "harsh":
        return x + 3.0 * band(x, 2800, 3600)
    if problem == "sibilant":
        return x + 3.0 * band(x, 7500, 9500)
    if problem == "squashed":
        y = np.tanh(8 * x / np.max(np.abs(x)))
        return 0.7 * y / np.max(np.abs(y))
    if problem == "loud":
        return np.tanh(x * 10 ** (14 / 20)) * 0.85
    raise ValueError(problem)


def feedback_json(tmp_path, capsys, x: np.ndarray, *extra: str) -> dict:
    path = tmp_path / "mix.wav"
    sf.write(path, x.T, FS, subtype="FLOAT")
    assert main(["feedback", str(path), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_clean_mix_has_no_warnings(tmp_path, capsys) -> None:
    data = feedback_json(tmp_path, capsys, stereo_mix())
    severities = {f["area"]: f["severity"] for f in data["findings"]}
    assert set(severities.values()) <= {"ok", "note"}, severities


@pytest.mark.parametrize(
    "problem,area,severity",
    [
        ("clipping", "clipping", "problem"),
        ("clipping", "inter-sample overs", "warn"),
        ("hot", "headroom", "warn"),
        ("dc", "DC offset", "warn"),
        ("inverted", "phase", "problem"),
        ("inverted", "mono compatibility", "warn"),
        ("bass-out-of-phase", "low-end phase", "warn"),
        ("harsh", "harshness", "warn"),
        ("sibilant", "sibilance", "warn"),
        ("squashed", "over-compression", "problem"),
        ("loud", "loudness", "note"),
    ],
)
def test_planted_problem_is_found(tmp_path, capsys, problem: str, area: str, severity: str) -> None:
    data = feedback_json(tmp_path, capsys, planted(problem))
    found = [f for f in data["findings"] if f["area"] == area]
    assert found, [f["area"] for f in data["findings"]]
    assert found[0]["severity"] == severity
    assert found[0]["measured"] and found[0]["threshold"] and found[0]["suggestion"] != "—"


@pytest.mark.parametrize("problem,where", [("harsh", "3.2 kHz"), ("sibilant", "8.0 kHz")])
def test_the_band_is_named(tmp_path, capsys, problem: str, where: str) -> None:
    data = feedback_json(tmp_path, capsys, planted(problem))
    area = "harshness" if problem == "harsh" else "sibilance"
    [finding] = [f for f in data["findings"] if f["area"] == area]
    assert f"at {where}" in finding["measured"]


def test_low_end_against_a_reference(tmp_path, capsys) -> None:
    reference = tmp_path / "ref.wav"
    sf.write(reference, stereo_mix(seed=5).T, FS, subtype="FLOAT")
    heavy = stereo_mix() + 4.0 * band(stereo_mix(), 50, 80)
    data = feedback_json(tmp_path, capsys, heavy, "--reference", str(reference))
    low = [f for f in data["findings"] if f["area"] == "low-end balance"]
    [at63] = [f for f in low if f["measured"].startswith("63 Hz")]
    assert "heavier" in at63["suggestion"]
    assert float(at63["measured"].split()[3]) > 6.0  # dB above the reference


def test_session_notes_and_reports(tmp_path, capsys) -> None:
    sf.write(tmp_path / "vocal.wav", stereo_mix().T, FS, subtype="FLOAT")
    sf.write(tmp_path / "ref.wav", stereo_mix(seed=9).T, FS, subtype="FLOAT")
    session = tmp_path / "song.yaml"
    session.write_text(
        "session:\n"
        "  name: Song\n"
        "  notes: Keep the vocal up front and the low end tight.\n"
        "  references: [{path: ref.wav, note: the tone we want}]\n"
        "tracks:\n"
        "  vocal:\n"
        "    source: vocal.wav\n"
        "    notes: The lead.\n"
    )
    md, page = tmp_path / "fb.md", tmp_path / "fb.html"
    mix = tmp_path / "vocal.wav"
    argv = ["feedback", str(mix), "--session", str(session), "--md", str(md), "--html", str(page)]
    assert main(argv) == 0
    text = md.read_text()
    assert "Keep the vocal up front" in text and "**vocal**: The lead." in text
    assert "Reference: ref.wav" in text  # the session's first reference is used
    assert "| area | measured | threshold | suggestion |" in text
    assert f"References: {tmp_path.resolve() / 'ref.wav'} (the tone we want)" in text
    page_text = page.read_text()
    assert page_text.count("data:image/png;base64,") == 2
    assert "Keep the vocal up front" in page_text and "<b>vocal</b>: The lead." in page_text
    assert f"<li>{tmp_path.resolve() / 'ref.wav'} (the tone we want)</li>" in page_text
    # the plots hold the target line and the reference curve (their legends, in the alt text)
    assert "target -14 LUFS" in page_text and "reference: ref.wav" in page_text


@pytest.mark.parametrize("session_block,track_note", [
    ("session:\n  references: [{path: ref.wav, note: the tone we want}]\n", ""),
    ("session:\n  references: [{path: ref.wav, note: the tone we want}]\n", "    notes: The lead.\n"),
])
def test_references_and_track_notes_show_without_a_session_note(
    tmp_path, capsys, session_block: str, track_note: str
) -> None:
    sf.write(tmp_path / "vocal.wav", stereo_mix().T, FS, subtype="FLOAT")
    sf.write(tmp_path / "ref.wav", stereo_mix(seed=9).T, FS, subtype="FLOAT")
    session = tmp_path / "song.yaml"
    session.write_text(session_block + "tracks:\n  vocal:\n    source: vocal.wav\n" + track_note)
    md, page = tmp_path / "fb.md", tmp_path / "fb.html"
    argv = ["feedback", str(tmp_path / "vocal.wav"), "--session", str(session), "--md", str(md),
            "--html", str(page)]
    assert main(argv) == 0
    reference = str(tmp_path.resolve() / "ref.wav")
    text, page_text = md.read_text(), page.read_text()
    assert "## Your notes" in text and f"References: {reference} (the tone we want)" in text
    assert "<h2>Your notes</h2>" in page_text and f"<li>{reference} (the tone we want)</li>" in page_text
    if track_note:
        assert "**vocal**: The lead." in text and "<b>vocal</b>: The lead." in page_text


def test_crest_factor_flags_a_clipped_mix_not_a_dynamic_one(tmp_path, capsys) -> None:
    dynamic = music(12, FS, seed=4, level_db=-20)
    clipped = np.clip(dynamic * 10 ** (24 / 20), -0.5, 0.5)  # the peaks shaved flat
    crest = {}
    for name, x in (("dynamic", dynamic), ("clipped", clipped)):
        data = feedback_json(tmp_path, capsys, x)
        crest[name] = [f for f in data["findings"] if f["area"] == "crest factor"]
        measured = data["measurements"]
        crest[name + " dB"] = measured.get("crest_factor_db")
    assert crest["dynamic"] == []
    [finding] = crest["clipped"]
    assert finding["severity"] == "warn"
    assert finding["measured"].startswith(f"crest factor {crest['clipped dB']:.1f} dB")
    assert crest["clipped dB"] < 8.0 <= crest["dynamic dB"]
    assert finding["threshold"] == "≥ 8 dB" and "transients" in finding["suggestion"]


@pytest.mark.parametrize("fs,factor", [(48000, "4×"), (96000, "2×")])
def test_inter_sample_overs_state_the_oversampling_used(tmp_path, capsys, fs: int, factor: str) -> None:
    n = np.arange(4 * fs)
    x = np.tile(0.999 * np.sin(2 * np.pi * (fs / 4) * n / fs + np.pi / 4), (2, 1))  # peaks at +3 dBTP
    path = tmp_path / "overs.wav"
    sf.write(path, x.T, fs, subtype="FLOAT")
    assert main(["feedback", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    [overs] = [f for f in data["findings"] if f["area"] == "inter-sample overs"]
    assert overs["threshold"] == f"none ({factor} oversampled, BS.1770-4 Annex 2)"


def test_missing_mix_is_a_clean_exit_2(tmp_path, capsys) -> None:
    assert main(["feedback", str(tmp_path / "nope.wav")]) == 2
    assert "nope.wav" in capsys.readouterr().err


def test_a_silent_mix_is_one_clear_problem(tmp_path, capsys) -> None:
    data = feedback_json(tmp_path, capsys, np.zeros((2, FS)))
    assert [(f["area"], f["severity"]) for f in data["findings"]] == [("level", "problem")]
