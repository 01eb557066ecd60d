"""Instrument tracks and saved plugin state, through whole sessions and the engine."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

import host
from host.plugins.cache import PluginCache
from tests.conftest import read_mix, tone
from tests.plugins.plugin_helpers import onsets

NOTES_S = [0.5, 1.25, 2.0]


def write_song(path: Path) -> Path:
    midi = mido.MidiFile(type=1, ticks_per_beat=480)  # 120 BPM default tempo: 960 ticks a second
    lead = mido.MidiTrack([mido.MetaMessage("track_name", name="lead", time=0)])
    last = 0
    for start in NOTES_S:
        on = int(start * 960)
        lead.append(mido.Message("note_on", note=60, velocity=110, time=on - last))
        lead.append(mido.Message("note_off", note=60, time=240))
        last = on + 240
    midi.tracks.append(lead)
    midi.save(path)
    return path


def test_instrument_track_renders_notes_at_their_times(plugin_env: PluginCache, plugin_dir: Path,
                                                        write_session, tmp_path: Path) -> None:
    write_song(tmp_path / "song.mid")
    path = write_session(f"""
        tracks:
          synth:
            instrument: {{path: {plugin_dir / 'Kars.vst3'}, midi: song.mid, track: lead, tail_s: 1.0}}
            pan: -0.5
        outputs: {{mixdown: mix.wav, bit_depth: float}}
    """)
    session = host.load_session(path)
    assert "tracks/synth/instrument/volume" in session.registry
    result = session.render()
    mix = read_mix(result.outputs[0])
    assert mix.shape[0] == pytest.approx((NOTES_S[-1] + 0.25 + 1.0) * 48000, abs=48)
    found = onsets(mix[:, 0], threshold=0.01)
    assert found == pytest.approx(NOTES_S, abs=0.005)
    # a mono instrument panned left with the -3 dB law: the right side is quieter by the law's ratio
    ratio_db = 20 * np.log10(np.sqrt(np.mean(mix[:, 1] ** 2)) / np.sqrt(np.mean(mix[:, 0] ** 2)))
    theta = 0.25 * np.pi / 2
    assert ratio_db == pytest.approx(20 * np.log10(np.sin(theta) / np.cos(theta)), abs=0.05)


def test_save_writes_plugin_state_and_load_restores_it(plugin_env: PluginCache, plugin_dir: Path,
                                                       write_session, write_audio, tmp_path: Path) -> None:
    write_audio("low.wav", tone(60, seconds=1.0, channels=2))
    path = write_session(f"""
        tracks:
          t:
            source: low.wav
            chain:
              - {{path: {plugin_dir / '3BandEQ.vst3'}, id: eq3}}
        outputs: {{mixdown: mix.wav, bit_depth: float}}
    """)
    session = host.load_session(path)
    session.set("tracks/t/eq3/low_db", -24)
    before = read_mix(session.render().outputs[0])
    saved = session.save(tmp_path / "saved.yaml")
    text = saved.read_text()
    assert "state: saved.plugins/" in text
    from host.yaml_doc import load

    state_file = tmp_path / load(saved)["tracks"]["t"]["chain"][0]["state"]
    assert state_file.is_file()
    again = host.load_session(saved)
    assert again.get("tracks/t/eq3/low_db") == pytest.approx(-24)
    after = read_mix(again.render().outputs[0])
    level = np.sqrt(np.mean(after[4800:] ** 2))
    assert 20 * np.log10(level / (0.5 / np.sqrt(2))) < -10   # the low band's cut reaches the 60 Hz tone
    assert np.max(np.abs(after - before)) < 1e-6             # and the reloaded session sounds the same
