"""MIDI read by the live engine itself: a control lands in the block of the cycle that delivers it.

mixhost plays through its ``jack`` backend; a sender process plays the
controller on its own JACK MIDI port, connected to the engine's MIDI input.
A separate JACK client listens to the same sender and notes JACK's frame
counter of the cycle each message came in; a tap on the engine notes, for
each block, the frame counter of its cycle, the registry values the block
ran with, and the rendered audio.  The tests line the two up by frame
counter: never by wall time.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jack
import numpy as np
import pytest
import soundfile as sf
from midi_helpers import Receiver, Sender, bend, cc, note
from waiting import wait_for

import host
from host.control.launch import SurfaceOptions, build_surfaces
from host.control.midi.ports import EngineInput
from host.live.engine import LiveEngine
from host.registry import Change

SR = 48_000
LEVEL = 0.25     # the DC source: a block's samples show the fader's gain directly

SESSION = """\
session: {{sample_rate: 48000}}
tracks:
  dc: {{source: dc.wav, gain_db: -40, pan: 0.0}}
  other: {{source: dc.wav, gain_db: -20}}
outputs: {{mixdown: out/mix.wav, bit_depth: float, dither: false}}
controllers:
  mappings:
{mappings}
"""

FADER = [
    "    - {source: cc, channel: 1, number: 7, target: tracks/dc/gain_db, min: -40, max: 0, curve: linear}",
    # a macro: one bend, two targets with their own ranges
    "    - {source: pitchbend, channel: 2, targets: [{target: tracks/dc/pan, min: -1, max: 1},"
    " {target: tracks/other/gain_db, min: -60, max: 0}], curve: linear}",
    "    - {source: note, channel: 1, number: 36, target: tracks/other/mute, mode: momentary}",
    # stateful: stays on the surface's own path
    "    - {source: cc, channel: 1, number: 9, target: tracks/other/pan, curve: linear, pickup: true}",
    "    - {source: cc, channel: 1, number: 10, target: tracks/other/gain_db, encoding: signed_bit, step: 0.1}",
]


class Listener:
    """A JACK client on the sender's port: each message with JACK's frame counter of its cycle."""

    def __init__(self, source: str) -> None:
        self.client = jack.Client(f"listener-{os.getpid()}-{time.monotonic_ns() % 100000}", no_start_server=True)
        self.port = self.client.midi_inports.register("in")
        self.events: list[tuple[int, bytes]] = []
        self._closing = False
        self.client.set_process_callback(self._process)
        self.client.activate()
        self.client.connect(source, self.port)

    def _process(self, frames: int) -> None:
        if self._closing:
            return
        for _, data in self.port.incoming_midi_events():
            self.events.append((self.client.last_frame_time, bytes(data)))

    def close(self) -> None:
        self._closing = True    # quiesce before libjack cancels the thread (see midi_helpers.Receiver)
        time.sleep(0.05)
        self.client.deactivate()
        self.client.close()


class BlockLog:
    """A tap: per block, its cycle's frame counter, the values it ran with and its last output sample."""

    def __init__(self, engine: LiveEngine, addresses: list[str]) -> None:
        self.client = engine.backend.client
        registry = engine.session.registry
        self.slots = [registry.param(a).slot for a in addresses]
        self.values = registry.values
        self.blocks: list[tuple[int, tuple[float, ...], float]] = []

    def __call__(self, out: np.ndarray, position: int, rolling: bool) -> None:
        values = self.values
        self.blocks.append((self.client.last_frame_time, tuple(float(values[s]) for s in self.slots),
                            float(out[0, -1])))

    def at(self, frame: int) -> int:
        """The index of the block of the cycle at ``frame``."""
        found = [i for i, block in enumerate(self.blocks) if block[0] == frame]
        assert found, f"no block ran in the cycle at frame {frame}"
        return found[0]


