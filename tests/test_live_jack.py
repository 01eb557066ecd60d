"""The live engine against a real JACK server: each test runs on the run's ``--no-realtime``
dummy server and on its realtime one (``jackd -R``; see the ``jack_server`` fixture).

A separate JACK client in the test records mixhost's output ports (and
plays into its input ports).  The recording is lined up with the offline
render period by period: mixhost's blocks start on JACK cycles, so each
sounding cycle it delivered must be, bit for bit, the render's audio for its
place on the timeline (both are the float64 mix rounded to float32), in
order.  Only cycles JACK reports as dropped (xruns) may be missing or differ.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jack  # JACK-Client is a test dependency
import numpy as np
import pytest
import soundfile as sf
from test_live_helpers import SR, make_session, render

import host
from host.cli.live import status_line
from host.live import libjack
from host.live.backends.base import RT_PRIORITY
from host.live.engine import LiveEngine
from host.live.scheduling import may_raise
from host.pm_qos import DEVICE


class Recorder:
    """A JACK client with two inputs recording into a preallocated buffer, and one output playing a signal."""

    def __init__(self, seconds: float) -> None:
        self.client = jack.Client(f"capture-{os.getpid()}", no_start_server=True)
        self.inputs = [self.client.inports.register(f"in_{i}") for i in (1, 2)]
        self.output = self.client.outports.register("out")
        self.audio = np.zeros((2, int(seconds * SR)), dtype=np.float32)
        self.play_signal = np.zeros(0, dtype=np.float32)
        self.frames = 0
        self.played = 0          # frames since activation: the timeline play_signal is played on
        self.record_start = 0    # ... and where on it audio[:, 0] was recorded
        self.recording = False
        self.xruns = 0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    def _process(self, frames: int) -> None:
        cycle_start, self.played = self.played, self.played + frames
        if self.play_signal.size:  # played on the client's own timeline: frame n is signal[n % size]
            index = (np.arange(frames) + cycle_start) % self.play_signal.size
            self.output.get_array()[:] = self.play_signal[index]
        # record from the first cycle something is connected (a command starting up takes a while)
        if not self.recording or not self.inputs[0].number_of_connections:
            return
        if self.frames == 0:
            self.record_start = cycle_start
        stop = min(self.frames + frames, self.audio.shape[1])
        count = stop - self.frames
        for channel, port in enumerate(self.inputs):
            self.audio[channel, self.frames:stop] = port.get_array()[:count]
        self.frames = stop

    def listen_to(self, left: str, right: str) -> None:
        for port, mine in zip((left, right), self.inputs, strict=True):
            self.client.connect(port, mine.name)

    def new_ports(self, before: set[str], *, is_input: bool = False) -> list[str]:
        """The names of the audio ports registered since ``before``, sorted."""
        found = self.client.get_ports(is_audio=True, is_input=is_input, is_output=not is_input)
        return sorted(p.name for p in found if p.name not in before)

    def all_ports(self) -> set[str]:
        return {p.name for p in self.client.get_ports(is_audio=True)}

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


@pytest.fixture
def recorder(jack_server: str) -> Iterator[Recorder]:
    try:
        rec = Recorder(6.0)
    except jack.JackError as error:
        pytest.fail(f"JACK server {jack_server}: {error}", pytrace=False)
    yield rec
    rec.close()


BACKENDS = ["jack", "jack-ahead", "sounddevice"]
AHEAD = 3   # periods rendered ahead in the "jack-ahead" runs


def _engine(session: host.Session, backend: str, recorder: Recorder) -> LiveEngine:
    """mixhost's own JACK client (its process callback in Python, or compiled and fed by blocks
    rendered ahead), or the PortAudio backend on PortAudio's JACK host API, its one device
    here, chosen by name as `--device` takes it (PortAudio lists the JACK server as "system")."""
    if backend == "sounddevice":
        return LiveEngine(session, recorder.client.blocksize, "sounddevice", device="system")
    ahead = AHEAD if backend == "jack-ahead" else 0
    return LiveEngine(session, None, "jack", client_name=f"mixhost-test-{os.getpid()}", auto_connect=False,
                      ahead=ahead)


def _wait(condition, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _pad_stems(folder: Path, seconds: float) -> None:
    """Silence before the music: the cycles before a command's ports connect are silent in both."""
    for stem in (folder / "stems").glob("*.wav"):
        data, rate = sf.read(stem, always_2d=True, dtype="float32")
        pad = np.zeros((int(seconds * rate), data.shape[1]), dtype=np.float32)
        sf.write(stem, np.concatenate([pad, data]), rate, subtype="FLOAT")


