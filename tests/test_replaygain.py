"""ReplayGain 2.0 / R128 tagging (host.loudness.replaygain) on real files, against r128gain and libebur128.

Every file is generated here: synthetic music at different levels and rates,
written as FLAC/Ogg Vorbis by soundfile and as MP3/M4A (AAC)/Opus by ffmpeg.
r128gain tags copies of the same files; its tags are read back with mutagen.
"""

from __future__ import annotations

import math
import pickle
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from encoded_audio import synth, write_encoded

from host import tags as tag_io
from host.errors import AudioInputError, UserInputError
from host.loudness import replaygain as rg

FORMATS = ("flac", "ogg", "mp3", "m4a", "opus")
# an album of tracks that differ in loudness (and rate, and channel count): (seconds, level dB, rate, channels)
ALBUM = (
    (40.0, -14.0, 44100, 2),
    (30.0, -24.0, 48000, 2),
    (24.0, -32.0, 44100, 1),
)
TOLERANCE_DB = 0.1
TRUE_PEAK_MARGIN_DB = 0.15


def make_album(folder: Path, fmt: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_encoded(folder / f"{i:02d}.{fmt}", synth(sec, lvl, rate, ch, seed=i), rate)
            for i, (sec, lvl, rate, ch) in enumerate(ALBUM)]


