"""Instrument tracks: Kars renders a MIDI file's parts at the file's times."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
from plugin_helpers import SR, Bound, envelope, onsets, rms_db

from host.errors import PluginError, SessionError
from host.plugins.cache import PluginCache
from host.plugins.instrument import InstrumentSource, make_instrument_source

TEMPO = 600_000  # 100 bpm: one beat is 0.6 s
TPB = 480
# (track name, MIDI channel 1-16, note, beats of each note-on); each note lasts a third of a beat
PARTS = {
    "lead": (1, 72, [1.0, 2.5, 4.0]),
    "bass": (2, 40, [1.75, 3.25]),
}
THRESHOLD = 0.02
TOLERANCE_S = 0.002


def _seconds(beat: float) -> float:
    return beat * TEMPO / 1e6


def _write_midi(path: Path) -> Path:
    """A type-1 file: tempo in track 0, one track per part, each on its own channel."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TPB)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO, time=0)])
    midi.tracks.append(conductor)
    for name, (channel, note, beats) in PARTS.items():
        timed: list[tuple[int, mido.Message]] = []
        for beat in beats:
            on = round(beat * TPB)
            timed.append((on, mido.Message("note_on", channel=channel - 1, note=note, velocity=110)))
            timed.append((on + TPB // 3, mido.Message("note_off", channel=channel - 1, note=note)))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        last = 0
        for tick, message in sorted(timed, key=lambda item: item[0]):
            track.append(message.copy(time=tick - last))
            last = tick
        midi.tracks.append(track)
    midi.save(str(path))
    return path


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return _write_midi(tmp_path / "song.mid")


def _render(source: InstrumentSource, block: int = 4096) -> np.ndarray:
    out = np.zeros((source.channels, block))
    pieces = []
    while (count := source.read(out)) > 0:
        pieces.append(out[:, :count].copy())
    return np.concatenate(pieces, axis=1)


def _source(song: Path, plugin_dir: Path, **spec: object) -> InstrumentSource:
    return make_instrument_source({"path": str(plugin_dir / "Kars.vst3"), "midi": song.name, **spec},
                                  song.parent, SR)


@pytest.mark.parametrize(
    ("selection", "part"),
    [
        ({"track": "lead"}, "lead"),
        ({"track": 1}, "lead"),
        ({"channel": 1}, "lead"),
        ({"track": "bass"}, "bass"),
        ({"track": 2, "channel": 2}, "bass"),
        ({"channel": 2}, "bass"),
    ],
)
def test_kars_renders_notes_at_the_midi_files_times(
    plugin_env: PluginCache, plugin_dir: Path, song: Path, selection: dict, part: str
) -> None:
    source = _source(song, plugin_dir, tail_s=0.5, **selection)
    assert source.channels == 1  # Kars has one output: a mono track
    audio = _render(source)
    expected = [_seconds(b) for b in PARTS[part][2]]
    found = onsets(audio, THRESHOLD)
    assert len(found) == len(expected), f"onsets {found} vs {expected}"
    np.testing.assert_allclose(found, expected, atol=TOLERANCE_S)


def test_two_tracks_from_one_file_are_independent(plugin_env: PluginCache, plugin_dir: Path, song: Path) -> None:
    lead = _render(_source(song, plugin_dir, track="lead", tail_s=0.5))
    bass = _render(_source(song, plugin_dir, track="bass", tail_s=0.5))
    both = _render(_source(song, plugin_dir, tail_s=0.5))  # no track/channel: every part
    expected = sorted(_seconds(b) for _c, _n, beats in PARTS.values() for b in beats)
    np.testing.assert_allclose(onsets(both, THRESHOLD), expected, atol=TOLERANCE_S)
    # a bass note's window is silent in the lead part
    start = int(_seconds(1.75) * SR)
    assert np.max(np.abs(lead[:, start : start + SR // 10])) < THRESHOLD
    assert np.max(np.abs(bass[:, start : start + SR // 10])) > 10 * THRESHOLD


def test_length_is_the_last_event_plus_the_tail_and_read_signals_the_end(
    plugin_env: PluginCache, plugin_dir: Path, song: Path
) -> None:
    source = _source(song, plugin_dir, track="lead", tail_s=1.0)
    last_off = _seconds(4.0 + 1 / 3)
    assert source.frames == pytest.approx(last_off * SR + SR, abs=2)
    audio = _render(source, block=1000)
    assert audio.shape[1] == source.frames
    out = np.ones((1, 1000))
    assert source.read(out) == 0 and not out.any()


def test_held_notes_continue_across_blocks(plugin_env: PluginCache, plugin_dir: Path, song: Path) -> None:
    """With 64-frame blocks a 200 ms note spans 150 calls and sounds throughout, then stops.

    (Kars plucks its strings with random noise, so levels differ run to run;
    the test checks presence, not exact level.)
    """
    for block in (64, 8192):
        env = envelope(_render(_source(song, plugin_dir, track="lead", tail_s=0.2), block=block), 480)
        for beat in PARTS["lead"][2]:
            first = int(_seconds(beat) * SR / 480)
            assert np.all(env[first + 2 : first + 19] > THRESHOLD), (block, beat)  # 20-190 ms in
            assert np.all(env[first + 36 : first + 40] < THRESHOLD), (block, beat)  # 160 ms after note-off


def test_volume_parameter_reaches_the_instrument(plugin_env: PluginCache, plugin_dir: Path, song: Path) -> None:
    levels = {}
    for volume in (100.0, 25.0):
        source = _source(song, plugin_dir, track="lead", tail_s=0.2)
        Bound(source, {"volume": volume})
        levels[volume] = rms_db(_render(source))
    assert 6.0 < levels[100.0] - levels[25.0] < 18.0, levels


def test_seek_resumes_inside_a_held_note(plugin_env: PluginCache, plugin_dir: Path, song: Path) -> None:
    source = _source(song, plugin_dir, track="lead", tail_s=0.2)
    inside = int((_seconds(2.5) + 0.05) * SR)
    source.seek(inside)
    out = np.zeros((1, 2400))
    assert source.read(out) == 2400
    assert np.max(np.abs(out)) > THRESHOLD
    source.seek(int(_seconds(2.0) * SR))  # between notes: quiet
    assert source.read(out) == 2400 and np.max(np.abs(out)) < THRESHOLD


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ({"track": "leed"}, SessionError, 'did you mean "lead"'),
        ({"track": 7}, SessionError, "no track 7"),
        ({"channel": 17}, SessionError, "1 to 16"),
        ({"midi": "missing.mid"}, SessionError, "not found"),
        ({"params": {"volumme": 50}}, PluginError, 'did you mean "volume"'),
        ({"path": "MVerb.vst3"}, PluginError, "not an instrument"),
    ],
)
def test_instrument_mistakes_are_user_errors(
    plugin_env: PluginCache, plugin_dir: Path, song: Path, spec: dict, error: type, message: str
) -> None:
    full = {"path": str(plugin_dir / "Kars.vst3"), "midi": str(song), **spec}
    if "path" in spec:
        full["path"] = str(plugin_dir / spec["path"])
    with pytest.raises(error, match=message):
        make_instrument_source(full, song.parent, SR)


def test_instrument_found_by_name_in_the_scan_cache(plugin_env: PluginCache, song: Path) -> None:
    source = make_instrument_source({"plugin": "Kars", "midi": song.name, "track": "bass"}, song.parent, SR)
    assert source.plugin.name == "Kars"
