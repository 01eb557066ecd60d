"""MIDI learn: the kind of control told from what it sent, written into the session or a map file."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from midi_helpers import HERE, Sender, bend, cc, note
from test_live_helpers import make_session
from test_midi_surface import Rig
from waiting import wait_for

import host
from host.control.midi.learn import detect
from host.control.midi.messages import InputCounts, decode


def _gesture(*raw: list[int]) -> list:  # type: ignore[type-arg]
    counts = InputCounts()
    return [m for m in (decode(r, counts) for r in raw) if m is not None]


SWEEP = [cc(2, 7, v) for v in range(20, 90, 5)]


@pytest.mark.parametrize(("messages", "entry", "asks"), [
    (SWEEP, {"source": "cc", "channel": 3, "number": 7}, False),
    ([x for v in range(3000, 9000, 700) for x in (cc(0, 4, v >> 7), cc(0, 36, v & 0x7F))],
     {"source": "cc14", "channel": 1, "number": 4}, False),
    ([cc(0, 99, 1), cc(0, 98, 44), cc(0, 6, 10), cc(0, 38, 3), cc(0, 6, 11)],
     {"source": "nrpn", "channel": 1, "number": 172}, False),
    ([cc(0, 101, 0), cc(0, 100, 0), cc(0, 96, 1), cc(0, 96, 1)],
     {"source": "rpn", "channel": 1, "number": 0, "encoding": "increment"}, False),
    ([cc(0, 20, 1), cc(0, 20, 2), cc(0, 20, 127), cc(0, 20, 126)],
     {"source": "cc", "channel": 1, "number": 20, "encoding": "twos_complement"}, False),
    ([cc(0, 20, 1), cc(0, 20, 1), cc(0, 20, 65), cc(0, 20, 66)],
     {"source": "cc", "channel": 1, "number": 20, "encoding": "signed_bit"}, False),
    ([cc(0, 20, 65), cc(0, 20, 66), cc(0, 20, 63), cc(0, 20, 63)],
     {"source": "cc", "channel": 1, "number": 20, "encoding": "binary_offset"}, False),
    ([cc(0, 20, 1), cc(0, 20, 1), cc(0, 20, 2)],
     {"source": "cc", "channel": 1, "number": 20, "encoding": "twos_complement"}, True),
    ([bend(5, 9000), bend(5, 9100)], {"source": "pitchbend", "channel": 6}, False),
    ([note(0, 36, 100), note(0, 36, 0)], {"source": "note", "channel": 1, "number": 36}, False),
    ([[0xC0, 3]], {"source": "program", "channel": 1}, False),
])
def test_the_kind_is_told_from_the_data(messages: list[list[int]], entry: dict, asks: bool) -> None:  # type: ignore[type-arg]
    detected = detect(_gesture(*messages))
    assert detected is not None
    assert detected.entry == entry
    assert bool(detected.choices) == asks


def _learn(path: Path, sender: Sender, messages: list[list[int]], *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "host", "learn", str(path), "--midi-in", sender.port,
                                "--timeout", "60", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    assert process.stderr is not None
    wait_for(lambda: "listening" in process.stderr.readline(), 60.0, "learn to listen")
    time.sleep(0.3)     # the JACK connection settles
    sender.send(*messages, gap=0.005)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize("into", ["session", "map file"])
def test_learn_writes_the_mapping_keeping_comments(tmp_path: Path, into: str) -> None:
    path = make_session(tmp_path, 0.5)
    map_file = tmp_path / "controllers" / "desk.yaml"
    if into == "map file":
        map_file.parent.mkdir()
        map_file.write_text("# my desk\ndevice: desk\nmappings: []\n")
    sender = Sender()
    try:
        extra = ["--param", "tracks/noise/pan"] + (["--map", str(map_file)] if into == "map file" else [])
        result = _learn(path, sender, [cc(0, 20, 1), cc(0, 20, 2), cc(0, 20, 127), cc(0, 20, 127)], *extra)
    finally:
        sender.close()
    assert result.returncode == 0, result.stderr
    written = map_file if into == "map file" else path
    text = written.read_text()
    assert text.startswith("# my desk" if into == "map file" else "# live test session")
    assert "{source: cc, channel: 1, number: 20, encoding: twos_complement, target: tracks/noise/pan}" in text
    if into == "session":     # and the session loads and plays it
        session = host.load_session(path)
        assert session.document["controllers"]["mappings"][0]["encoding"] == "twos_complement"


def test_learn_refuses_an_unknown_parameter(tmp_path: Path) -> None:
    path = make_session(tmp_path, 0.5)
    result = subprocess.run([sys.executable, "-m", "host", "learn", str(path), "--midi-in", "x", "--param",
                             "tracks/noise/pna"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and 'did you mean "tracks/noise/pan"' in result.stderr


def test_learn_inside_a_running_surface(tmp_path: Path) -> None:
    rig = Rig(tmp_path, "mappings: []\n", out=False)
    try:
        found: list[object] = []
        thread = threading.Thread(target=lambda: found.append(rig.surface.learn("tracks/tone/pan", 30.0)))
        thread.start()
        wait_for(lambda: rig.surface.learning, what="learning")
        rig.sender.send(*[cc(1, 30, v) for v in range(0, 128, 16)], gap=0.005)
        thread.join()
        assert found == [{"source": "cc", "channel": 2, "number": 30, "target": "tracks/tone/pan"}]
        assert rig.get("tracks/tone/pan") == 0.0             # the gesture moved nothing
        rig.sender.send(cc(1, 30, 127))                       # the new mapping works at once
        rig.wait_value("tracks/tone/pan", 1.0)
        assert rig.session.document["controllers"]["mappings"][-1]["number"] == 30
    finally:
        rig.close()


# -- learn while `mixhost live` plays: the m key ---------------------------------------------------------------
class Terminal:
    """The live keys on a real pty, driving MIDI learn; what they told the user."""

    def __init__(self, engine: Any, learn: Any) -> None:
        from host.control.keys import Keys

        self.master, self.slave = pty.openpty()
        self.keys = Keys(self.slave)
        self.engine, self.learn = engine, learn
        self.told: list[str] = []

    def press(self, data: bytes) -> None:
        os.write(self.master, data)
        wait_for(lambda: self.keys.pressed, what=f"{data!r} read from the terminal")
        assert self.keys.handle(self.engine, self.told.append, learn=self.learn)

    def poll_until(self, text: str) -> str:
        """Run learn's part of the control loop until it says ``text``."""
        def said() -> str | None:
            self.told.extend(self.learn.poll() if self.learn is not None else [])
            return next((line for line in self.told if text in line), None)
        return str(wait_for(said, 30.0, f"learn to say {text!r}"))

    def close(self) -> None:
        self.keys.close()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def learning(tmp_path: Path) -> Iterator[tuple[Rig, Terminal]]:
    from host.control.midi.learn import ArmedLearn

    rig = Rig(tmp_path, "mappings:\n  - {source: cc, channel: 1, number: 7, target: tracks/tone/gain_db, "
                        "min: -40, max: 0, curve: linear}\n", out=False)
    learn = ArmedLearn.for_surfaces(rig.surfaces.context, rig.surfaces.surfaces)
    assert learn is not None
    learn.open()
    terminal = Terminal(rig.engine, learn)
    yield rig, terminal
    terminal.close()
    learn.close()
    rig.close()


