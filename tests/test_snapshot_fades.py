"""Snapshot fades run in the block engine: one code path offline and live, smooth, exact at the end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_live_helpers import run_blocks

import host
from host import scales
from host.control.snapshots import Snapshots
from host.engine.graph import Graph
from host.errors import ParameterError
from host.live.engine import LiveEngine
from host.registry import Change, fades

SR = 48_000
BLOCK = 256
LEVEL = 0.5

SESSION = """\
# fade test: a constant level through one fader
session:
  sample_rate: 48000
  block_size: 256
tracks:
  dc:
    source: dc.wav
    gain_db: 0
snapshots:
  down: {tracks/dc/gain_db: -24.0, tracks/dc/solo: true}
"""


@pytest.fixture
def dc_session(tmp_path: Path) -> Path:
    sf.write(tmp_path / "dc.wav", np.full((3 * SR, 2), LEVEL), SR, subtype="DOUBLE")
    path = tmp_path / "session.yaml"
    path.write_text(SESSION)
    return path


@pytest.mark.parametrize("scale", ["linear", "log", "db_fader"])
def test_the_compiled_scales_are_host_scales(scale: str) -> None:
    lo, hi = (20.0, 20000.0) if scale == "log" else (-120.0, 24.0)
    for value in np.linspace(lo, hi, 97):
        kind = fades.KINDS[scale]
        position = fades._position(value, lo, hi, kind)
        assert position == pytest.approx(scales.to_normalized(value, lo, hi, scale), abs=1e-12)
        assert fades._value(position, lo, hi, kind) == pytest.approx(
            scales.from_normalized(position, lo, hi, scale), abs=1e-9)


def test_a_rendered_fade_is_smooth_follows_the_fader_taper_and_lands_on_the_snapshot(dc_session: Path) -> None:
    session = host.load_session(dc_session)
    snapshots = Snapshots(session)
    graph = Graph(session)
    graph.prepare()
    graph.reset()
    before, during = 20, int(np.ceil(0.5 * SR / BLOCK))
    blocks, fader = [], []
    for index in range(before + during + 40):
        if index == before:
            snapshots.recall("down", "api", fade_s=0.5)
        blocks.append(graph.process(index * BLOCK, BLOCK)[0].copy())
        fader.append(session.get("tracks/dc/gain_db"))
        if index == before + during - 2:
            assert session.get("tracks/dc/solo") is False          # a switch changes at the end only
    gain = np.concatenate(blocks) / blocks[0][0]                   # the fader's gain, sample by sample
    assert np.allclose(gain[:before * BLOCK], 1.0)
    # block by block the fader moved along its own (dB fader) taper to the block's end
    start = scales.to_normalized(0.0, -120.0, 24.0, "db_fader")
    end = scales.to_normalized(-24.0, -120.0, 24.0, "db_fader")
    shares = np.minimum(np.arange(1, during + 1) * BLOCK / (0.5 * SR), 1.0)
    expected = [scales.from_normalized(start + (end - start) * s, -120.0, 24.0, "db_fader") for s in shares]
    assert np.allclose(fader[before:before + during], expected, atol=1e-9)
    # exactly on the snapshot at the end, in the registry and (settled) in the audio
    assert fader[-1] == -24.0 and session.get("tracks/dc/solo") is True
    assert gain[-BLOCK:] == pytest.approx(10 ** (-24 / 20), rel=1e-9)
    # smooth: always falling, and no step at a block boundary (a stepped gain's second difference
    # would be the size of a block's step; the smoothed one stays far below it)
    fade = gain[before * BLOCK:]
    assert np.all(np.diff(fade) <= 1e-12)
    block_steps = -np.diff(10 ** (np.array([0.0, *expected]) / 20))
    assert np.max(np.abs(np.diff(fade, 2))) < 0.01 * block_steps.max()


def _playing(path: Path) -> tuple[host.Session, LiveEngine]:
    session = host.load_session(path)
    engine = LiveEngine(session, BLOCK, "none")
    engine.open()
    engine.start(play=True)
    return session, engine


def test_a_live_fade_reaches_observers_with_its_source_and_the_session_file(dc_session: Path) -> None:
    session, engine = _playing(dc_session)
    try:
        heard: list[Change] = []
        session.registry.observe(heard.append)
        Snapshots(session).recall("down", "midi:test", fade_s=0.2)
        assert session.get("tracks/dc/gain_db") == 0.0                 # nothing moves before a block runs
        for _ in range(int(0.2 * SR / BLOCK) + 2):
            run_blocks(engine, 1)
            session.registry.dispatch_pending()                       # the live control loop's job
        gains = [c.value for c in heard if c.address == "tracks/dc/gain_db"]
        assert len(gains) > 30 and all(a > b for a, b in zip(gains[:-1], gains[1:], strict=True)) and gains[-1] == -24.0
        assert {c.source for c in heard if c.address.startswith("tracks/")} == {"midi:test"}
        assert [c.value for c in heard if c.address == "tracks/dc/solo"] == [1.0]
        assert session.document["tracks"]["dc"]["gain_db"] == -24.0
        session.save()
        assert host.load_session(dc_session).get("tracks/dc/gain_db") == -24.0
        assert dc_session.read_text().startswith("# fade test")
    finally:
        engine.close()


def test_a_hand_on_a_fading_fader_takes_it_and_a_plain_recall_stops_the_fade(dc_session: Path) -> None:
    session, engine = _playing(dc_session)
    try:
        snapshots = Snapshots(session)
        snapshots.recall("down", "api", fade_s=0.5)
        run_blocks(engine, 10)
        moving = session.get("tracks/dc/gain_db")
        assert -24.0 < moving < 0.0
        session.set("tracks/dc/gain_db", -6.0, "midi:hand")            # a hand takes the fader
        run_blocks(engine, 100)
        assert session.get("tracks/dc/gain_db") == -6.0 and session.get("tracks/dc/solo") is True
        assert session.registry.fades.completed == 1
        snapshots.save("here")
        session.set("tracks/dc/gain_db", 0.0)
        run_blocks(engine, 1)
        snapshots.recall("down", "api", fade_s=0.5)
        run_blocks(engine, 10)
        snapshots.recall("here", "api")                                   # no fade: at once, the fade stops
        run_blocks(engine, 100)
        assert session.get("tracks/dc/gain_db") == -6.0
        assert session.registry.fades.active is None
    finally:
        engine.close()


@pytest.mark.parametrize("fade_s", [float("nan"), float("inf"), -1.0])
def test_a_fade_time_that_is_no_time_is_refused(dc_session: Path, fade_s: float) -> None:
    session = host.load_session(dc_session)
    with pytest.raises(ParameterError, match="fade time"):
        Snapshots(session).recall("down", "api", fade_s=fade_s)
    assert not session.registry.fades.running