def _assert_matches_render(captured: np.ndarray, offline: np.ndarray, period: int, dropped: int) -> None:
    """Every sounding reference period arrives, bit for bit and in order, except at most
    ``dropped`` (the cycles JACK reported as dropped); nothing else sounds."""
    reference = offline.astype(np.float32)
    sounding = [i for i in range(reference.shape[1] // period)
                if np.abs(reference[:, i * period:(i + 1) * period]).max() > 0]
    index = {reference[:, i * period:(i + 1) * period].tobytes(): i for i in sounding}
    assert len(index) == len(sounding)            # each sounding period is unique: a match says where
    matched: list[int] = []
    last_match = 0
    strays: list[int] = []                         # sounding captured periods that are no reference period
    for k in range(captured.shape[1] // period):
        piece = np.ascontiguousarray(captured[:, k * period:(k + 1) * period])
        if not piece.any():
            continue
        found = index.get(piece.tobytes())
        if found is None or (matched and found <= matched[-1]):
            strays.append(k)
        else:
            matched.append(found)
            last_match = k
    # after the last match come only filter tails the render cut off at its end
    stray = sum(k < last_match for k in strays)
    missing = len(sounding) - len(matched)
    assert len(sounding) > 100
    assert missing <= dropped and stray <= dropped, (missing, stray, dropped)


def _record_playback(engine: LiveEngine, recorder: Recorder, frames: int) -> list[str]:
    """Play the session from the start while the recorder records the engine's outputs, until
    the transport is a quarter second past ``frames``; returns the output ports' names."""
    before = recorder.all_ports()
    engine.open()
    try:
        outputs = recorder.new_ports(before)
        engine.start(play=False)
        recorder.listen_to(*outputs)
        recorder.recording = True
        engine.transport.play()
        _wait(lambda: engine.transport.position >= frames + SR // 4)
        recorder.recording = False
    finally:
        engine.close()
    return outputs


@pytest.mark.parametrize("backend", BACKENDS)
def test_live_output_matches_the_offline_render(tmp_path: Path, recorder: Recorder, backend: str) -> None:
    path = make_session(tmp_path, 2.0)
    offline = render(path, tmp_path / "out")
    engine = _engine(host.load_session(path), backend, recorder)
    outputs = _record_playback(engine, recorder, offline.shape[1])
    assert len(outputs) == 2, outputs                   # the backend's client registered its outputs
    assert engine.error is None and engine.underruns == 0
    captured = recorder.audio[:, :recorder.frames]
    _assert_matches_render(captured, offline, engine.block_size, max(engine.xruns, recorder.xruns))
    # each callback is timed from the start of its JACK period: the periods follow one another
    # a period apart on the clock the callbacks were timed with
    timing = engine.callback_timing()
    assert len(timing.late) > 100 and (timing.late >= 0).all()
    assert np.median(timing.late) < 0.5 * engine.period_s
    period_starts = np.diff(timing.starts - timing.late)
    assert np.median(period_starts) == pytest.approx(engine.period_s, rel=0.02)


@pytest.mark.parametrize("options", [[], ["--ahead", "3", "--allow-cpu-sleep"]], ids=["callback", "ahead"])
def test_the_live_command_on_jack_matches_the_offline_render(tmp_path: Path, recorder: Recorder,
                                                             options: list[str]) -> None:
    """`mixhost live SESSION --audio jack` as a user runs it, heard by the test's own JACK client."""
    path = make_session(tmp_path, 2.0)
    _pad_stems(tmp_path, 0.25)
    offline = render(path, tmp_path / "out")
    name = f"mixhost-cmd-{os.getpid()}"
    recorder.recording = True
    done = subprocess.run(
        [sys.executable, "-m", "host", "live", str(path), "--audio", "jack", "--name", name,
         "--connect", *(port.name for port in recorder.inputs), "--no-status", *options],
        capture_output=True, text=True, timeout=120)
    recorder.recording = False
    assert done.returncode == 0, done.stderr
    summary = re.search(r"played ([0-9.]+) s, xruns (\d+)", done.stderr)
    assert summary is not None, done.stderr
    assert float(summary.group(1)) >= offline.shape[1] / SR   # it played to the end by itself
    assert "underruns" not in done.stderr
    # the PM QoS request (host.pm_qos): held, or said why not, unless the user allowed sleep
    allowed = "--allow-cpu-sleep" in options
    said = "CPU sleep states off" if os.access(DEVICE, os.W_OK) else "CPU sleep states stay on"
    assert (said in " ".join(done.stderr.split())) is not allowed, done.stderr  # err.print wraps lines
    captured = recorder.audio[:, :recorder.frames]
    _assert_matches_render(captured, offline, recorder.client.blocksize,
                           max(int(summary.group(2)), recorder.xruns))


@pytest.mark.parametrize("backend", BACKENDS)
def test_live_input_is_processed_by_its_chain(tmp_path: Path, recorder: Recorder, backend: str) -> None:
    """mixhost as an insert host, fed a tone by the test's client: on JACK the track's input
    names that client's port (mixhost connects it); through PortAudio, `input: 1` is the device's
    first input channel, PortAudio's first JACK input port (the test connects it)."""
    source = "1" if backend == "sounddevice" else f"capture-{os.getpid()}:out"
    session = _mic_session(tmp_path, source)
    t = np.arange(SR) / SR
    recorder.play_signal = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    inputs, outputs = _record_insert(_engine(session, backend, recorder), recorder,
                                     connect_input=backend == "sounddevice")
    assert len(inputs) == 1 and len(outputs) == 2, (inputs, outputs)  # one input channel asked for
    tail = recorder.audio[:, SR // 2:SR].astype(np.float64)
    rms_db = 20 * np.log10(np.sqrt(np.mean(tail[0] ** 2)) / (0.5 / np.sqrt(2)))
    # -6 dB fader, -4 dB trim, hard left under the -3 dB law: +0 dB on the left, silence on the right
    assert rms_db == pytest.approx(-10.0, abs=0.05)
    assert np.sqrt(np.mean(tail[1] ** 2)) < 1e-6


def _record_insert(engine: LiveEngine, recorder: Recorder, *, connect_input: bool = False,
                   before_listening: Callable[[list[str], list[str]], None] | None = None
                   ) -> tuple[list[str], list[str]]:
    """Run ``engine`` as an insert host (the transport stopped) while the recorder plays into it
    and records a second of its output; returns the ports it registered (inputs, outputs)."""
    before = recorder.all_ports()
    engine.open()
    try:
        engine.start(play=False)
        inputs, outputs = recorder.new_ports(before, is_input=True), recorder.new_ports(before)
        if connect_input:   # PortAudio does not connect its inputs: the test does
            recorder.client.connect(recorder.output.name, inputs[0])
        if before_listening is not None:
            before_listening(inputs, outputs)
        recorder.listen_to(*outputs)
        recorder.recording = True
        _wait(lambda: recorder.frames >= SR)
    finally:
        engine.close()
    assert engine.error is None
    return inputs, outputs


def _mic_session(tmp_path: Path, source: str, lookahead_ms: float = 0.0) -> host.Session:
    """A live-input track (-6 dB fader, a -4 dB trim, hard left), the stems muted; with
    ``lookahead_ms``, a compressor too, that delays the audio and never acts (ratio 1)."""
    chain = "{type: gain, id: trim, params: {gain_db: -4}}"
    if lookahead_ms:
        chain += f", {{type: compressor, lookahead_ms: {lookahead_ms}, params: {{ratio: 1}}}}"
    path = make_session(tmp_path, 1.0, extra_tracks=(
        f"  mic:\n    input: {source}\n    gain_db: -6\n    pan: -1\n    chain: [{chain}]\n"))
    session = host.load_session(path)
    session.set("tracks/tone/mute", True)
    session.set("tracks/noise/mute", True)
    return session


@pytest.mark.parametrize(("backend", "lookahead_ms"), [("jack", 0.0), ("jack-ahead", 0.0), ("jack-ahead", 1.0)])
def test_live_input_comes_out_the_periods_rendered_ahead_later(tmp_path: Path, recorder: Recorder,
                                                                backend: str, lookahead_ms: float) -> None:
    """A click every 100 ms, off the period grid, through the insert: each comes out scaled by
    exactly the chain's -10 dB, and later by the same whole number of periods: 0 or 1 (the
    test's client and mixhost feed each other, so JACK breaks the loop at one of them), plus
    the periods rendered ahead and the chain's lookahead: the latency mixhost reports on its ports."""
    spacing, offset = SR // 10, 37
    clicks = np.zeros(SR, dtype=np.float32)
    clicks[offset::spacing] = 0.5
    recorder.play_signal = clicks
    engine = _engine(_mic_session(tmp_path, f"capture-{os.getpid()}:out", lookahead_ms), backend, recorder)
    ahead = AHEAD if backend == "jack-ahead" else 0
    own = ahead * recorder.client.blocksize + round(lookahead_ms * SR / 1000)

    def reported_latency(inputs: list[str], outputs: list[str]) -> None:
        # What mixhost tells JACK, and so a DAW: its outputs are `own` frames later than its
        # input (JACK recomputes latencies after each connection, in its own time).  Read before
        # the test's client listens: then the two clients feed each other, and the sums go round.
        _wait(lambda: _latency(recorder, inputs[0], libjack.PLAYBACK_LATENCY) == (own, own), timeout_s=5)
        assert [_latency(recorder, name, libjack.CAPTURE_LATENCY) for name in outputs] == [(own, own)] * 2

    _record_insert(engine, recorder, before_listening=reported_latency)
    left, right = recorder.audio[:, :recorder.frames]
    heard = np.flatnonzero(np.abs(left) > 1e-3)
    assert len(heard) >= 8 and not right.any()
    delays = {int(d) for d in (recorder.record_start + heard - offset) % spacing}
    period = engine.block_size
    assert len(delays) == 1 and delays.pop() - own in (0, period)
    np.testing.assert_allclose(left[heard], 0.5 * 10 ** (-10 / 20), rtol=1e-6)


def _latency(recorder: Recorder, name: str, mode: int) -> tuple[int, int]:
    port = recorder.client.get_port_by_name(name)
    return libjack.latency_range(int(jack._ffi.cast("uintptr_t", port._ptr)), mode)


def test_a_render_that_falls_behind_is_a_counted_dropout(tmp_path: Path, recorder: Recorder) -> None:
    """Rendering ahead, one block stalls for longer than the blocks ahead last: the cycles
    with no block play silence and count as xruns, and every other period still arrives
    bit for bit, in order (the render skips what was due while it stalled)."""
    path = make_session(tmp_path, 2.0)
    offline = render(path, tmp_path / "out")
    engine = _engine(host.load_session(path), "jack-ahead", recorder)
    stalls = [200]   # the block number to stall at

    def stall(out: np.ndarray, position: int, rolling: bool) -> None:
        if rolling and stalls and position >= stalls[0] * engine.block_size:
            stalls.clear()
            time.sleep((AHEAD + 3) * engine.period_s)

    engine.taps.append(stall)
    _record_playback(engine, recorder, offline.shape[1])
    assert engine.error is None and not stalls
    underruns = engine.backend.ring.underruns
    assert underruns >= 3 and engine.xruns >= underruns
    assert f"xruns {engine.xruns} ({underruns} late renders)" in status_line(engine)
    captured = recorder.audio[:, :recorder.frames]
    _assert_matches_render(captured, offline, engine.block_size, engine.xruns + recorder.xruns)
    with pytest.raises(AssertionError):   # and the dropout is there to hear
        _assert_matches_render(captured, offline, engine.block_size, 0)


@pytest.mark.parametrize("ahead", [0, AHEAD])
def test_follow_transport(tmp_path: Path, recorder: Recorder, ahead: int) -> None:
    """mixhost follows a DAW's start, locate and stop; rendering ahead, it renders the frames
    the transport will have reached when they are heard."""
    path = make_session(tmp_path, 3.0)
    name = f"mixhost-test-{os.getpid()}"
    engine = LiveEngine(host.load_session(path), None, "jack", client_name=name, auto_connect=False,
                        follow_transport=True, ahead=ahead)
    engine.open()
    client = recorder.client
    try:
        client.transport_stop()
        client.transport_frame = 0
        engine.start()
        time.sleep(0.2)
        assert not engine.clock.rolling               # play was not pressed on the JACK side
        client.transport_frame = SR                   # a DAW locates to 1 s and starts
        client.transport_start()
        _wait(lambda: engine.clock.rolling and engine.transport.position > SR + SR // 4)
        ahead_frames = engine.transport.position - client.transport_frame
        assert abs(ahead_frames - ahead * engine.block_size) <= 2 * engine.block_size
        client.transport_stop()
        _wait(lambda: not engine.clock.rolling)
        held = engine.transport.position
        time.sleep(0.2)
        assert engine.transport.position == held
    finally:
        client.transport_stop()
        engine.close()


def test_cycles_a_held_callback_missed_are_counted(tmp_path: Path, recorder: Recorder) -> None:
    """One Python callback takes two and a half periods: JACK runs the cycles it overlapped
    without mixhost, and the frame counter each callback read (jack_get_cycle_times) says
    how many; every other callback began in the cycle after the one before."""
    engine = _engine(host.load_session(make_session(tmp_path, 2.0)), "jack", recorder)
    stalls = [100]
    began: list[float] = []

    def stall(out: np.ndarray, position: int, rolling: bool) -> None:
        if rolling and stalls and position >= stalls[0] * engine.block_size:
            stalls.clear()
            began.append(time.monotonic())
            time.sleep(2.5 * engine.period_s)

    engine.taps.append(stall)
    engine.open()
    try:
        engine.start()
        _wait(lambda: engine.transport.position >= SR)
    finally:
        engine.close()
    assert not stalls and engine.error is None
    timing = engine.callback_timing()
    block = engine.block_size
    steps = np.diff(timing.cycles) // block
    assert len(steps) > 300 and (timing.cycles >= 0).all() and (np.diff(timing.cycles) % block == 0).all()
    stall_began, = began
    held = int(np.argmax(timing.durations))
    assert timing.durations[held] > 2.5 * engine.period_s
    assert steps[held] >= 2                    # the next callback came two or more cycles on
    assert timing.missed_cycles(block) >= steps[held] - 1
    assert engine.xruns >= 1
    # JACK's news of the xrun came after the hold began, and is kept with its time
    told = [t - stall_began for t in engine.backend.xrun_times if t >= stall_began]
    assert told and min(told) < 1.0


@pytest.mark.parametrize(("backend", "helpers"), [
    ("jack", ["mixhost-reader"]),
    ("jack-ahead", ["mixhost-reader", "mixhost-render"]),
])
def test_under_a_realtime_server_the_threads_the_audio_waits_for_are_realtime_too(
        tmp_path: Path, recorder: Recorder, jack_server: str, backend: str, helpers: list[str]) -> None:
    """Under `jackd -R` the disk reader (it takes the GIL the Python callback needs) and the
    render thread of --ahead run SCHED_FIFO 5 under JACK's process thread, so no ordinary
    process keeps them from the CPU while the audio waits on them.  Under --no-realtime the
    reader follows JACK's thread where mixhost raises that itself; --ahead's stay at normal
    priority (its callback never waits for the GIL, and a realtime render thread would take
    the CPU from the server itself).  The compiled --ahead callback times its entry in every cycle."""
    engine = _engine(host.load_session(make_session(tmp_path, 2.0)), backend, recorder)
    engine.open()
    try:
        engine.start()
        _wait(lambda: engine.transport.position >= SR // 2)
        threads = {t.name: t.native_id for t in threading.enumerate() if t.name in helpers}
        seen = {name: (os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority)
                for name, tid in threads.items()}
        client = int(jack._ffi.cast("uintptr_t", engine.backend.client._ptr))
        jack_priority = libjack.client_real_time_priority(ctypes.c_void_p(client))
        entries = engine.backend.ring.entry_timing() if backend == "jack-ahead" else None
    finally:
        engine.close()
    realtime = jack_server == os.environ.get("MIXHOST_JACK_SERVER_RT")
    assert recorder.client.realtime is realtime and sorted(seen) == sorted(helpers)
    if realtime:
        assert jack_priority > 5 and seen == {name: (os.SCHED_FIFO, jack_priority - 5) for name in helpers}
        assert engine.reader_scheduling.startswith("SCHED_FIFO")
    elif backend == "jack" and may_raise(RT_PRIORITY):   # JACK's thread raised by mixhost: its helpers too
        assert jack_priority < 0 and seen == {name: (os.SCHED_FIFO, RT_PRIORITY - 5) for name in helpers}
        assert engine.reader_scheduling.startswith("SCHED_FIFO")
    else:
        assert jack_priority < 0 and seen == {name: (os.SCHED_OTHER, 0) for name in helpers}
        assert engine.reader_scheduling.startswith("normal priority")
    if entries is not None:
        counters, frames_late = entries
        assert len(counters) > 100 and (np.diff(counters) % engine.block_size == 0).all()
        assert np.median(frames_late) < engine.block_size / 2


def test_a_surface_thread_is_scheduled_under_the_disk_reader_and_its_own_threads_are_not(
        tmp_path: Path, jack_server: str) -> None:
    """A surface's thread that runs Python while the audio plays (the browser mixer's server)
    asks the engine: while JACK's thread is realtime (`jackd -R`, or raised by mixhost under
    --no-realtime) it runs SCHED_FIFO one step under the disk reader, and a thread it starts
    afterwards (an event loop's executor) is back at normal priority; else at normal priority."""
    engine = LiveEngine(host.load_session(make_session(tmp_path, 1.0)), None, "jack",
                        client_name=f"mixhost-test-{os.getpid()}", auto_connect=False)
    seen: dict[str, tuple[int, int]] = {}
    asked, done = threading.Event(), threading.Event()

    def policy() -> tuple[int, int]:
        return os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK, os.sched_getparam(0).sched_priority

    def child() -> None:
        seen["child"] = policy()

    def surface_thread() -> None:
        asked.wait(10)
        seen["surface"] = policy()
        started = threading.Thread(target=child)
        started.start()
        started.join()
        done.set()

    thread = threading.Thread(target=surface_thread)
    engine.open()
    try:
        thread.start()
        said = engine.schedule_helper(thread.native_id)
        asked.set()
        assert done.wait(10)
        client = int(jack._ffi.cast("uintptr_t", engine.backend.client._ptr))
        jack_priority = libjack.client_real_time_priority(ctypes.c_void_p(client))
    finally:
        thread.join()
        engine.close()
    if jack_server == os.environ.get("MIXHOST_JACK_SERVER_RT"):
        assert seen == {"surface": (os.SCHED_FIFO, jack_priority - 6), "child": (os.SCHED_OTHER, 0)}
        assert said.startswith("SCHED_FIFO")
    elif may_raise(RT_PRIORITY):    # under JACK's thread as mixhost raises it
        assert seen == {"surface": (os.SCHED_FIFO, RT_PRIORITY - 6), "child": (os.SCHED_OTHER, 0)}
        assert said.startswith("SCHED_FIFO")
    else:
        assert seen == {"surface": (os.SCHED_OTHER, 0), "child": (os.SCHED_OTHER, 0)}
        assert said.startswith("normal priority")


def _policies(pid: int) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """A running process's main thread's (policy, priority), and its other threads'."""
    def of(tid: int) -> tuple[int, int]:
        return os.sched_getscheduler(tid) & ~os.SCHED_RESET_ON_FORK, os.sched_getparam(tid).sched_priority

    others = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        if int(task.name) != pid:
            with contextlib.suppress(OSError):   # a thread that ended meanwhile
                others.append(of(int(task.name)))
    return of(pid), others


def test_the_live_commands_python_threads_run_realtime_under_a_realtime_server(
        tmp_path: Path, jack_server: str) -> None:
    """`mixhost live --osc` under `jackd -R`: the control loop (the main thread) and the OSC
    surface's thread hold the GIL the callback needs, so they run SCHED_FIFO while it plays, one
    step under the disk reader.  Under --no-realtime mixhost raises JACK's thread itself where it
    may, and its helpers with it (else the raised callback waits on a preempted GIL holder)."""
    path = make_session(tmp_path, 30.0)
    process = subprocess.Popen(
        [sys.executable, "-m", "host", "live", str(path), "--audio", "jack", "--no-connect", "--no-status",
         "--name", f"mixhost-sched-{os.getpid()}", "--osc", "--osc-port", "0", "--no-zeroconf",
         "--duration", "20"], stderr=subprocess.PIPE, text=True)
    try:
        said: list[str] = []
        assert process.stderr is not None
        for line in process.stderr:
            said.append(line)
            if "playing" in line:
                break
        else:
            pytest.fail("mixhost live did not start: " + "".join(said))
        time.sleep(0.5)    # the control loop schedules itself once the audio runs
        main, others = _policies(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    realtime = sorted(priority for policy, priority in others if policy == os.SCHED_FIFO)
    if jack_server == os.environ.get("MIXHOST_JACK_SERVER_RT") or may_raise(RT_PRIORITY):
        assert main[0] == os.SCHED_FIFO, (main, others)
        # JACK's thread, the disk reader one step under... and the OSC thread beside the main one
        assert realtime.count(main[1]) == 1 and realtime.count(main[1] + 1) == 1, (main, realtime)
    else:   # no right to realtime scheduling: nothing of mixhost's runs it
        assert main == (os.SCHED_OTHER, 0), (main, others)
        assert realtime == [], (main, realtime)