def test_m_arms_learn_a_touch_picks_the_target_and_the_next_control_is_bound(
        learning: tuple[Rig, Terminal]) -> None:
    rig, terminal = learning
    before = rig.session.path.read_text()
    terminal.press(b"m")
    assert "target tracks/tone/gain_db (the selected strip)" in terminal.told[-1]
    rig.session.set("tracks/noise/pan", 0.25, "osc:tablet")              # another surface touches a parameter
    terminal.poll_until("target tracks/noise/pan (moved by osc:tablet)")
    rig.sender.send(cc(0, 21, 5))                                        # one value: the kind cannot be told
    terminal.poll_until("move the control again")
    rig.sender.send(*[cc(0, 21, v) for v in range(0, 128, 16)], gap=0.005)
    done = terminal.poll_until("MIDI learn: mapped")
    assert "{source: cc, channel: 1, number: 21, target: tracks/noise/pan}" in done
    assert f"written into {rig.session.path}" in done
    assert not terminal.learn.armed
    assert rig.get("tracks/noise/pan") == 0.25                           # the gesture moved nothing
    text = rig.session.path.read_text()                                  # atomically, comments kept
    assert text.startswith(before.splitlines()[0]) and text.count("number: 21") == 1
    assert host.load_session(rig.session.path).document["controllers"]["mappings"][-1]["number"] == 21
    rig.sender.send(cc(0, 21, 127))                                      # the new mapping works at once
    rig.wait_value("tracks/noise/pan", 1.0)
    rig.sender.send(cc(0, 7, 0))                                         # and the old one again
    rig.wait_value("tracks/tone/gain_db", -40.0)


