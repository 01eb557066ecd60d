"""What a user hands mixhost that used to crash it or pass without a word (issue 18, sections 2 and 3).

Each test builds the faulty input for real (a stem at another rate, a
corrupt cache, a full filesystem, a truncated WAV ...) and runs the
command or the engine on it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import host
from host.cli import main
from host.live.engine import LiveEngine
from tests.conftest import tone

SR = 48000
STEM_RATE = 44100
FREQ = 1000.0
AMP = 0.5
# a centred mono source at the -3 dB pan law: each side carries AMP * 10^(-3/20); a sine's RMS is that / sqrt 2
SIDE_RMS = AMP * 10 ** (-3 / 20) / np.sqrt(2)


def _mixhost(*args: str, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host", *args], capture_output=True, text=True, timeout=120,
                          **options)  # type: ignore[call-overload]


# -- a stem at another sample rate, shorter than the session -------------------------------------------
def _resampled_session(tmp_path: Path, case: str) -> tuple[Path, float]:
    """A 1 s, 44.1 kHz mono tone in a 48 kHz session that lasts 2.5 s: longer through a
    second (silent) stem, or through ``tail_s``.  Returns the session and its length."""
    sf.write(tmp_path / "tone44.wav", tone(FREQ, 1.0, AMP, sr=STEM_RATE), STEM_RATE, subtype="FLOAT")
    other = ""
    tail = ""
    if case == "shorter stem":
        sf.write(tmp_path / "room.wav", np.zeros(int(2.5 * SR)), SR, subtype="FLOAT")
        other = "  room:\n    source: room.wav\n"
    else:
        tail = "  tail_s: 1.5\n"
    path = tmp_path / "session.yaml"
    path.write_text("session:\n  sample_rate: 48000\ntracks:\n  tone:\n    source: tone44.wav\n" + other
                    + "outputs:\n  mixdown: out/mix.wav\n  bit_depth: float\n  dither: false\n" + tail)
    return path, 2.5


def _assert_tone_then_silence(mix: np.ndarray, length_s: float) -> None:
    """``mix`` (2, n) at SR: the 1 kHz tone at its level for the stem's second, then silence."""
    assert mix.shape[1] >= int(length_s * SR) - 1
    for side in mix:
        playing = side[int(0.1 * SR):int(0.9 * SR)]
        spectrum = np.abs(np.fft.rfft(playing * np.hanning(len(playing))))
        peak_hz = np.argmax(spectrum) * SR / len(playing)
        assert peak_hz == pytest.approx(FREQ, abs=2.0)
        assert np.sqrt(np.mean(playing ** 2)) == pytest.approx(SIDE_RMS, rel=0.01)
        after = side[int(1.01 * SR):]
        assert np.max(np.abs(after)) < 1e-5  # soxr's ringing is over within a few ms


@pytest.mark.parametrize("case", ["shorter stem", "tail_s"])
def test_a_stem_at_another_rate_renders_to_the_session_end(tmp_path: Path, case: str) -> None:
    path, length = _resampled_session(tmp_path, case)
    assert main(["validate", str(path)]) == 0
    assert main(["render", str(path), "--no-progress"]) == 0
    mix, rate = sf.read(tmp_path / "out" / "mix.wav", always_2d=True)
    assert rate == SR
    _assert_tone_then_silence(mix.T, length)


def test_an_album_track_rendered_from_a_session_with_a_resampled_stem(tmp_path: Path) -> None:
    _resampled_session(tmp_path, "tail_s")
    album = tmp_path / "album.yaml"
    album.write_text("album: {title: Rates, output: album, format: wav}\ntracks:\n"
                     "  - {session: session.yaml, title: Tone}\n")
    assert main(["album", str(album)]) == 0
    track, rate = sf.read(tmp_path / "album" / "01 Tone.wav", always_2d=True)
    assert rate == SR and track.shape[0] >= int(2.5 * SR) - 1
    side = track[:, 0]
    spectrum = np.abs(np.fft.rfft(side[int(0.1 * SR):int(0.9 * SR)]))
    assert np.argmax(spectrum) * SR / int(0.8 * SR) == pytest.approx(FREQ, abs=2.0)
    assert np.max(np.abs(side[int(1.05 * SR):])) < 1e-3  # silence (dither aside) after the stem