@pytest.fixture(scope="module")
def albums(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("albums")
    return {fmt: make_album(root / fmt, fmt) for fmt in FORMATS}


@pytest.fixture(scope="module")
def r128gain_tags(albums: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory
                  ) -> dict[str, list[dict[str, str]]]:
    """r128gain's tags (track and album gain) on a copy of each format's album."""
    root = tmp_path_factory.mktemp("r128gain")
    out = {}
    for fmt, files in albums.items():
        copies = []
        for f in files:
            (root / fmt).mkdir(exist_ok=True)
            copies.append(Path(shutil.copy(f, root / fmt / f.name)))
        subprocess.run([sys.executable, "-m", "r128gain", "-a", "-v", "warning", *map(str, copies)],
                       check=True, capture_output=True)
        out[fmt] = [tag_io.read_text_tags(c) for c in copies]
    return out


def gain_of(text: str) -> float:
    assert text.endswith(" dB"), text
    return float(text[:-3])


def db(linear: float) -> float:
    return 20 * math.log10(linear)


# -- figures against r128gain ---------------------------------------------------------------------


def r128gain_peak_db(ref: dict[str, str], track: rg.TrackMeasurement) -> float:
    """r128gain's track peak, undoing its upmix: ffmpeg feeds a mono file to both sides at −3 dB."""
    return db(float(ref["REPLAYGAIN_TRACK_PEAK"])) + (10 * math.log10(2) if track.channels == 1 else 0.0)


def r128gain_peak_range(track: rg.TrackMeasurement) -> tuple[float, float]:
    """Where r128gain's sample peak may fall, from ours (dB).

    r128gain takes the peak of 16-bit audio (clipped at full scale) resampled
    to 48 kHz; resampling moves samples between the originals, so a 44.1 kHz
    file's peak lands between its sample peak and its true peak.
    """
    low = db(min(track.sample_peak, 1.0))
    if track.sample_rate == 48000:
        return low, low
    # 4× oversampling can read a little under the true peak (BS.1770-4 Annex 2), hence the margin
    return low, db(min(track.true_peak, 1.0)) + TRUE_PEAK_MARGIN_DB



@pytest.mark.parametrize("fmt", FORMATS)
def test_track_and_album_gain_match_r128gain(albums, r128gain_tags, fmt, tmp_path):
    tracks = [rg.measure(f) for f in albums[fmt]]
    whole = rg.album(tracks)
    theirs = r128gain_tags[fmt]
    for track, ref in zip(tracks, theirs, strict=True):
        if fmt == "opus":  # RFC 7845 §5.2.1: Q7.8 relative to −23 LUFS
            assert abs(rg.R128_REFERENCE_LUFS - track.integrated_lufs
                       - int(ref["R128_TRACK_GAIN"]) / 256) <= TOLERANCE_DB
            assert not any(k.startswith("REPLAYGAIN_") for k in ref)
        else:
            assert abs(track.gain_db - gain_of(ref["REPLAYGAIN_TRACK_GAIN"])) <= TOLERANCE_DB
            low, high = r128gain_peak_range(track)
            assert low - TOLERANCE_DB <= r128gain_peak_db(ref, track) <= high + TOLERANCE_DB
    if fmt == "opus":
        assert abs(rg.R128_REFERENCE_LUFS - whole.integrated_lufs
                   - int(theirs[0]["R128_ALBUM_GAIN"]) / 256) <= TOLERANCE_DB
    else:
        assert abs(whole.gain_db - gain_of(theirs[0]["REPLAYGAIN_ALBUM_GAIN"])) <= TOLERANCE_DB
        assert abs(db(min(whole.sample_peak, 1.0)) - db(float(theirs[0]["REPLAYGAIN_ALBUM_PEAK"]))) <= TOLERANCE_DB


def test_decoders(albums):
    """libsndfile decodes FLAC, Vorbis, Opus and MP3; M4A goes through ffmpeg."""
    used = {fmt: rg.measure(files[0]).decoder for fmt, files in albums.items()}
    assert used == {"flac": "soundfile", "ogg": "soundfile", "mp3": "soundfile", "m4a": "ffmpeg",
                    "opus": "soundfile"}


# -- album gating ---------------------------------------------------------------------------------


def test_album_gain_gates_the_union_of_blocks(albums):
    """Album loudness is BS.1770-4 gating over all tracks' blocks, not a mean of track figures.

    That is loudgain's rule; r128gain gates the tracks' concatenation instead, which
    adds the few blocks straddling each join (the r128gain test above holds to 0.1 dB
    because its tracks are long).  The reference is libebur128's
    ebur128_loudness_global_multiple (exact
    float figures, not ffmpeg's one decimal), fed the same decoded audio.
    """
    import pyebur128

    files = albums["flac"]
    tracks = [rg.measure(f) for f in files]
    whole = rg.album(tracks)
    states = []
    for f in files:
        x, rate = sf.read(f, dtype="float64", always_2d=True)
        state = pyebur128.R128State(x.shape[1], rate, pyebur128.MeasurementMode.MODE_I)
        state.add_frames(np.ascontiguousarray(x).ravel(), x.shape[0])
        states.append(state)
    reference = pyebur128.get_loudness_global_multiple(states)
    assert abs(whole.integrated_lufs - reference) <= 0.02
    for track, state in zip(tracks, states, strict=True):
        assert abs(track.integrated_lufs - pyebur128.get_loudness_global(state)) <= 0.02
    # tracks 10 and 20 LU apart: the gated union is far from the mean of the track gains,
    # and (the quiet track's blocks fall under the album's relative gate) above the power mean
    mean_gain = float(np.mean([t.gain_db for t in tracks]))
    assert abs(whole.gain_db - mean_gain) > 3.0
    power_mean = 10 * math.log10(np.mean([10 ** (t.integrated_lufs / 10) for t in tracks]))
    assert whole.integrated_lufs > power_mean + 0.3
    assert whole.sample_peak == max(t.sample_peak for t in tracks)
    assert whole.tracks == 3


def test_album_of_one_track_is_the_track(albums):
    track = rg.measure(albums["flac"][1])
    assert rg.album([track]).integrated_lufs == pytest.approx(track.integrated_lufs, abs=1e-9)


def test_measurement_is_picklable(albums):
    """Measurements cross process boundaries (a process pool, Dask workers) and still gate albums."""
    tracks = [rg.measure(f) for f in albums["ogg"]]
    back = [pickle.loads(pickle.dumps(t)) for t in tracks]
    assert back[0].path == tracks[0].path and back[0].blocks == tracks[0].blocks
    assert rg.album(back).integrated_lufs == rg.album(tracks).integrated_lufs


# -- tags -----------------------------------------------------------------------------------------


def fresh_copy(albums: dict[str, list[Path]], fmt: str, tmp_path: Path, index: int = 0) -> Path:
    return Path(shutil.copy(albums[fmt][index], tmp_path / albums[fmt][index].name))


def ffmpeg_md5(path: Path, *codec: str) -> str:
    """ffmpeg's MD5 of the audio stream: its packets (``-c copy``) or its decoded samples."""
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a", *codec,
                          "-f", "md5", "-"], check=True, capture_output=True, text=True).stdout
    return out.strip()