class Rig:
    """mixhost on its JACK backend with a map-driven MIDI surface, a sender, a listener, a tap."""

    def __init__(self, folder: Path, mappings: list[str], *, feedback: bool = False) -> None:
        sf.write(folder / "dc.wav", np.full(SR * 3, LEVEL, dtype=np.float32), SR, subtype="FLOAT")
        (folder / "session.yaml").write_text(SESSION.format(mappings="\n".join(mappings)))
        self.session = host.load_session(folder / "session.yaml")
        self._opened: list[Any] = []
        self._stop = threading.Event()
        self._loop = threading.Thread(target=self._control, daemon=True)
        try:
            self._build(feedback)
        except BaseException:
            self.close()
            raise

    def _build(self, feedback: bool) -> None:
        self.sender = Sender()
        self._opened.append(self.sender)
        self.receiver = Receiver() if feedback else None
        if self.receiver is not None:
            self._opened.append(self.receiver)
        self.engine = LiveEngine(self.session, None, "jack", client_name=f"mixhost-midi-test-{os.getpid()}",
                                 auto_connect=False)
        options = SurfaceOptions(midi_in=self.sender.port, midi_out=self.receiver.name if self.receiver else None)
        self.surfaces = build_surfaces(self.session, self.engine, options)
        self.surface: Any = self.surfaces.surfaces[0]
        self.engine.open()
        self._opened.append(self.engine)
        self.surfaces.open()          # before the engine's JACK callback runs (see host.control.midi.ports)
        self._opened.append(self.surfaces)
        self.engine.transport.set_loop(0, 2 * SR)
        self.log = BlockLog(self.engine, ["tracks/dc/gain_db", "tracks/dc/pan", "tracks/other/gain_db",
                                          "tracks/other/mute", "tracks/other/pan"])
        self.engine.taps.append(self.log)
        self.engine.start(play=True)
        self.listener = Listener(self.sender.port)
        self._opened.append(self.listener)
        self._loop.start()
        inlet = self.surface.input.inlet
        wait_for(lambda: inlet.connected_to(self.sender.port), what="the engine's MIDI input connected")

    def _control(self) -> None:   # what `mixhost live`'s control loop does
        while not self._stop.is_set():
            self.session.registry.dispatch_pending()
            self.surfaces.poll()
            self._stop.wait(0.005)

    def send_and_wait(self, *messages: list[int], gap: float = 0.03) -> list[tuple[int, bytes] | None]:
        """Send, and wait until the engine's blocks have run past every message the listener saw.
        Per message: (the frame counter of the cycle that carried it, its bytes), or None for one
        the listener missed (a Python JACK client too, it can miss a cycle on a loaded machine)."""
        before = len(self.listener.events)
        self.sender.send(*messages, gap=gap)
        deadline = time.monotonic() + 3.0
        while len(self.listener.events) < before + len(messages) and time.monotonic() < deadline:
            time.sleep(0.005)
        seen = self.listener.events[before:]
        blocks = len(self.log.blocks)
        if seen:
            last = seen[-1][0]
            wait_for(lambda: self.log.blocks and self.log.blocks[-1][0] > last, what="the engine's blocks")
        else:     # the listener missed them all: the engine had them in its blocks long ago
            wait_for(lambda: len(self.log.blocks) > blocks + 8, what="the engine's blocks")
        found: list[tuple[int, bytes] | None] = []
        for message in messages:        # what the listener heard is what was sent, in order, less misses
            if seen and seen[0][1] == bytes(message):
                found.append(seen.pop(0))
            else:
                found.append(None)
        return found

    def close(self) -> None:
        self._stop.set()
        if self._loop.is_alive():
            self._loop.join()
        # the listener first, then the engine's callback stops before rtmidi's clients close
        for kind in (Listener, LiveEngine):
            for part in [p for p in self._opened if isinstance(p, kind)]:
                part.close()
                self._opened.remove(part)
        while self._opened:
            self._opened.pop().close()


@pytest.fixture
def rig(tmp_path: Path, jack_server: str) -> Iterator[Rig]:
    made = Rig(tmp_path, FADER)
    yield made
    made.close()


def test_the_engine_reads_the_surface_port_itself(rig: Rig) -> None:
    assert isinstance(rig.surface.input, EngineInput)
    assert rig.surface.input.full_name.endswith(":midi_in")
    assert rig.surface.input.connected == rig.sender.port


def test_a_cc_lands_in_the_block_of_the_cycle_that_carried_it(rig: Rig) -> None:
    raws = [127, 0, 127, 64, 0]
    events = rig.send_and_wait(*(cc(0, 7, raw) for raw in raws), gap=0.2)
    blocks = rig.log.blocks
    previous = -40.0
    for event, raw in zip(events, raws, strict=True):
        wanted = -40.0 + 40.0 * raw / 127
        if event is None:
            previous = wanted
            continue
        here = rig.log.at(event[0])
        assert blocks[here][1][0] == pytest.approx(wanted)           # the block of that cycle ran with it
        assert blocks[here - 1][1][0] == pytest.approx(previous)     # the block before did not
        # ... and it is heard from that block: the glide starts in it, after a settled block
        level_before, level = blocks[here - 1][2], blocks[here][2]
        assert blocks[here - 2][2] == pytest.approx(level_before, rel=2e-2)   # (near) settled
        assert abs(level - level_before) > 0.05 * abs(10 ** (wanted / 20) - 10 ** (previous / 20)) * LEVEL
        assert (level - level_before) * (wanted - previous) > 0       # the way the fader moved
        previous = wanted


