"""`mixhost feedback`: planted mix problems are found, with measured value, threshold, suggestion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

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


def peak_of(finding: dict) -> tuple[float, float]:
    """(height dB, frequency Hz) from a resonance finding's "peak +H dB at F kHz ..." text."""
    words = finding["measured"].split()
    hz = float(words[4]) * (1000.0 if words[5] == "kHz" else 1.0)
    return float(words[1]), hz


@pytest.mark.parametrize("problem,low,high", [("harsh", 2800, 3600), ("sibilant", 7500, 9500)])
def test_the_band_is_named(tmp_path, capsys, problem: str, low: float, high: float) -> None:
    data = feedback_json(tmp_path, capsys, planted(problem))
    area = "harshness" if problem == "harsh" else "sibilance"
    [finding] = [f for f in data["findings"] if f["area"] == area]
    _, hz = peak_of(finding)
    assert abs(np.log2(hz / np.sqrt(low * high))) <= 1 / 12  # the planted band's centre


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


# --- advice on real kinds of programme: acoustic, electronic, speech ------------------------


def peaking(x: np.ndarray, fs: float, hz: float, gain_db: float, q: float) -> np.ndarray:
    """x through a peaking EQ (RBJ cookbook biquad): a resonance of ``gain_db`` at ``hz``."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * hz / fs
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w), 1 - alpha / a])
    return sosfilt(np.concatenate((b, den))[None, :] / den[0], x, axis=-1)


def low_shelf_boost(x: np.ndarray, fs: float) -> np.ndarray:
    """x with its content below ~150 Hz raised by about 10 dB (a low-passed copy added in)."""
    return x + 2.2 * sosfilt(butter(2, 150, "lowpass", fs=fs, output="sos"), x, axis=-1)


def speech() -> tuple[np.ndarray, int]:
    """A voice reading two sentences, spoken by espeak-ng (mono, its own 22.05 kHz rate)."""
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is missing (make system-deps installs it)")
        pytest.skip("espeak-ng is not installed")
    text = (
        "The quick brown fox jumps over the lazy dog. Mixing is the art of balance, "
        "and mastering is the last careful listen before a record goes out into the world."
    )
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/speech.wav"
        subprocess.run(["espeak-ng", "-w", path, text], check=True, capture_output=True)
        x, fs = sf.read(path, always_2d=True)
    return x.T, fs


@pytest.fixture(scope="module")
def programmes() -> dict[str, tuple[np.ndarray, int]]:
    from host.analysis.signals import chorale, electronic

    return {
        "chorale": (chorale(16, FS, seed=1), FS),
        "electronic": (electronic(16, FS, seed=1), FS),
        "heavy bass": (electronic(16, FS, seed=1, bass_db=12.0), FS),
        "electronic, other": (electronic(16, FS, seed=2), FS),
        "speech": speech(),
    }


def feedback_on(tmp_path, capsys, programme: tuple[np.ndarray, int], *extra: str) -> dict:
    x, fs = programme
    path = tmp_path / "mix.wav"
    sf.write(path, x.T, fs, subtype="FLOAT")
    assert main(["feedback", str(path), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "name,kick", [("chorale", False), ("electronic", True), ("heavy bass", True), ("speech", False)]
)
def test_a_kick_is_named_only_where_there_is_one(tmp_path, capsys, programmes, name, kick) -> None:
    data = feedback_on(tmp_path, capsys, programmes[name])
    assert bool(data["scan"]["kick"]["detected"]) is kick
    advice = " ".join(f["suggestion"] for f in data["findings"])
    if not kick:
        assert "kick" not in advice and "drums" not in advice


@pytest.mark.parametrize("name", ["chorale", "electronic"])
def test_no_false_resonance_or_balance_advice_on_real_music(
    tmp_path, capsys, programmes, name
) -> None:
    """The raw chorale once read "harshness +17.6 dB at 2 kHz": a straight tilt fit on a
    spectrum that falls steeply above 4 kHz.  Against its own smoothed curve, nothing sticks out."""
    data = feedback_on(tmp_path, capsys, programmes[name])
    tonal_areas = ("harshness", "sibilance", "low-end balance")
    tonal = [f for f in data["findings"] if f["area"] in tonal_areas]
    assert tonal == []
    assert [f["severity"] for f in data["findings"] if f["area"] == "tonal balance"] == ["ok"]


@pytest.mark.parametrize("name", ["chorale", "electronic"])
def test_an_injected_resonance_is_found_where_it_is(tmp_path, capsys, programmes, name) -> None:
    x, fs = programmes[name]
    data = feedback_on(tmp_path, capsys, (peaking(x, fs, 2500.0, 9.0, 4.0), fs))
    [harsh] = [f for f in data["findings"] if f["area"] == "harshness"]
    height, hz = peak_of(harsh)
    assert abs(np.log2(hz / 2500.0)) <= 1 / 12  # within a twelfth of an octave
    assert 6.0 <= height <= 12.0  # a +9 dB peak, read through 1/6-octave smoothing
    assert "2.5 kHz" in harsh["suggestion"] or "2.6 kHz" in harsh["suggestion"]


def test_a_kick_bass_imbalance_is_flagged(tmp_path, capsys, programmes) -> None:
    alone = feedback_on(tmp_path, capsys, programmes["heavy bass"])
    [heavy] = [f for f in alone["findings"] if f["area"] == "low-end balance"]
    assert "heavy" in heavy["suggestion"] and "kick/bass balance" in heavy["suggestion"]
    reference = tmp_path / "reference.wav"
    x, fs = programmes["electronic, other"]
    sf.write(reference, x.T, fs, subtype="FLOAT")
    against = feedback_on(tmp_path, capsys, programmes["heavy bass"], "--reference", str(reference))
    low = [f for f in against["findings"] if f["area"] == "low-end balance"]
    assert {f["measured"].split()[0] for f in low} >= {"63", "125"}
    assert all("heavier" in f["suggestion"] and "kick/bass" in f["suggestion"] for f in low)
    # the balanced track against the same reference is within its tolerance
    balanced = feedback_on(
        tmp_path, capsys, programmes["electronic"], "--reference", str(reference)
    )
    assert [f for f in balanced["findings"] if f["area"] == "low-end balance"] == []


def test_a_heavy_low_end_without_a_kick_names_no_kick(tmp_path, capsys, programmes) -> None:
    reference = tmp_path / "reference.wav"
    x, fs = programmes["chorale"]
    sf.write(reference, x.T, fs, subtype="FLOAT")
    boosted = (low_shelf_boost(x, fs), fs)
    data = feedback_on(tmp_path, capsys, boosted, "--reference", str(reference))
    low = [f for f in data["findings"] if f["area"] == "low-end balance"]
    assert low and all("heavier" in f["suggestion"] for f in low)
    assert all("kick" not in f["suggestion"] and "lowest parts" in f["suggestion"] for f in low)


def test_the_kick_detector_does_not_depend_on_block_size_or_chunking() -> None:
    from host.analysis.kick import CHUNK_FRAMES, HOP, KickDetector
    from host.analysis.signals import electronic

    seconds = 1.5 * CHUNK_FRAMES * HOP / 1000.0  # about one and a half separation chunks
    mono = electronic(seconds, FS, seed=3).mean(axis=0)
    reports = []
    for block in (65536, 4097):
        detector = KickDetector(FS)
        for start in range(0, mono.size, block):
            detector.add(mono[start : start + block])
        reports.append(detector.finish())
    assert reports[0].detected and reports[1].detected
    assert reports[0].onsets_per_s == pytest.approx(reports[1].onsets_per_s, abs=1e-9)
    assert reports[0].percussive_low_db == pytest.approx(reports[1].percussive_low_db, abs=1e-6)
    assert reports[0].onsets_per_s == pytest.approx(124 / 60 * 2, rel=0.1)  # kick and bass notes