def test_escape_cancels_learn_and_the_controls_map_what_they_did(learning: tuple[Rig, Terminal]) -> None:
    rig, terminal = learning
    before = rig.session.path.read_text()
    terminal.press(b"m")
    rig.sender.send(*[cc(0, 7, v) for v in range(0, 128, 16)], gap=0.005)  # heard by learn, maps nothing
    wait_for(lambda: rig.surface.counts.good >= 8, what="the gesture heard")
    terminal.press(b"\x1b")
    assert terminal.told[-1].startswith("MIDI learn cancelled")
    assert terminal.learn.poll() == [] and not terminal.learn.armed
    assert rig.get("tracks/tone/gain_db") == -3.0
    rig.sender.send(cc(0, 7, 127))
    rig.wait_value("tracks/tone/gain_db", 0.0)
    assert rig.session.path.read_text() == before


def test_m_without_a_map_driven_surface_says_what_it_needs(tmp_path: Path) -> None:
    from host.control.keys import NO_LEARN
    from host.live.engine import LiveEngine

    engine = LiveEngine(host.load_session(make_session(tmp_path, 0.5)), 256, "none")
    terminal = Terminal(engine, None)
    try:
        terminal.press(b"m")
        terminal.press(b"\x1b")                                          # nothing armed: nothing to say
        assert terminal.told == [NO_LEARN]
    finally:
        terminal.close()


def test_the_m_key_in_mixhost_live_maps_the_last_touched_parameter(tmp_path: Path) -> None:
    """`mixhost live` on a pty with a real sender: a mapped fader moved, then m (REAPER's last touched),
    then a new knob turned: the knob is mapped to that fader, in the session file at once."""
    path = make_session(tmp_path, 1.0, automation="controllers:\n  mappings:\n    - {source: cc, channel: 1, "
                                                   "number: 7, target: tracks/noise/gain_db, curve: linear}\n")
    sender = Sender()
    master, slave = pty.openpty()
    log = (tmp_path / "stderr.txt").open("w+")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    live = subprocess.Popen([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--no-status",
                             "--loop", "0", "1", "--midi-in", sender.port], stdin=slave, stdout=log, stderr=log,
                            env=env)

    def said(text: str) -> None:
        wait_for(lambda: text in " ".join(Path(log.name).read_text().split()) or live.poll() is not None,
                 120.0, text)
        assert live.poll() is None, Path(log.name).read_text()

    try:
        said("playing")
        time.sleep(0.3)                                                  # the JACK connection settles
        sender.send(cc(0, 7, 64))
        time.sleep(0.5)
        os.write(master, b"m")
        said("target tracks/noise/gain_db (moved by midi:midi)")
        sender.send(*[cc(0, 22, v) for v in range(10, 120, 10)], gap=0.005)
        said("MIDI learn: mapped {source: cc, channel: 1, number: 22, target: tracks/noise/gain_db}")
        assert "{source: cc, channel: 1, number: 22, target: tracks/noise/gain_db}" in path.read_text()
        assert path.read_text().startswith("# live test session")
        os.write(master, b"q")
        assert live.wait(timeout=30) == 0
    finally:
        if live.poll() is None:
            live.kill()
        sender.close()
        os.close(master)
        os.close(slave)
        log.close()
