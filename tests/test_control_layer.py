"""The controller layer shared by every surface: feedback rules, meters, selection, snapshots, autosave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_live_helpers import make_session

import host
from host.control.autosave import Autosave, autosave_path, newer_autosave, recover
from host.control.feedback import Feedback
from host.control.meters import MeterReader
from host.control.selection import Selection
from host.control.snapshots import Snapshots
from host.errors import ParameterError
from host.live.engine import LiveEngine
from host.registry import Change


def test_feedback_sends_the_latest_value_once_per_interval() -> None:
    feedback = Feedback(min_interval_s=0.010)
    for value in (0.1, 0.2, 0.3):
        feedback.offer("fader1", value)
    assert feedback.due(now=1.0) == [("fader1", 0.3)]
    feedback.offer("fader1", 0.4)
    assert feedback.due(now=1.005) == []            # within 10 ms of the last send: waits
    assert feedback.due(now=1.011) == [("fader1", 0.4)]
    feedback.offer("fader1", 0.4)
    assert feedback.due(now=2.0) == []              # unchanged: nothing


def test_feedback_does_not_echo_a_move_but_corrects_a_clamp_or_refusal() -> None:
    feedback = Feedback()
    feedback.moved("knob", 0.5)
    feedback.offer("knob", 0.5)                     # the registry took the move as it was
    assert feedback.due(now=1.0) == []
    feedback.moved("knob", 0.9)
    feedback.offer("knob", 0.8)                     # ... clamped it
    assert feedback.due(now=2.0) == [("knob", 0.8)]
    feedback.moved("knob", 0.1)
    feedback.refused("knob")                        # ... refused it: the stored value goes back
    assert feedback.due(now=3.0) == [("knob", 0.8)]


def test_a_held_fader_gets_nothing_and_its_value_on_release() -> None:
    feedback = Feedback()
    feedback.hold("fader")
    feedback.moved("fader", 0.5)
    feedback.offer("fader", 0.7)                    # automation moved it meanwhile
    assert feedback.due(now=1.0) == []
    feedback.release("fader")
    assert feedback.due(now=1.001) == [("fader", 0.7)]


def _playing(tmp_path: Path, blocks: int = 40) -> tuple[host.Session, LiveEngine]:
    session = host.load_session(make_session(tmp_path, 1.0))
    engine = LiveEngine(session, 256, "none")
    engine.open()
    engine.transport.play()
    return session, engine


def test_two_meter_readers_each_see_every_block_post_fader(tmp_path: Path) -> None:
    session, engine = _playing(tmp_path)
    try:
        first, second = MeterReader(engine.meters), MeterReader(engine.meters)
        for _ in range(40):
            engine.process_block(256)
        a = first.read()
        assert engine.take_peaks().max() > 0           # the status line's read takes nothing from them
        b = second.read()
        assert a == b
        loud = a["tracks/noise"].peak_db[1]             # its right channel: a steady sine
        session.registry.set("tracks/noise/gain_db", -26.0)  # 20 dB down
        for _ in range(20):                                  # the fader glides meanwhile
            engine.process_block(256)
        first.read()
        for _ in range(40):
            engine.process_block(256)
        quiet = first.read()["tracks/noise"].peak_db[1]
        assert quiet == pytest.approx(loud - 20.0, abs=0.1)
        assert a["master"].peak_max_db > a["master"].rms_db[0]
    finally:
        engine.close()


def test_selected_targets_follow_the_selection(tmp_path: Path) -> None:
    session = host.load_session(make_session(tmp_path, 0.5))
    selection = Selection(session.registry)
    heard: list[tuple[str, str]] = []
    selection.observe(lambda strip, source: heard.append((strip, source)))
    assert selection.resolve("selected/eq/*") == "tracks/tone/eq/*"
    selection.select("noise", "midi:test")
    assert selection.resolve("selected/gain_db") == "tracks/noise/gain_db"
    assert heard == [("tracks/noise", "midi:test")]
    with pytest.raises(ParameterError, match="did you mean"):
        selection.select("nosie")


def test_a_snapshot_recall_lands_in_one_block_with_its_source(tmp_path: Path) -> None:
    session, engine = _playing(tmp_path)
    try:
        snapshots = Snapshots(session)
        snapshots.save("verse")
        session.registry.set("tracks/tone/gain_db", -20.0)
        session.registry.set("tracks/noise/pan", 0.5)
        engine.process_block(256)
        heard: list[Change] = []
        session.registry.observe(heard.append)
        snapshots.recall("verse", "midi:test")
        assert engine.handoff.queued == 1              # one entry: one block
        engine.process_block(256)
        assert session.get("tracks/tone/gain_db") == -3.0
        assert session.get("tracks/noise/pan") == 0.0
        assert {c.source for c in heard} == {"midi:test"}
        assert session.document["snapshots"]["verse"]["tracks/tone/gain_db"] == -3.0
    finally:
        engine.close()


def test_a_snapshot_with_an_unknown_address_fails_at_load(tmp_path: Path) -> None:
    path = make_session(tmp_path, 0.5, automation="snapshots:\n  verse:\n    tracks/tone/gian_db: -3\n")
    session = host.load_session(path)
    with pytest.raises(host.errors.SessionError, match=r"did you mean \"tracks/tone/gain_db\"") as raised:
        Snapshots(session)
    lines = path.read_text().splitlines()
    assert raised.value.line == next(i for i, line in enumerate(lines, 1) if "gian_db" in line)


def test_autosave_writes_beside_the_session_and_recovers(tmp_path: Path) -> None:
    path = make_session(tmp_path, 0.5)
    original = path.read_text()
    session = host.load_session(path)
    autosave = Autosave(session, interval_s=10.0)
    assert not autosave.poll(now=100.0)                   # nothing changed
    session.set("tracks/tone/gain_db", -11.5, "midi:test")
    assert autosave.poll(now=100.0)
    session.set("tracks/tone/gain_db", -12.5, "midi:test")
    assert not autosave.poll(now=105.0)                   # at most every 10 s
    assert autosave.poll(now=110.0)
    assert path.read_text() == original                   # the session itself is untouched
    saved = autosave_path(path).read_text()
    assert "# live test session" in saved and "gain_db: -12.5" in saved
    fresh = host.load_session(path)
    assert newer_autosave(path) == autosave_path(path)
    assert recover(fresh, autosave_path(path)) == ["tracks/tone/gain_db"]
    assert fresh.get("tracks/tone/gain_db") == -12.5
    assert np.isclose(fresh.registry.get_normalized("tracks/tone/gain_db"),
                      session.registry.get_normalized("tracks/tone/gain_db"))
