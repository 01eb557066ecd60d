"""MIDI learn: the kind of control told from what it sent, written into the session or a map file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from midi_helpers import HERE, Sender, bend, cc, note, wait_for
from test_live_helpers import make_session
from test_midi_surface import Rig

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
