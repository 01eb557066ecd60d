"""`mixhost album`: album/track normalisation, tonal check, album file with gaps and crossfades, CUE."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from host.analysis.signals import music
from host.cli import main
from host.dsp.true_peak import true_peak_dbtp
from host.loudness.meter import measure_file

FS = 48000
LEVELS = (-20.0, -26.0, -17.0)  # RMS of the three mixes: track 3 is the loudest
SECONDS = 8.0


def make_album(tmp_path: Path, extra: str = "", tracks: str | None = None) -> Path:
    for i, level in enumerate(LEVELS, start=1):
        sf.write(
            tmp_path / f"{i}.wav", music(SECONDS, FS, seed=i, level_db=level).T, FS, subtype="FLOAT"
        )
    album = tmp_path / "album.yaml"
    album.write_text(
        "album:\n"
        "  title: Night Drive\n"
        "  artist: The Synths\n"
        "  target: spotify\n"
        "  gap_s: 1.5\n"
        "  output: out\n"
        f"{extra}"
        "tracks:\n"
        + (
            tracks
            or "  - {file: 1.wav, title: Intro, isrc: GBAAA2600001}\n"
            "  - {file: 2.wav, title: Second, crossfade_s: 2.0}\n"
            "  - {file: 3.wav, title: Finale}\n"
        )
    )
    return album


def run_album(capsys, album: Path, *extra: str) -> dict:
    assert main(["album", str(album), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_album_mode_keeps_the_differences(tmp_path, capsys) -> None:
    data = run_album(capsys, make_album(tmp_path))
    tracks = data["tracks"]
    assert len({round(t["gain_db"], 6) for t in tracks}) == 1  # one gain for the album
    loudest = max(tracks, key=lambda t: t["input_integrated_lufs"])
    assert loudest["title"] == "Finale"
    assert loudest["integrated_lufs"] == pytest.approx(-14.0, abs=0.2)
    for t in tracks:
        assert t["true_peak_dbtp"] <= -1.0
        measured = measure_file(t["output"])
        assert measured.integrated_lufs == pytest.approx(t["integrated_lufs"], abs=1e-6)
    # a track the limiter leaves alone comes out at its input plus the album gain, so the
    # differences follow from the one gain; the loudest track (limited) is at the target
    gain = tracks[0]["gain_db"]
    untouched = [t for t in tracks if t["input_true_peak_dbtp"] + gain < -1.0 - 0.5]
    assert "Second" in [t["title"] for t in untouched]  # the quietest needs no limiting
    for t in untouched:
        assert t["integrated_lufs"] == pytest.approx(t["input_integrated_lufs"] + gain, abs=0.2)
    for t in tracks:  # limiting only ever takes loudness away
        assert t["integrated_lufs"] <= t["input_integrated_lufs"] + gain + 0.2
    difference = tracks[2]["integrated_lufs"] - tracks[1]["integrated_lufs"]
    assert difference == pytest.approx(-14.0 - (tracks[1]["input_integrated_lufs"] + gain), abs=0.2)


def test_track_mode_brings_every_track_to_the_target(tmp_path, capsys) -> None:
    data = run_album(capsys, make_album(tmp_path), "--mode", "track")
    for t in data["tracks"]:
        assert t["integrated_lufs"] == pytest.approx(-14.0, abs=0.2)
        assert t["true_peak_dbtp"] <= -1.0


def test_album_file_gaps_crossfades_and_cue(tmp_path, capsys) -> None:
    data = run_album(capsys, make_album(tmp_path))
    album = sf.read(data["album_file"], always_2d=True)[0]
    # 8 s + 1.5 s gap + 8 s (2 s crossfade into the next) + 8 s
    assert album.shape[0] / FS == pytest.approx(3 * SECONDS + 1.5 - 2.0, abs=1e-3)
    # the gap is silent (dither only), the crossfade is not
    gap = album[int(8.1 * FS) : int(9.4 * FS)]
    assert np.max(np.abs(gap)) < 1e-4
    fade = album[int(16.0 * FS) : int(17.5 * FS)]
    assert np.sqrt(np.mean(fade**2)) > 0.01
    # the album file is under the ceiling, and the report states its values as written
    measured = measure_file(data["album_file"])
    assert data["album_true_peak_dbtp"] == pytest.approx(measured.true_peak_dbtp, abs=1e-9)
    assert data["album_true_peak_dbtp"] <= -1.0
    assert data["album_integrated_lufs"] == pytest.approx(measured.integrated_lufs, abs=1e-9)
    cue = Path(data["cue_file"]).read_text()
    assert 'FILE "Night Drive.flac" WAVE' in cue and "ISRC GBAAA2600001" in cue
    starts = re.findall(r"INDEX 01 (\d\d):(\d\d):(\d\d)", cue)
    seconds = [int(m) * 60 + int(s) + int(f) / 75 for m, s, f in starts]
    assert seconds == pytest.approx([0.0, 9.5, 15.5], abs=1 / 75)
    tags = sf.SoundFile(data["tracks"][0]["output"])
    assert (tags.title, tags.artist, tags.album, tags.tracknumber) == (
        "Intro",
        "The Synths",
        "Night Drive",
        "1",
    )


def test_a_crossfade_of_correlated_tracks_stays_under_the_ceiling(tmp_path, capsys) -> None:
    """Equal-power crossfading a track into itself peaks ~3 dB over it: the album file is limited."""
    album = make_album(
        tmp_path,
        tracks="  - {file: loop.wav, title: A, crossfade_s: 4.0}\n  - {file: loop.wav, title: B}\n",
    )
    half = music(4.0, FS, seed=5, level_db=-12).T
    sf.write(tmp_path / "loop.wav", np.concatenate((half, half)), FS, subtype="FLOAT")  # ends as it starts
    data = run_album(capsys, album)
    a = sf.read(data["tracks"][0]["output"], always_2d=True)[0].T
    b = sf.read(data["tracks"][1]["output"], always_2d=True)[0].T
    n = 4 * FS
    theta = (np.arange(n) + 0.5) / n * (np.pi / 2)
    naive = a[:, -n:] * np.cos(theta) + b[:, :n] * np.sin(theta)
    assert true_peak_dbtp(naive, FS) > -1.0 + 0.5  # what the crossfade alone would give
    assert measure_file(data["album_file"]).true_peak_dbtp <= -1.0
    assert data["album_true_peak_dbtp"] <= -1.0
    album_audio = sf.read(data["album_file"], always_2d=True)[0].T
    # outside the crossfade the album holds the tracks (the second limiter is idle there)
    head = slice(0, int(3.5 * FS))
    assert np.max(np.abs(album_audio[:, head] - a[:, head])) < 1e-4


def test_cue_titles_with_quotes(tmp_path, capsys) -> None:
    album = make_album(
        tmp_path, tracks="  - {file: 1.wav, title: 'The \"Big\" One'}\n  - {file: 2.wav}\n"
    )
    data = run_album(capsys, album)
    cue = Path(data["cue_file"]).read_text()
    assert "    TITLE \"The 'Big' One\"\n" in cue
    assert all(line.count('"') in (0, 2) for line in cue.splitlines())


def test_tonal_consistency_names_the_band(tmp_path, capsys) -> None:
    album = make_album(tmp_path)
    bright = sf.read(tmp_path / "2.wav", always_2d=True)[0].T
    bright = bright + 3.0 * sosfilt(
        butter(4, 6000, "highpass", fs=FS, output="sos"), bright, axis=1
    )
    sf.write(tmp_path / "2.wav", bright.T, FS, subtype="FLOAT")
    data = run_album(capsys, album)
    flags = data["tracks"][1]["tonal_flags"]
    assert any(f.startswith("8k Hz +") for f in flags), flags
    assert not data["tracks"][0]["tonal_flags"]


def test_a_session_track_is_rendered_first(tmp_path, capsys) -> None:
    album = make_album(
        tmp_path,
        tracks="  - {file: 1.wav, title: One}\n  - {session: song.yaml, title: From a session}\n",
    )
    (tmp_path / "song.yaml").write_text("tracks:\n  mix:\n    source: 3.wav\n")
    data = run_album(capsys, album)
    assert data["tracks"][1]["input_integrated_lufs"] is not None
    assert Path(data["tracks"][1]["output"]).exists()


@pytest.mark.parametrize(
    "tracks,needle",
    [
        ("  - {file: 1.wav, gap_s: 1, crossfade_s: 1}\n", "album.yaml"),
        ("  - {file: missing.wav}\n", "missing.wav"),
        ("  - {file: 1.wav, isrc: not-an-isrc}\n", "album.yaml"),
        ("  - {title: no source}\n", "album.yaml"),
    ],
)
def test_bad_album_files_are_clean_exit_2(tmp_path, capsys, tracks: str, needle: str) -> None:
    album = make_album(tmp_path, tracks=tracks)
    assert main(["album", str(album)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_mixed_sample_rates_are_refused(tmp_path, capsys) -> None:
    album = make_album(tmp_path)
    sf.write(tmp_path / "2.wav", music(4, 44100, seed=2).T, 44100, subtype="FLOAT")
    assert main(["album", str(album)]) == 2
    assert "2.wav" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["flac", "wav"])
def test_tags_with_isrc(tmp_path, capsys, fmt: str) -> None:
    from mutagen import File

    data = run_album(capsys, make_album(tmp_path, extra=f"  format: {fmt}\n"))
    first = data["tracks"][0]["output"]
    assert first.endswith(f".{fmt}")
    tags = File(first).tags
    if fmt == "flac":
        assert tags["isrc"] == ["GBAAA2600001"] and tags["title"] == ["Intro"]
        assert tags["album"] == ["Night Drive"] and tags["tracknumber"] == ["1"]
    else:
        assert str(tags["TSRC"]) == "GBAAA2600001" and str(tags["TIT2"]) == "Intro"
        assert str(tags["TALB"]) == "Night Drive" and str(tags["TPE1"]) == "The Synths"
    assert sf.info(first).frames == int(SECONDS * FS)  # tagging left the audio alone