@pytest.mark.parametrize("fmt", FORMATS)
def test_tags_round_trip(albums, fmt, tmp_path):
    path = fresh_copy(albums, fmt, tmp_path)
    track = rg.measure(path)
    whole = rg.album([track, rg.measure(albums[fmt][1])])
    rg.write_tags(path, track, whole)
    tags = tag_io.read_text_tags(path)
    if fmt == "opus":
        assert int(tags["R128_TRACK_GAIN"]) == round((-23.0 - track.integrated_lufs) * 256)
        assert int(tags["R128_ALBUM_GAIN"]) == round((-23.0 - whole.integrated_lufs) * 256)
        assert not [k for k in tags if k.startswith("REPLAYGAIN")]
    else:
        assert gain_of(tags["REPLAYGAIN_TRACK_GAIN"]) == pytest.approx(-18.0 - track.integrated_lufs, abs=0.005)
        assert float(tags["REPLAYGAIN_TRACK_PEAK"]) == pytest.approx(track.sample_peak, abs=1e-6)
        assert gain_of(tags["REPLAYGAIN_ALBUM_GAIN"]) == pytest.approx(-18.0 - whole.integrated_lufs, abs=0.005)
        assert float(tags["REPLAYGAIN_ALBUM_PEAK"]) == pytest.approx(whole.sample_peak, abs=1e-6)
        assert tags["REPLAYGAIN_REFERENCE_LOUDNESS"] == "-18.00 LUFS"
    # a second run without an album removes the album tags it no longer stands behind
    rg.write_tags(path, track, None, peak="true")
    again = tag_io.read_text_tags(path)
    assert not [k for k in again if "ALBUM" in k]
    if fmt != "opus":
        assert float(again["REPLAYGAIN_TRACK_PEAK"]) == pytest.approx(track.true_peak, abs=1e-6)
        assert track.true_peak >= track.sample_peak


def test_opus_replaygain_tags_are_removed(albums, tmp_path):
    """RFC 7845 §5.2.1: an Opus comment header should not hold REPLAYGAIN_* tags."""
    path = fresh_copy(albums, "opus", tmp_path)
    tag_io.update_text_tags(path, {"REPLAYGAIN_TRACK_GAIN": "-3.00 dB", "replaygain_album_peak": "0.5"})
    rg.write_tags(path, rg.measure(path), None)
    tags = tag_io.read_text_tags(path)
    assert not [k for k in tags if k.startswith("REPLAYGAIN")]
    assert "R128_TRACK_GAIN" in tags


@pytest.mark.parametrize("fmt", FORMATS)
def test_audio_is_untouched(albums, fmt, tmp_path):
    """The audio packets and the decoded samples are the same before and after tagging;
    the file's other tags survive."""
    path = fresh_copy(albums, fmt, tmp_path, index=1)
    tag_io.update_text_tags(path, {"MIXHOST_NOTE": "kept"})
    packets, samples = ffmpeg_md5(path, "-c", "copy"), ffmpeg_md5(path)
    digest = tag_io.audio_digest(path)
    before = rg.measure(path)
    rg.write_tags(path, before, rg.album([before]))
    assert ffmpeg_md5(path, "-c", "copy") == packets
    assert ffmpeg_md5(path) == samples
    assert tag_io.audio_digest(path) == digest
    assert tag_io.read_text_tags(path)["MIXHOST_NOTE"] == "kept"
    assert rg.measure(path).integrated_lufs == before.integrated_lufs


