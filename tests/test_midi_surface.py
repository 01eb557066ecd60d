"""MIDI map files over real JACK MIDI: a sender process plays a controller, a JACK client reads feedback.

The engine runs clock-driven (no audio device), the MIDI goes through the
JACK server the tests run (`make test` starts a dummy one).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from midi_helpers import Receiver, Sender, bend, cc, note
from test_live_helpers import ControlLoopRig, make_session
from waiting import wait_for

import host
from host.control.launch import SurfaceOptions, build_surfaces
from host.control.meters import MeterReader
from host.control.midi.encoders import relative_steps
from host.control.midi.messages import InputCounts, decode
from host.errors import SessionError
from host.live.engine import LiveEngine
from host.live.handoff import Carried

BLOCK = 256


class Rig(ControlLoopRig):
    """A live engine with a MIDI surface on a sender's port, feedback to a receiver, and a control loop."""

    def __init__(self, tmp_path: Path, controllers: str, *, snapshots: str = "", out: bool = True,
                 maps: list[str] | None = None, profile: str | None = None, tracks: str = "",
                 record: str | None = None) -> None:
        extra = (f"controllers:\n{textwrap.indent(textwrap.dedent(controllers), '  ')}" if controllers else "")
        path = make_session(tmp_path, 2.0, automation=extra + snapshots, extra_tracks=tracks)
        self.session = host.load_session(path)
        super().__init__()
        self._opened: list[Any] = []   # what close() undoes, last first: a rig that fails half-built leaks nothing
        try:
            self._build(record, out, maps, profile)
        except BaseException:
            self.close()
            raise

    def _build(self, record: str | None, out: bool, maps: list[str] | None, profile: str | None) -> None:
        # the JACK clients close after the engine, whose audio thread holds the GIL they need
        self.sender = Sender()
        self._opened.append(self.sender)
        self.receiver = Receiver() if out else None
        if self.receiver is not None:
            self._opened.append(self.receiver)
        self.engine = LiveEngine(self.session, BLOCK, "none", record=record)
        self._opened.append(self.engine)
        options = SurfaceOptions(midi_in=self.sender.port, midi_out=self.receiver.name if self.receiver else None,
                                 midi_maps=maps or [], midi_profile=profile)
        self.surfaces = build_surfaces(self.session, self.engine, options)
        self.surface: Any = self.surfaces.surfaces[0]
        self.engine.open()
        self.engine.transport.set_loop(0, int(1.5 * 48000))
        self.engine.start(play=True)
        self._opened.append(self.surfaces)      # closed before the engine, as `mixhost live` does
        self.surfaces.open()
        self.start_control()

    def wait_value(self, address: str, expected: float, *, approx: float = 1e-9) -> None:
        wait_for(lambda: abs(float(self.get(address)) - expected) <= approx, what=f"{address} = {expected}")

    def close(self) -> None:
        self.stop_control()
        while self._opened:
            self._opened.pop().close()


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.close()


FADER = """\
mappings:
  - {source: cc, channel: 1, number: 7, target: tracks/noise/gain_db, min: -40, max: 0, curve: linear}
  - {source: cc, channel: 1, number: 8, target: tracks/tone/pan, curve: linear}
"""


def test_a_cc_moves_a_fader_heard_in_the_audio(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, FADER)
    rigs.append(rig)
    meters = MeterReader(rig.engine.meters)
    rig.sender.send(cc(0, 7, 127))
    rig.wait_value("tracks/noise/gain_db", 0.0)
    wait_for(lambda: meters.read() and False or rig.engine.meters.count > 100, what="blocks")
    meters.read()
    wait_for(lambda: rig.engine.meters.count > 200, what="blocks")
    loud = meters.read()["tracks/noise"].peak_db[1]      # a steady 0.25 sine on the right
    assert loud == pytest.approx(-12.04, abs=0.1)
    rig.sender.send(cc(0, 7, 0))
    rig.wait_value("tracks/noise/gain_db", -40.0)
    seen = rig.engine.meters.count
    wait_for(lambda: rig.engine.meters.count > seen + 40, what="the glide")
    meters.read()
    wait_for(lambda: rig.engine.meters.count > seen + 140, what="blocks")
    assert meters.read()["tracks/noise"].peak_db[1] == pytest.approx(loud - 40.0, abs=0.1)


