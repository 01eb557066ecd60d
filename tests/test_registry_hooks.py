"""Registry hooks for control surfaces: safe positions, display text, kinds, strips, batch sets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_live_helpers import Capture, make_session

import host
from host.errors import ParameterError
from host.live.engine import LiveEngine
from host.registry import Change, ParamSpec, Registry, boolean, enum


@pytest.mark.parametrize("position", [math.nan, math.inf, -math.inf])
def test_a_non_finite_position_is_refused_and_the_mix_plays_on(tmp_path: Path, position: float) -> None:
    session = host.load_session(make_session(tmp_path, 1.0))
    engine = LiveEngine(session, 256, "none")
    capture = Capture(1.0)
    engine.taps.append(capture)
    with engine:
        before = float(session.registry.values[session.registry.param("tracks/tone/gain_db").slot])
        with pytest.raises(ParameterError, match="not a number|finite"):
            session.registry.set_normalized("tracks/tone/gain_db", position, "midi:test")
        engine.transport.play()
        for _ in range(20):
            engine.process_block(256)
    assert session.registry.get("tracks/tone/gain_db") == before
    heard = capture.audio[:, :20 * 256]
    assert np.isfinite(heard).all()
    assert np.sqrt(np.mean(heard ** 2)) > 0.01   # the mix still sounds


def _registry() -> Registry:
    registry = Registry()
    registry.register("tracks/vox/gain_db", ParamSpec("gain_db", 0.0, -120.0, 24.0, "dB", "db_fader"))
    registry.register("tracks/vox/pan", ParamSpec("pan", 0.0, -1.0, 1.0))
    registry.register("tracks/vox/mute", boolean("mute"))
    registry.register("tracks/vox/eq/freq", ParamSpec("freq", 1000.0, 20.0, 20000.0, "Hz", "log", doc="centre"))
    registry.register("tracks/vox/eq/mode", enum("mode", ("bell", "shelf"), "bell"))
    registry.register("transport/xruns", ParamSpec("xruns", 0.0, 0.0, 1e12, read_only=True))
    registry.register("tracks/vox/comp/release_ms", ParamSpec("release_ms", 120.0, 1.0, 5000.0, "ms"))
    return registry


@pytest.mark.parametrize(("address", "value", "width", "text"), [
    ("tracks/vox/gain_db", -3.0, 7, "-3.0 dB"),
    ("tracks/vox/gain_db", -120.0, 7, "-inf dB"),
    ("tracks/vox/gain_db", -45.25, 6, "-45 dB"),
    ("tracks/vox/gain_db", -45.25, 5, "-45dB"),
    ("tracks/vox/eq/freq", 1200.0, 7, "1.2 kHz"),
    ("tracks/vox/eq/freq", 440.0, 7, "440 Hz"),
    ("tracks/vox/eq/freq", 12500.0, 5, "12kHz"),
    ("tracks/vox/pan", -0.3, 7, "L30"),
    ("tracks/vox/pan", 0.0, 7, "C"),
    ("tracks/vox/pan", 1.0, 7, "R100"),
    ("tracks/vox/mute", 1.0, 7, "on"),
    ("tracks/vox/eq/mode", 1.0, 7, "shelf"),
    ("tracks/vox/comp/release_ms", 1234.6, 7, "1235 ms"),
    ("tracks/vox/comp/release_ms", 1234.6, 4, "1235"),
])
def test_display_text_fits_its_width(address: str, value: float, width: int, text: str) -> None:
    registry = _registry()
    shown = registry.param(address).display(value, width)
    assert shown == text
    assert len(shown) <= width


def test_table_carries_kind_read_only_and_doc() -> None:
    rows = {row["address"]: row for row in _registry().table()}
    assert rows["tracks/vox/mute"]["kind"] == "boolean"
    assert rows["tracks/vox/eq/mode"]["kind"] == "enum"
    assert rows["tracks/vox/eq/freq"]["kind"] == "number"
    assert rows["tracks/vox/eq/freq"]["doc"] == "centre"
    assert rows["transport/xruns"]["read_only"] is True
    assert rows["tracks/vox/gain_db"]["read_only"] is False
    assert rows["tracks/vox/gain_db"]["display"] == "0.0 dB"


@pytest.mark.parametrize("setter", ["set", "set_normalized", "set_many"])
def test_read_only_parameters_refuse_every_set(setter: str) -> None:
    registry = _registry()
    with pytest.raises(ParameterError, match="read-only"):
        if setter == "set_many":
            registry.set_many([("tracks/vox/pan", 0.5), ("transport/xruns", 3.0)])
        else:
            getattr(registry, setter)("transport/xruns", 0.5)
    assert registry.get("tracks/vox/pan") == 0.0   # a refused batch sets nothing


def test_deferred_writes_that_change_nothing_are_not_sent() -> None:
    registry = _registry()
    param = registry.param("tracks/vox/gain_db")
    heard: list[Change] = []
    registry.observe(heard.append)
    for _ in range(5):                      # a constant automation lane, block after block
        registry.set_deferred(param, 0.0)
    assert registry.pending_count == 0
    registry.set_deferred(param, -6.0)
    registry.set_deferred(param, -6.0)
    assert registry.dispatch_pending() == 1
    assert [(c.address, c.value) for c in heard] == [("tracks/vox/gain_db", -6.0)]


def test_strips_are_in_mixer_order_with_short_names(tmp_path: Path) -> None:
    extra = """\
  backing_vocals_left:
    source: stems/tone.wav