def test_a_macro_and_a_momentary_note_land_in_the_same_block_as_their_message(rig: Rig) -> None:
    events = rig.send_and_wait(bend(1, 16383), note(0, 36, 100), bend(1, 0), [0x80, 36, 0], gap=0.05)
    blocks = rig.log.blocks
    wanted = [{1: 1.0, 2: 0.0}, {3: 1.0}, {1: -1.0, 2: -60.0}, {3: 0.0}]
    for event, values in zip(events, wanted, strict=True):
        if event is None:
            continue
        here = rig.log.at(event[0])
        for column, value in values.items():
            assert blocks[here][1][column] == pytest.approx(value)
            assert blocks[here - 1][1][column] != pytest.approx(value)


def test_stateful_controls_stay_on_the_surface_path(rig: Rig) -> None:
    inlet = rig.surface.input.inlet
    routed = inlet.routed
    rig.send_and_wait(cc(0, 9, 64))                 # pickup: the pan is at 0, its position 0.5: met
    rig.send_and_wait(cc(0, 9, 127))
    wait_for(lambda: rig.session.registry.get("tracks/other/pan") == 1.0, what="the pickup control")
    rig.send_and_wait(cc(0, 10, 1), cc(0, 10, 1))    # a signed-bit encoder: two ticks up
    wait_for(lambda: rig.session.registry.get("tracks/other/gain_db") > -20.0, what="the encoder")
    assert inlet.routed == routed                   # none of them went through the engine's routes
    assert rig.surface.counts.good >= 4


def test_an_applied_move_is_announced_once_with_its_source_and_never_echoed(tmp_path: Path, jack_server: str) -> None:
    rig = Rig(tmp_path, FADER, feedback=True)
    try:
        assert rig.receiver is not None
        changes: list[Change] = []
        rig.session.registry.observe(changes.append, "tracks/dc/gain_db")
        wait_for(lambda: len(rig.receiver.events) >= 1, what="the first redraw")
        time.sleep(0.3)                              # the redraws after a connection settles
        rig.receiver.take()
        rig.send_and_wait(cc(0, 7, 100))
        wait_for(lambda: changes, what="the change announced")
        assert [(c.value, c.source) for c in changes] == [(pytest.approx(-40 + 40 * 100 / 127), "midi:midi")]
        rig.session.set("tracks/dc/gain_db", -20.0)  # from the API: the fader follows, and nothing came before
        assert wait_for(rig.receiver.take, what="feedback") == [bytes(cc(0, 7, 64))]
        assert rig.session.document["tracks"]["dc"]["gain_db"] == -20.0
    finally:
        rig.close()


def test_learn_takes_the_control_from_the_engine_until_disarmed(rig: Rig) -> None:
    learner = rig.surface.arm_learn()
    rig.send_and_wait(cc(0, 7, 127))
    assert rig.log.blocks[-1][1][0] == -40.0        # armed: the fader moved nothing
    assert learner.wait(5.0)
    rig.surface.disarm_learn()
    event = rig.send_and_wait(cc(0, 7, 127))[0]
    assert rig.log.blocks[-1][1][0] == 0.0
    if event is not None:
        assert rig.log.blocks[rig.log.at(event[0])][1][0] == 0.0


def test_moves_sent_while_the_engines_callback_is_held_up_land_late_and_none_is_lost(rig: Rig) -> None:
    """The gate keeps the events of the cycles the engine's Python callback missed: here the
    GIL is held for 0.3 s (a C call through ctypes.PyDLL keeps it) while the sender goes on."""
    inlet = rig.surface.input.inlet
    routed, good, first = inlet.routed, rig.surface.counts.good, len(rig.log.blocks)
    raws = [(i * 37) % 128 for i in range(150)]
    rig.sender.begin(*(cc(0, 7, raw) for raw in raws), gap=0.002)
    time.sleep(0.02)
    hold = ctypes.PyDLL(None).usleep
    hold.argtypes = [ctypes.c_uint]
    hold(300_000)
    rig.sender.finish()
    wait_for(lambda: inlet.routed - routed == len(raws), what=f"{len(raws)} moves applied by the engine")
    wait_for(lambda: rig.surface.counts.good - good == len(raws), what="every move seen by the surface")
    # the tap notes a block at its end, after its moves were applied: wait for the block itself
    wait_for(lambda: rig.log.blocks[-1][1][0] == pytest.approx(-40.0 + 40.0 * raws[-1] / 127),
             what="the last move in the blocks")
    frames = np.diff([block[0] for block in rig.log.blocks[first:]])
    assert frames.max() >= 50 * rig.engine.block_size      # the callback did miss those cycles
    assert inlet.lost == 0


@pytest.mark.parametrize(("frame", "other", "later"), [
    (5, 5, False), (6, 5, True), (4, 5, False),
    (0, 0xFFFFFFFF, True),        # JACK's 32-bit frame counter wrapped: still later
    (0xFFFFFFFF, 0, False),
])
def test_a_kept_events_cycle_is_compared_across_the_frame_counters_wrap(frame: int, other: int, later: bool) -> None:
    from host.live.midi_inlet import _after

    assert _after.py_func(frame, other) is later