def test_feedback_reaches_the_controller_but_never_echoes_a_move(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, FADER)
    rigs.append(rig)
    assert rig.receiver is not None
    redraw = sorted(wait_for(lambda: len(rig.receiver.events) >= 2 and rig.receiver.take(), what="redraw"))
    assert redraw == [bytes(cc(0, 7, 108)), bytes(cc(0, 8, 64))]     # -6 dB of -40..0; the pan centred
    rig.session.set("tracks/noise/gain_db", -20.0)          # from the API: the fader follows
    assert wait_for(rig.receiver.take, what="feedback") == [bytes(cc(0, 7, 64))]
    rig.sender.send(cc(0, 7, 100))                           # a hand move: no echo ...
    rig.wait_value("tracks/noise/gain_db", -40 + 40 * 100 / 127)
    rig.session.set("tracks/tone/pan", 1.0)                  # ... which would have come before this
    assert wait_for(rig.receiver.take, what="pan feedback") == [bytes(cc(0, 8, 127))]


FOURTEEN = """\
mappings:
  - {source: cc14, channel: 2, number: 1, target: tracks/noise/pan, curve: linear}
  - {source: nrpn, channel: 3, number: 300, target: tracks/tone/pan, curve: linear, step: 0.125}
  - {source: pitchbend, channel: 4, target: tracks/noise/gain_db, min: -30, max: 0, curve: linear}
"""


@pytest.mark.parametrize("order", ["msb_first", "lsb_first"])
def test_14_bit_pairs_in_either_order(tmp_path: Path, rigs: list[Rig], order: str) -> None:
    rig = Rig(tmp_path, FOURTEEN, out=False)
    rigs.append(rig)
    for value in (0x2A55, 0x0123, 0x3FFF):
        msb, lsb = cc(1, 1, value >> 7), cc(1, 33, value & 0x7F)
        rig.sender.send(*((msb, lsb) if order == "msb_first" else (lsb, msb)))
        rig.wait_value("tracks/noise/pan", -1.0 + 2.0 * value / 16383)


def test_nrpn_values_and_data_increment_decrement(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, FOURTEEN)
    rigs.append(rig)
    select = [cc(2, 99, 300 >> 7), cc(2, 98, 300 & 0x7F)]
    rig.sender.send(*select, cc(2, 6, 0x20), cc(2, 38, 0))        # 0x1000 of 0x3FFF
    rig.wait_value("tracks/tone/pan", -1.0 + 2.0 * 0x1000 / 16383)
    position = rig.session.registry.get_normalized("tracks/tone/pan")
    rig.sender.send(cc(2, 96, 1), cc(2, 96, 1))                    # two increments of an eighth
    rig.wait_value("tracks/tone/pan", -1.0 + 2.0 * (position + 0.25), approx=1e-6)
    rig.sender.send(cc(2, 97, 1))
    rig.wait_value("tracks/tone/pan", -1.0 + 2.0 * (position + 0.125), approx=1e-6)
    rig.sender.send(cc(2, 99, 1), cc(2, 98, 1), cc(2, 6, 127))     # another parameter: not ours
    rig.sender.send(bend(3, 16383))                                # a later message still applies
    rig.wait_value("tracks/noise/gain_db", 0.0)
    assert rig.get("tracks/tone/pan") == pytest.approx(-1.0 + 2.0 * (position + 0.125))


ENCODERS = """\
mappings:
  - {{source: cc, channel: 1, number: 20, target: tracks/noise/pan, curve: linear, encoding: {encoding}, step: 0.01}}
"""


@pytest.mark.parametrize(("encoding", "up", "down"), [
    ("twos_complement", 3, 127), ("signed_bit", 3, 0x41), ("binary_offset", 67, 63)])
def test_relative_encoders(tmp_path: Path, rigs: list[Rig], encoding: str, up: int, down: int) -> None:
    rig = Rig(tmp_path, ENCODERS.format(encoding=encoding), out=False)
    rigs.append(rig)
    assert relative_steps(encoding, up) == 3 and relative_steps(encoding, down) == -1
    rig.sender.send(cc(0, 20, up))
    rig.wait_value("tracks/noise/pan", 0.06, approx=1e-9)          # 3 ticks of 1 % of -1..1
    rig.sender.send(cc(0, 20, down))
    rig.wait_value("tracks/noise/pan", 0.04, approx=1e-9)