"""
    session = host.load_session(make_session(tmp_path, 0.5, extra_tracks=extra))
    strips = session.registry.strips()
    assert [s.address for s in strips] == ["tracks/tone", "tracks/noise", "tracks/backing_vocals_left", "master"]
    assert [s.name for s in strips][:2] == ["tone", "noise"]
    assert all(len(s.short) <= 7 for s in strips)
    assert strips[2].short == "bckngVL"


def test_a_batch_lands_in_one_block(tmp_path: Path) -> None:
    session = host.load_session(make_session(tmp_path, 1.0))
    engine = LiveEngine(session, 128, "none")
    registry = session.registry
    seen: list[tuple[float, float]] = []
    gains = [registry.param("tracks/tone/gain_db").slot, registry.param("tracks/noise/gain_db").slot]

    def tap(out: np.ndarray, position: int, rolling: bool) -> None:
        seen.append((float(registry.values[gains[0]]), float(registry.values[gains[1]])))

    engine.taps.append(tap)
    with engine:
        engine.process_block(128)
        registry.set_many([("tracks/tone/gain_db", -20.0), ("tracks/noise/gain_db", -30.0)], "midi:test")
        # a block boundary can never fall between the two: check each block's view
        engine.process_block(128)
        engine.process_block(128)
    assert seen[0] == (-3.0, -6.0)
    assert seen[1] == (-20.0, -30.0)
    assert (-20.0, -6.0) not in seen and (-3.0, -30.0) not in seen


def test_a_batch_queues_as_one_entry(tmp_path: Path) -> None:
    """The engine's queue holds a batch as one item, so a block start that drains it
    between two of its values is impossible (not merely unlikely)."""
    session = host.load_session(make_session(tmp_path, 1.0))
    engine = LiveEngine(session, 128, "none")
    with engine:
        session.registry.set_many([("tracks/tone/gain_db", -20.0), ("tracks/noise/pan", 0.5)])
        assert engine.handoff.queued == 1
        assert engine.handoff.apply(0, False, None) == 2


def test_a_batch_validates_every_value_first() -> None:
    registry = _registry()
    with pytest.raises(ParameterError, match="out of range"):
        registry.set_many([("tracks/vox/pan", 0.5), ("tracks/vox/gain_db", 99.0)])
    assert registry.get("tracks/vox/pan") == 0.0