def test_audio_digest_sees_a_changed_sample(albums, tmp_path):
    """The guard that refuses a tagging which changed audio does look at the audio bytes."""
    path = fresh_copy(albums, "mp3", tmp_path)
    digest = tag_io.audio_digest(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert tag_io.audio_digest(path) != digest


# -- bad input ------------------------------------------------------------------------------------


def bad_file(kind: str, folder: Path) -> Path:
    if kind == "empty":
        path = folder / "empty.flac"
        path.write_bytes(b"")
    elif kind == "corrupt-flac":
        path = folder / "corrupt.flac"
        path.write_bytes(b"fLaC" + np.random.default_rng(0).bytes(5000))
    elif kind == "corrupt-m4a":
        path = folder / "corrupt.m4a"
        path.write_bytes(np.random.default_rng(1).bytes(5000))
    elif kind == "nan":
        path = folder / "nan.wav"
        x = np.full((4800, 2), 0.1, dtype=np.float32)
        x[2000, 1] = np.nan
        sf.write(path, x, 48000, subtype="FLOAT")
    else:
        path = folder / "missing.flac"
    return path


@pytest.mark.parametrize("kind", ["empty", "corrupt-flac", "corrupt-m4a", "nan", "missing"])
def test_bad_files_are_rejected_with_the_file_named(kind, tmp_path):
    path = bad_file(kind, tmp_path)
    with pytest.raises(AudioInputError) as caught:
        rg.measure(path)
    message = str(caught.value)
    assert path.name in message
    assert "\n  hint: " in message or kind == "nan" or kind == "missing"
    assert isinstance(caught.value, UserInputError) and caught.value.exit_code == 2


def test_a_silent_file_is_measured_but_not_tagged(tmp_path):
    path = tmp_path / "silence.flac"
    sf.write(path, np.zeros((48000, 2)), 48000)
    track = rg.measure(path)
    assert track.integrated_lufs == -math.inf and track.blocks == 0
    with pytest.raises(rg.TaggingError, match="silent"):
        rg.write_tags(path, track, None)
    assert tag_io.read_text_tags(path) == {}


def test_a_file_without_tag_support_is_refused(tmp_path):
    path = tmp_path / "plain.wav"
    sf.write(path, synth(2.0, -20.0, 48000, 1, seed=3), 48000)
    with pytest.raises(AudioInputError, match="plain.wav"):
        rg.write_tags(path, rg.measure(path), None)


# -- albums ---------------------------------------------------------------------------------------


def test_group_albums(albums, tmp_path):
    files = [*albums["flac"], *albums["mp3"]]
    by_folder = rg.group_albums(reversed(files), by="folder")
    assert sorted(map(sorted, by_folder.values())) == [sorted(albums["flac"]), sorted(albums["mp3"])]

    tagged = []
    for i, name in enumerate(["a.flac", "b.flac", "c.flac"]):
        path = tmp_path / ("one" if i < 2 else "two") / name
        path.parent.mkdir(exist_ok=True)
        sf.write(path, 0.1 * np.ones((4800, 1)), 48000)
        tagged.append(path)
    tag_io.write_tags(tagged[0], "flac", {"album": "Blue", "artist": "X"})
    tag_io.write_tags(tagged[2], "flac", {"album": "Blue", "artist": "X"})
    by_tag = rg.group_albums(tagged, by="tag")
    assert by_tag["X — Blue"] == [tagged[0], tagged[2]]
    assert by_tag[str(tagged[1].resolve())] == [tagged[1]]  # no album tag: an album of its own
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"fLaC\x00\x00")
    assert rg.group_albums([broken], by="tag") == {str(broken.resolve()): [broken]}  # measure() says why
    with pytest.raises(UserInputError, match="folder"):
        rg.group_albums(tagged, by="genre")  # type: ignore[arg-type]


# -- streaming ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["flac", "m4a"])
def test_memory_does_not_grow_with_length(fmt, tmp_path):
    """Files stream in blocks: 8× the length, about the same peak of Python allocations."""
    peaks = []
    for seconds in (6.0, 48.0):
        path = write_encoded(tmp_path / f"{int(seconds)}.{fmt}", synth(seconds, -14.0, 48000, 2, 5), 48000)
        rg.measure(path)  # warm: compiled kernels and caches
        tracemalloc.start()
        rg.measure(path)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0]