def _play(engine: LiveEngine, seconds: float) -> np.ndarray:
    """Drive the engine block by block from this thread, the reader thread keeping ahead."""
    blocks = []
    deadline = time.monotonic() + 60
    for _ in range(int(seconds * SR) // engine.block_size + 1):
        while any(s.buffered < engine.block_size for s in engine.sources):
            if engine.error is not None:
                raise engine.error
            assert time.monotonic() < deadline, "the reader thread fell behind for a minute"
            time.sleep(0.0005)
        blocks.append(engine.process_block(engine.block_size).copy())
    return np.concatenate(blocks, axis=1)


@pytest.mark.parametrize("case", ["shorter stem", "tail_s"])
def test_live_plays_a_resampled_stem_past_its_end(tmp_path: Path, case: str) -> None:
    path, length = _resampled_session(tmp_path, case)
    engine = LiveEngine(host.load_session(path), 256, "none")
    engine.open()
    try:
        engine.transport.play()
        played = _play(engine, length)
        assert engine.error is None and engine.underruns == 0
    finally:
        engine.close()
    _assert_tone_then_silence(played[:, :int(length * SR)], length)


# -- a reader thread that fails stops the live run --------------------------------------------------------
def test_a_stem_that_turns_unreadable_while_playing_stops_live_with_an_error(tmp_path: Path) -> None:
    """The FLAC stem's second half is overwritten in place (same file, same inode) once playback
    has started: the reader thread meets the decoder error about 2 s in."""
    stem = tmp_path / "tone.flac"
    sf.write(stem, tone(220.0, 5.0, 0.4), SR, subtype="PCM_24")
    path = tmp_path / "session.yaml"
    path.write_text("session:\n  sample_rate: 48000\ntracks:\n  tone:\n    source: tone.flac\n"
                    "outputs:\n  mixdown: out/mix.wav\n")
    proc = subprocess.Popen([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--no-status"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        started = [proc.stderr.readline()]
        while "playing" not in started[-1]:
            assert started[-1], started   # the process ended before it played
            started.append(proc.stderr.readline())
        size = stem.stat().st_size
        with open(stem, "r+b") as handle:
            handle.seek(size // 2)
            handle.write(bytes([0x5A]) * (size - size // 2))
        stderr = "".join(started) + proc.stderr.read()
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert code == 1, stderr
    assert f"disk streaming stopped: reading {stem} failed" in stderr
    assert "Traceback" not in stderr and "played" not in stderr  # no summary of a run that went silent


# -- a full disk ----------------------------------------------------------------------------------------
@pytest.fixture
def full_disk(tmp_path: Path):  # noqa: ANN201 - yields a folder
    """A 1 MiB tmpfs: a few seconds of audio fill it.  Mounting needs root (CI runs as root)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        message = f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("command", ["render", "render with stems", "master"])
def test_a_full_disk_is_a_clear_error_that_leaves_nothing(tmp_path: Path, full_disk: Path, command: str) -> None:
    sf.write(tmp_path / "long.wav", np.tile(tone(440.0, 6.0, 0.3), (2, 1)).T, SR, subtype="FLOAT")
    stems = "  stems: stems\n" if command == "render with stems" else ""
    path = tmp_path / "session.yaml"
    path.write_text("session:\n  sample_rate: 48000\ntracks:\n  a:\n    source: long.wav\n"
                    f"outputs:\n  mixdown: mix.wav\n{stems}")
    if command == "master":
        done = _mixhost("master", str(tmp_path / "long.wav"), "-o", str(full_disk / "master.wav"))
        target = full_disk / "master.wav"
    else:
        done = _mixhost("render", str(path), "-o", str(full_disk), "--no-progress")
        target = full_disk / "mix.wav"
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"no space left on device writing {target}" in done.stderr
    assert [p.name for p in full_disk.rglob("*") if p.is_file()] == []   # no partial file, hidden or not


# -- --html without matplotlib ---------------------------------------------------------------------------------
# Runs the CLI with an import hook in front of every other finder that refuses matplotlib, as on an
# install without the plots extra.
WITHOUT_MATPLOTLIB = """
import sys

class NoMatplotlib:
    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoMatplotlib())
from host.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", ["analyze", "feedback", "compare"])
def test_html_without_matplotlib_names_the_extra_to_install(tmp_path: Path, command: str) -> None:
    mix = tmp_path / "mix.wav"
    sf.write(mix, np.tile(tone(440.0, 3.0, 0.3), (2, 1)).T, SR, subtype="FLOAT")
    files = [str(mix), str(mix)] if command == "compare" else [str(mix)]
    report = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-c", WITHOUT_MATPLOTLIB, command, *files, "--html", str(report)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "--html reports need matplotlib, which is not installed" in done.stderr
    assert "pip install 'mixhost[plots]'" in done.stderr
    assert not report.exists()


# -- album files: the same file:line errors as sessions ------------------------------------------------------
@pytest.mark.parametrize(("track", "where", "message"), [
    ("{file: a.wav, gap_s: 1, crossfade_s: 2}", "album.yaml:4:29", "give either 'gap_s' or 'crossfade_s', not both"),
    ("{file: a.wav, session: s.yaml}", "album.yaml:4:19", "give either 'file' or 'session', not both"),
    ("{title: One}", "album.yaml:4:5", "needs the key 'file' or 'session'"),
    ("{file: a.wav, isrc: GB-AAA-26-00001}", "album.yaml:4:25", "'GB-AAA-26-00001' is not an ISRC"),
    ("{file: a.wav, crossfade_s: -1}", "album.yaml:4:32", "-1 must be above 0"),
])
def test_an_invalid_album_file_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], track: str,
                                              where: str, message: str) -> None:
    sf.write(tmp_path / "a.wav", np.tile(tone(440.0, 1.0, 0.3), (2, 1)).T, SR)
    album = tmp_path / "album.yaml"
    album.write_text(f"album:\n  title: T\ntracks:\n  - {track}\n  - {{file: a.wav}}\n")
    assert main(["album", str(album)]) == 2
    stderr = capsys.readouterr().err
    assert f"{where} (at tracks[0]" in stderr and message in stderr, stderr
    assert "valid under" not in stderr and "{" not in stderr  # no raw jsonschema text or instance dump


# -- a truncated WAV, a source much shorter than the session ------------------------------------------------
@pytest.mark.parametrize(("name", "subtype"), [("long.wav", "PCM_24"), ("long.wav", "FLOAT"), ("long.aiff", "PCM_16")])
def test_a_truncated_file_is_warned_about_at_validate_and_render(tmp_path: Path, name: str, subtype: str) -> None:
    """A real 33 s file cut to half its bytes, as an interrupted copy leaves it."""
    stem = tmp_path / name
    sf.write(stem, tone(220.0, 33.0, 0.3), SR, subtype=subtype)
    size = stem.stat().st_size
    os.truncate(stem, size // 2)
    held = sf.info(str(stem)).frames / SR
    assert 16.0 < held < 16.6
    path = tmp_path / "session.yaml"
    path.write_text(f"session:\n  sample_rate: 48000\ntracks:\n  long:\n    source: {name}\n"
                    "outputs:\n  mixdown: out/mix.wav\n")
    warning = f"tracks/long: {name} is truncated: its header says 33.00 s, the file holds {held:.2f} s"
    checked = _mixhost("validate", str(path))
    assert checked.returncode == 0, checked.stderr
    assert f"warning: {path}:5: {warning}" in checked.stdout
    rendered = _mixhost("render", str(path), "--no-progress")
    assert rendered.returncode == 0, rendered.stderr
    assert f"{path}:5: {warning}" in rendered.stderr
    assert sf.info(str(tmp_path / "out" / "mix.wav")).frames == int(round(held * SR))


def test_a_whole_file_gets_no_truncation_warning(tmp_path: Path) -> None:
    sf.write(tmp_path / "whole.wav", tone(220.0, 3.0, 0.3), SR, subtype="PCM_24")
    path = tmp_path / "session.yaml"
    path.write_text("session:\n  sample_rate: 48000\ntracks:\n  whole:\n    source: whole.wav\n")
    checked = _mixhost("validate", str(path))
    assert checked.returncode == 0 and "truncated" not in checked.stdout + checked.stderr


@pytest.mark.parametrize(("seconds", "noted"), [(1.0, True), (20.0, False)])
def test_a_source_much_shorter_than_the_session_gets_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            seconds: float, noted: bool) -> None:
    sf.write(tmp_path / "song.wav", tone(220.0, 33.0, 0.3), SR, subtype="PCM_16")
    sf.write(tmp_path / "short.wav", tone(440.0, seconds, 0.3), SR, subtype="PCM_16")
    path = tmp_path / "session.yaml"
    path.write_text("session:\n  sample_rate: 48000\ntracks:\n  song:\n    source: song.wav\n"
                    "  short:\n    source: short.wav\n")
    assert main(["validate", str(path)]) == 0
    printed = capsys.readouterr().out
    note = (f"note: tracks/short: its source lasts {seconds:.2f} s of the session's 33.00 s (set by tracks/song); "
            "the track is silent after it")
    assert (note in printed) is noted, printed
    assert "tracks/song: its source lasts" not in printed


# -- analyze/feedback --session on a session that automates a stage parameter -----------------------------------
AUTOMATED = """\
session:
  sample_rate: 48000
  notes: The soprano rides the compressor.
tracks:
  soprano:
    source: soprano.wav
    notes: Keep her on top.
    chain:
      - {type: compressor, id: comp, params: {threshold_db: -18, ratio: 3}}
automation:
  tracks/soprano/comp/threshold_db:
    points: [[0, -18], [1.5, -24]]
  {strip_lane}:
    points: [[0, -3], [2, -6]]
"""


@pytest.mark.parametrize("command", ["analyze", "feedback"])
def test_session_notes_read_a_session_that_automates_a_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             command: str) -> None:
    sf.write(tmp_path / "soprano.wav", tone(660.0, 3.0, 0.3), SR, subtype="PCM_24")
    mix = tmp_path / "mix.wav"
    sf.write(mix, np.tile(tone(660.0, 3.0, 0.3), (2, 1)).T, SR, subtype="PCM_24")
    session = tmp_path / "session.yaml"
    session.write_text(AUTOMATED.replace("{strip_lane}", "tracks/soprano/gain_db"))
    assert main(["validate", str(session)]) == 0  # the session is sound: both lanes name real parameters
    capsys.readouterr()
    assert main([command, str(mix), "--session", str(session)]) == 0
    printed = capsys.readouterr().out
    assert "The soprano rides the compressor." in printed and "Keep her on top." in printed


@pytest.mark.parametrize("command", ["analyze", "feedback"])
def test_session_notes_still_refuse_an_unknown_strip_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               command: str) -> None:
    sf.write(tmp_path / "soprano.wav", tone(660.0, 3.0, 0.3), SR, subtype="PCM_24")
    session = tmp_path / "session.yaml"
    session.write_text(AUTOMATED.replace("{strip_lane}", "tracks/soprano/gain_dbb"))
    assert main([command, str(tmp_path / "soprano.wav"), "--session", str(session)]) == 2
    assert "no parameter at 'tracks/soprano/gain_dbb'" in capsys.readouterr().err


# -- an album crossfade longer than a track ---------------------------------------------------------------------
def _album_of(tmp_path: Path, tracks: str) -> Path:
    for number, freq in enumerate((440.0, 550.0, 660.0), start=1):
        sf.write(tmp_path / f"{number}.wav", np.tile(tone(freq, 3.0, 0.3), (2, 1)).T, SR, subtype="PCM_24")
    album = tmp_path / "album.yaml"
    album.write_text("album:\n  title: Fades\n  output: out\n  format: wav\ntracks:\n" + tracks)
    return album


@pytest.mark.parametrize(("tracks", "line", "message", "limit"), [
    # the README's case, scaled: a crossfade far past the track it leaves
    ("  - {file: 1.wav, title: One, crossfade_s: 100}\n  - {file: 2.wav, title: Two}\n",
     "album.yaml:6:44 (at tracks[0].crossfade_s)", "crossfade_s: 100 s would swallow track 1 (One), which is 3.00 s long",
     "shorter than 3.00 s"),
    # longer than the track it fades into
    ("  - {file: 1.wav, title: One, crossfade_s: 2}\n  - {file: 2.wav, title: Two, crossfade_s: 1.5}\n"
     "  - {file: 3.wav, title: Three}\n",
     "album.yaml:7:44 (at tracks[1].crossfade_s)",
     "crossfade_s: 1.5 s would swallow track 2 (Two), which is 3.00 s long with the 2 s crossfade into it",
     "shorter than 1.00 s"),
])
def test_a_crossfade_that_would_swallow_a_track_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           tracks: str, line: str, message: str, limit: str) -> None:
    album = _album_of(tmp_path, tracks)
    assert main(["album", str(album)]) == 2
    stderr = capsys.readouterr().err
    assert f"{line}: {message}" in stderr and limit in stderr, stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing mastered