PICKUP = """\
pickup: true
mappings:
  - {source: cc, channel: 1, number: 7, target: tracks/noise/pan, curve: linear}
"""


def test_pickup_waits_for_the_control_to_meet_the_value(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, PICKUP, out=False)
    rigs.append(rig)
    rig.sender.send(cc(0, 7, 10))                   # far below the centre: nothing moves
    rig.sender.send(cc(0, 7, 20), cc(0, 7, 127))    # ... and the marker: a jump over it counts as crossing
    rig.wait_value("tracks/noise/pan", 1.0)
    rig.session.set("tracks/noise/pan", -0.5)       # another source moved it: pick up again
    rig.sender.send(cc(0, 7, 100), cc(0, 7, 110))
    rig.sender.send(cc(0, 7, 30))                   # crosses -0.5 (position 0.25) on the way down
    rig.wait_value("tracks/noise/pan", -1.0 + 2.0 * 30 / 127)
    assert rig.surface.counts.good == 6


MACRO = """\
mappings:
  - source: cc
    channel: 1
    number: 9
    curve: linear
    targets:
      - {target: tracks/tone/gain_db, min: -60, max: 0}
      - {target: tracks/noise/gain_db, min: 0, max: -60}
      - {target: tracks/*/pan, min: -1, max: 1}
"""


def test_a_macro_lands_in_one_block(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, MACRO, out=False)
    rigs.append(rig)
    rig.engine.handoff.keep_carried = True
    rig.sender.send(cc(0, 9, 127))
    rig.wait_value("tracks/noise/gain_db", -60.0)
    carried = wait_for(lambda: [c for c in list(rig.engine.handoff.carried)
                                if isinstance(c, Carried) and c.source.startswith("midi:")],
                       what="carried")
    assert {c.param.address for c in carried} == {"tracks/tone/gain_db", "tracks/noise/gain_db",
                                                  "tracks/tone/pan", "tracks/noise/pan"}
    assert len({c.position for c in carried}) == 1
    assert rig.get("tracks/tone/gain_db") == 0.0 and rig.get("tracks/noise/pan") == 1.0


BUTTONS = """\
mappings:
  - {source: note, channel: 1, number: 40, target: tracks/tone/mute}
  - {source: note, channel: 1, number: 41, target: tracks/noise/solo, mode: momentary}
  - {source: program, channel: 1}
  - {source: note, channel: 1, number: 42, transport: stop}
"""
SNAPSHOTS = """\
snapshots:
  quiet: {tracks/tone/gain_db: -30, tracks/noise/gain_db: -40}
  loud: {tracks/tone/gain_db: 0, tracks/noise/gain_db: 0}
"""


def test_buttons_toggle_hold_and_light_and_programs_recall(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, BUTTONS, snapshots=SNAPSHOTS)
    rigs.append(rig)
    assert rig.receiver is not None
    redraw = wait_for(lambda: len(rig.receiver.events) >= 2 and rig.receiver.take(), what="the redraw")
    # the surface redraws again a moment later (for a device that was still waking): on a busy
    # machine the first take may hold both redraws, each the same two dark buttons
    assert sorted(set(redraw)) == [bytes(note(0, 40, 0)), bytes(note(0, 41, 0))] and len(redraw) % 2 == 0
    rig.sender.send(note(0, 40, 127), note(0, 40, 0))
    wait_for(lambda: rig.get("tracks/tone/mute") is True, what="mute")
    rig.sender.send(note(0, 41, 100))
    wait_for(lambda: rig.get("tracks/noise/solo") is True, what="solo held")
    rig.sender.send(note(0, 41, 0))
    wait_for(lambda: rig.get("tracks/noise/solo") is False, what="solo released")
    seen: list[bytes] = []
    wait_for(lambda: seen.extend(rig.receiver.take()) or bytes(note(0, 41, 0)) in seen, what="the solo LED off")
    assert seen == [bytes(note(0, 40, 127)), bytes(note(0, 41, 127)), bytes(note(0, 41, 0))]
    rig.session.set("tracks/tone/mute", False)                  # the LED follows the API
    assert wait_for(rig.receiver.take, what="LED") == [bytes(note(0, 40, 0))]
    rig.sender.send([0xC0, 1])                                   # program 1: the second snapshot
    rig.wait_value("tracks/noise/gain_db", 0.0)
    rig.sender.send([0xC0, 0])
    rig.wait_value("tracks/noise/gain_db", -40.0)
    assert rig.get("tracks/tone/gain_db") == -30.0
    rig.sender.send(note(0, 42, 127))
    wait_for(lambda: not rig.engine.clock.rolling, what="stopped")


