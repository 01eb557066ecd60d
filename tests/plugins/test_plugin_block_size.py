"""The mix does not depend on the session's block size: native stages, plugins, automation.

A chain's stages are called with whole blocks while nothing moves and with
64-sample pieces while an automation lane moves, so the block size decides
where the call lengths change.  pedalboard prepared a reverb or plugin again
(clearing its tail) whenever a call was longer than the one before; MVerb
interpolates its parameters over each call.  Both made the mix depend on the
block size: by up to -11 dBFS on this session before the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import host
from host.plugins.cache import PluginCache
from tests.conftest import SR

SESSION = """
session: {{block_size: {block}}}
tracks:
  voice:
    source: voice.wav
    chain:
      - {{type: eq, id: eq, bands: [{{type: highpass, freq_hz: 90, slope: 24}}, {{type: bell, freq_hz: 800, gain_db: 6, q: 1}}]}}
      - {{type: compressor, id: comp, lookahead_ms: 2, params: {{threshold_db: -20, ratio: 4}}}}
      - {{type: saturation, id: sat, oversample: 4}}
      - {{type: reverb, id: room, params: {{mix_pct: 40}}}}
    sends: {{verb: {{level_db: -10}}}}
  pad:
    source: pad.wav
    chain:
      - {{plugin: 3BandEQ, id: tone}}
      - {{plugin: MVerb, id: hall, params: {{mix: 40}}}}
      - {{plugin: LatentDelay, id: late}}
buses:
  verb:
    chain: [{{type: reverb, id: rv, params: {{mix_pct: 100}}}}]
master:
  chain: [{{type: limiter, id: lim, params: {{input_gain_db: 6, ceiling_dbtp: -1}}}}]
automation:
  tracks/voice/comp/threshold_db: {{points: [[0, -10], [1.3, -30], [1.3, -15], [2.2, -25]]}}
  tracks/voice/eq/band2_freq_hz: {{points: [[0, 200], [1.7, 4000]]}}
  tracks/voice/room/room_size: {{points: [[0.2, 0.2], [1.51, 0.9]]}}
  buses/verb/rv/damping: {{points: [[0, 0.1], [0.9, 0.8]]}}
  tracks/pad/hall/size: {{points: [[0, 20], [1.1, 90]]}}
  tracks/pad/tone/low_db: {{points: [[0.4, 0], [2.05, 12]]}}
  tracks/voice/gain_db: {{points: [[0, -10], [1, 0]]}}
outputs: {{mixdown: mix-{block}.wav, bit_depth: float, tail_s: 1.0}}
"""


def _sources(folder: Path) -> None:
    rng = np.random.default_rng(5)
    t = np.arange(int(3.0 * SR)) / SR
    bursts = (np.sin(2 * np.pi * 2.5 * t) > 0.6) * rng.standard_normal(t.size) * 0.3
    voice = bursts + 0.2 * np.sin(2 * np.pi * 330 * t)
    pad = 0.15 * np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 277 * t + 1.0)], axis=1)
    sf.write(folder / "voice.wav", voice, SR, subtype="DOUBLE")
    sf.write(folder / "pad.wav", pad, SR, subtype="DOUBLE")


def _render(folder: Path, block: int) -> np.ndarray:
    path = folder / f"session-{block}.yaml"
    path.write_text(SESSION.format(block=block))
    host.load_session(path).render(workers=1)
    mix, _ = sf.read(folder / f"mix-{block}.wav", dtype="float64")
    return mix


@pytest.mark.parametrize("block", [64, 576, 4096])
def test_the_mix_is_the_same_at_any_block_size(plugin_env: PluginCache, tmp_path: Path, block: int) -> None:
    _sources(tmp_path)
    reference = _render(tmp_path, 8192)
    other = _render(tmp_path, block)
    assert reference.shape == other.shape
    assert np.max(np.abs(reference)) > 0.1  # a mix to compare, not silence
    # the README's bound: the same to within 1e-9 (-180 dBFS); measured: bit-identical
    assert np.max(np.abs(other - reference)) <= 1e-9


def test_stems_on_two_processes_match_one_with_plugins(plugin_env: PluginCache, tmp_path: Path) -> None:
    """A session with plugins spawns its workers (fork would copy the plugins); they hand their
    tracks' post-fader signal back for the stems, and the files are those of one process."""
    _sources(tmp_path)
    path = tmp_path / "stems.yaml"
    path.write_text(SESSION.format(block=4096).replace(
        "outputs: {mixdown: mix-4096.wav,", "outputs: {stems: stems, mixdown: mix.wav,"))
    files = {}
    for workers in (1, 2):
        result = host.load_session(path).render(tmp_path / f"w{workers}", workers=workers)
        assert result.workers == workers and result.workers_note is None
        files[workers] = {p.name: sf.read(p, dtype="float64")[0] for p in sorted((tmp_path / f"w{workers}").rglob("*.wav"))}
    assert sorted(files[1]) == ["mix.wav", "pad.wav", "voice.wav"]
    for name, audio in files[1].items():
        assert np.max(np.abs(audio)) > 0.01, name
        assert np.array_equal(audio, files[2][name]), name