def test_a_crossfade_just_under_the_track_keeps_both_tracks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    album = _album_of(tmp_path, "  - {file: 1.wav, title: One, crossfade_s: 2.5}\n  - {file: 2.wav, title: Two}\n")
    assert main(["album", str(album)]) == 0
    capsys.readouterr()
    cue = (tmp_path / "out" / "Fades.cue").read_text()
    assert re.findall(r"INDEX 01 (\S+)", cue) == ["00:00:00", "00:00:38"]   # 0.5 s = 37.5 CUE frames
    audio, rate = sf.read(tmp_path / "out" / "Fades.wav", always_2d=True)
    assert audio.shape[0] == int(3.5 * rate)
    head = audio[: int(0.4 * rate), 0]   # track one alone, before the crossfade starts
    peak = np.argmax(np.abs(np.fft.rfft(head * np.hanning(len(head)))))
    assert peak * rate / len(head) == pytest.approx(440.0, abs=5.0)


def test_a_reader_failure_is_the_engine_s_error_and_stops_its_transport(tmp_path: Path) -> None:
    stem = tmp_path / "tone.flac"
    sf.write(stem, tone(220.0, 5.0, 0.4), SR, subtype="PCM_24")
    path = tmp_path / "session.yaml"
    path.write_text("session:\n  sample_rate: 48000\ntracks:\n  tone:\n    source: tone.flac\n")
    engine = LiveEngine(host.load_session(path), 256, "none")
    engine.open()
    try:
        size = stem.stat().st_size
        with open(stem, "r+b") as handle:   # the reader has read ahead 0.5 s; the damage is from 2.5 s
            handle.seek(size // 2)
            handle.write(bytes([0x5A]) * (size - size // 2))
        engine.start(play=True)
        deadline = time.monotonic() + 30
        while engine.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert isinstance(engine.error, host.errors.RenderError)
        assert f"reading {stem} failed" in str(engine.error)
        stopped_at = engine.transport.position
        time.sleep(0.2)
        assert not engine.transport.rolling and engine.transport.position == stopped_at
        assert 1.0 < stopped_at / SR < 3.0   # the reader, a second ahead, met the damage at 2.5 s
    finally:
        engine.close()