def test_bad_input_is_counted_and_the_next_cc_applies(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, FADER, out=False)
    rigs.append(rig)
    flood = [[0xF0, *([0x11] * 200), 0xF7]] * 50
    junk: list[list[int]] = [[0x07, 0x40], [0xB0, 0x80, 0x01], [0xA0, 1, 2], [0xF8], [0xF2, 0, 0], *flood]
    rig.sender.send(*junk)
    rig.sender.send(cc(0, 7, 127))
    rig.wait_value("tracks/noise/gain_db", 0.0)
    counts = rig.surface.counts
    assert counts.sysex == 50 and counts.malformed >= 2 and counts.unknown >= 1
    assert rig.surface.handler_errors == 0


@pytest.mark.parametrize(("data", "kind"), [
    ([0xB3, 7, 100], ("cc", 3, 7, 100)), ([0x80, 60, 10], ("note_on", 0, 60, 0)),
    ([0xE1, 0x7F, 0x7F], ("pitchbend", 1, 0, 16383)), ([0xD0, 5], ("pressure", 0, 0, 5)),
    ([0xB0, 7], None), ([0x40, 1, 2], None), ([0x90, 0x80, 1], None), ([], None), ([0xFE], None)])
def test_decoding(data: list[int], kind: tuple[Any, ...] | None) -> None:
    counts = InputCounts()
    message = decode(data, counts)
    assert (tuple(message) if message else None) == kind
    assert counts.good == (1 if kind else 0)


def test_a_vanished_port_is_reported_and_reconnected(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, FADER, out=False)
    rigs.append(rig)
    rig.sender.send(cc(0, 7, 127))
    rig.wait_value("tracks/noise/gain_db", 0.0)
    rig.sender.command(close=True)
    wait_for(lambda: any("vanished" in n for n in list(rig.surface.notices)), what="the vanish reported")
    assert rig.surface.input.vanished == 1
    rig.sender.command(open=True)
    wait_for(lambda: rig.surface.input.reconnected == 1, what="the reconnection")
    rig.sender.send(cc(0, 7, 0))
    rig.wait_value("tracks/noise/gain_db", -40.0)
    assert rig.engine.clock.rolling                       # the mix played on throughout


@pytest.mark.parametrize(("mapping", "message"), [
    ("{source: cc, number: 7, target: tracks/tone/gian_db}", r'did you mean "tracks/tone/gain_db"'),
    ("{source: cc, number: 7, target: transport/xruns}", "read-only"),
    ("{source: cc, number: 200, target: tracks/tone/gain_db}", "out of range 0-127"),
    ("{source: cc, number: 7, target: tracks/tone/gain_db, min: -500}", "out of range"),
    ("{source: cc, numbr: 7, target: tracks/tone/gain_db}", r'did you mean "number"'),
    ("{source: nrpn, number: 5, target: tracks/tone/pan, encoding: signed_bit}", "relative encoder"),
])
def test_a_bad_map_file_fails_at_load_with_its_line(tmp_path: Path, mapping: str, message: str) -> None:
    path = make_session(tmp_path, 0.5)
    (tmp_path / "controllers").mkdir()
    map_file = tmp_path / "controllers" / "mine.yaml"
    map_file.write_text(f"# my controller\ndevice: test\nmappings:\n  - {mapping}\n")
    session = host.load_session(path)
    engine = LiveEngine(session, BLOCK, "none")
    with pytest.raises(SessionError, match=message) as raised:
        build_surfaces(session, engine, SurfaceOptions(midi_in="anything", midi_maps=["mine"]))
    assert raised.value.file == str(map_file) and raised.value.line == 4
    result = subprocess.run([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--midi-in", "x",
                             "--midi-map", "mine"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "mine.yaml:4" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("name", "messages", "address", "expected"), [
    ("nanokontrol2", [cc(0, 0, 40), cc(0, 0, 70)], "tracks/tone/gain_db",   # pickup: crosses -3 dB (at 46 %)
     -120.0),
    ("nanokontrol2", [cc(0, 33, 127), cc(0, 33, 0)], "tracks/noise/solo", 1.0),
    ("bcf2000-nrpn", [cc(0, 99, 0), cc(0, 98, 2), cc(0, 6, 0x40), cc(0, 38, 0)], "tracks/noise/gain_db", -120.0),
    ("bcf2000-nrpn", [cc(0, 1, 65), cc(0, 1, 67)], "tracks/tone/pan", 0.14),  # +1 tick, +3 accelerated to 6: 7 % of -1..1
])
def test_the_shipped_maps(tmp_path: Path, rigs: list[Rig], name: str, messages: list[list[int]], address: str,
                          expected: float) -> None:
    from host.scales import from_normalized

    rig = Rig(tmp_path, "", maps=[name], out=False)
    rigs.append(rig)
    position = {"tracks/tone/gain_db": 70 / 127, "tracks/noise/gain_db": 0x2000 / 16383}.get(address)
    if position is not None:
        expected = from_normalized(position, -120.0, 24.0, "db_fader")
    rig.sender.send(*messages)
    rig.wait_value(address, expected, approx=1e-9)


def test_live_keeps_running_past_the_end_and_its_autosave_survives_kill_9(tmp_path: Path) -> None:
    """`mixhost live` with a surface: played past the session's end, killed -9 after a move;
    the autosave holds the move, and the next start recovers it and saves the session."""
    import os
    import signal
    import time

    from midi_helpers import HERE

    path = make_session(tmp_path, 1.0)
    original = path.read_text()
    sender = Sender()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    live = subprocess.Popen([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--no-status",
                             "--midi-in", sender.port, "--midi-map", "nanokontrol2"],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert live.stderr is not None
        wait_for(lambda: "MIDI surface" in live.stderr.readline(), 60.0, "the surface")
        time.sleep(1.5)                                    # past the 1 s session: still running
        assert live.poll() is None
        sender.send(cc(0, 17, 64), cc(0, 17, 0))           # knob 2 (pickup): meets the centre, then hard left
        autosave = path.with_name("session.autosave.yaml")
        wait_for(lambda: autosave.exists() and "pan: -1.0" in autosave.read_text(), 20.0, "the autosave")
        live.send_signal(signal.SIGKILL)
        live.wait(timeout=10)
    finally:
        if live.poll() is None:
            live.kill()
        sender.close()
    assert path.read_text() == original
    os.utime(autosave)                                     # newer than the session, whatever the clock
    notice = subprocess.run([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--duration",
                             "0.2", "--no-status"], capture_output=True, text=True, env=env, timeout=120)
    assert "--recover takes it" in " ".join(notice.stderr.split()) and path.read_text() == original
    recovered = subprocess.run([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--duration",
                                "0.2", "--no-status", "--recover", "--save"], capture_output=True, text=True,
                               env=env, timeout=120)
    assert recovered.returncode == 0, recovered.stderr
    assert "recovered 1 value(s)" in recovered.stderr
    assert host.load_session(path).get("tracks/noise/pan") == -1.0
    assert path.read_text().startswith("# live test session")   # comments kept
    assert not autosave.exists()


def test_live_with_jack_audio_opens_its_midi_ports_before_the_callback_runs(tmp_path: Path) -> None:
    """rtmidi opens JACK clients holding the interpreter lock; opened after the engine's Python
    JACK callback started, the open waited for a cycle that waited for the lock, for good."""
    import os

    path = make_session(tmp_path, 0.5, automation=f"controllers:\n{textwrap.indent(FADER, '  ')}")
    sender = Sender()
    try:
        result = subprocess.run([sys.executable, "-m", "host", "live", str(path), "--audio", "jack", "--no-connect",
                                 "--name", f"mixhost-test-{os.getpid()}", "--no-status", "--duration", "1",
                                 "--midi-in", sender.port], capture_output=True, text=True, timeout=120)
    finally:
        sender.close()
    assert result.returncode == 0, result.stderr
    # the input is a port on the engine's own JACK client (see host.live.midi_inlet)
    assert (f"MIDI surface midi:midi on mixhost-test-{os.getpid()}:midi_in <- {sender.port}"
            in " ".join(result.stderr.split()))
