"""The live engine without a sound card: transport, streaming, control hand-off, safety, recording."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_live_helpers import SR, Capture, make_session, render, run_blocks, wait_position

import host
from host.audio_io import FileSource, probe
from host.errors import ParameterError
from host.live.engine import TOUCH_HOLD_S, LiveEngine
from host.live.recorder import AutomationRecorder
from host.live.streaming import SourceClock, StreamingSource, StreamReader
from host.live.transport import Transport, next_position
from host.session import yaml_doc

BLOCK = 128


# -- transport ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "loop", "frames", "expected", "after"), [
    (0, None, 128, [(0, 128)], 128),
    (900, (500, 1000), 256, [(900, 100), (500, 156)], 656),
    (872, (500, 1000), 128, [(872, 128)], 500),          # ends exactly on the loop end: wraps
    (1200, (500, 1000), 128, [(1200, 128)], 1328),       # past the loop: plays through
])
def test_transport_segments_split_at_loop_wraps(start: int, loop: tuple[int, int] | None, frames: int,
                                                expected: list[tuple[int, int]], after: int) -> None:
    transport = Transport(SR, min_loop=128)
    transport.locate(start)
    if loop:
        transport.set_loop(*loop)
    transport.play()
    assert transport.apply_pending()
    segments: list[tuple[int, int]] = []
    transport.segments(frames, segments)
    assert segments == expected
    assert transport.position == after
    assert next_position(start, frames, loop) == after


def test_transport_commands_wait_for_block_start() -> None:
    transport = Transport(SR)
    transport.play()
    transport.locate(4800)
    assert not transport.rolling and transport.position == 0  # nothing happens between blocks
    assert transport.apply_pending()
    assert transport.rolling and transport.position == 4800 and transport.generation == 1


# -- streaming ------------------------------------------------------------------------------------
def _stream(tmp_path: Path, capacity: int = SR) -> tuple[StreamingSource, SourceClock, np.ndarray]:
    make_session(tmp_path, 1.0)
    info = probe(tmp_path / "stems" / "noise.wav")
    reference = np.zeros((2, info.frames))
    FileSource(info, SR).read(reference)
    clock = SourceClock(rolling=True)
    return StreamingSource(FileSource(info, SR), clock, capacity), clock, reference


@pytest.mark.parametrize("loop", [None, (10_000, 13_000)])
def test_streaming_follows_locates_and_loops(tmp_path: Path, loop: tuple[int, int] | None) -> None:
    source, clock, reference = _stream(tmp_path)
    reader = StreamReader([source], prefill=8192)
    reader.start()
    try:
        clock.generation, clock.loop = 1, loop
        source.request(1, 9_000, loop)
        assert reader.wait_ready()
        position, block = 9_000, np.zeros((2, BLOCK))
        for _ in range(100):  # 12 800 frames: the loop wraps four times
            while source.buffered < BLOCK:
                time.sleep(0.001)
            clock.position = position
            source.read(block)
            expected = np.stack([reference[:, next_position(position, k, loop)] for k in range(BLOCK)], axis=1)
            np.testing.assert_array_equal(block, expected)
            position = next_position(position, BLOCK, loop)
        assert source.underruns == 0
    finally:
        reader.stop()


def test_streaming_underrun_is_silence_then_catches_up_in_time(tmp_path: Path) -> None:
    source, clock, reference = _stream(tmp_path, capacity=4096)
    source.service(prefill=4096)          # the reader served gen 0 once, then stalls
    clock.generation = 0
    block = np.zeros((2, 3000))
    clock.position = 0
    source.read(block)
    np.testing.assert_array_equal(block, reference[:, :3000])
    clock.position = 3000
    source.read(block)                    # 1096 frames left in the ring
    np.testing.assert_array_equal(block[:, :1096], reference[:, 3000:4096])
    assert not block[:, 1096:].any()
    assert source.underruns == 1 and source.underrun_frames == 3000 - 1096
    source.service(prefill=4096)          # the reader catches up
    clock.position = 6000
    source.read(block[:, :1000])
    np.testing.assert_array_equal(block[:, :1000], reference[:, 6000:7000])  # in step with the timeline


# -- the engine --------------------------------------------------------------------------------------
@pytest.fixture
def session_path(tmp_path: Path) -> Path:
    return make_session(tmp_path, 1.0, block_size=BLOCK)


def _engine(path: Path, **options: object) -> LiveEngine:
    engine = LiveEngine(host.load_session(path), BLOCK, "none", **options)  # type: ignore[arg-type]
    engine.open()
    return engine


def test_live_blocks_equal_offline_render(session_path: Path, tmp_path: Path) -> None:
    engine = _engine(session_path)
    try:
        engine.transport.play()
        live = run_blocks(engine, SR // BLOCK + 2)
    finally:
        engine.close()
    offline = render(session_path, tmp_path / "out")
    n = offline.shape[1]
    assert engine.graph is not None and engine.graph.latency == 0
    assert np.abs(offline).max() > 0.1
    np.testing.assert_allclose(live[:, :n], offline, atol=1e-7)  # float32 file quantisation


def test_a_set_lands_in_the_next_block_and_is_timed(session_path: Path) -> None:
    engine = _engine(session_path)
    session = engine.session
    try:
        engine.transport.play()
        run_blocks(engine, 4)
        session.set("tracks/noise/gain_db", -20.0)
        assert engine.session.registry.values[session.registry.param("tracks/noise/gain_db").slot] == -6.0
        run_blocks(engine, 1)
        assert session.get("tracks/noise/gain_db") == -20.0
        latencies = engine.handoff.latency_samples()
        assert len(latencies) == 1 and 0.0 <= latencies[0] < 1.0
    finally:
        engine.close()


def test_sets_from_many_threads_all_arrive(session_path: Path) -> None:
    engine = _engine(session_path)
    session = engine.session
    addresses = ["tracks/tone/gain_db", "tracks/noise/gain_db", "tracks/tone/comp/makeup_db", "tracks/tone/comp/threshold_db"]
    try:
        engine.start()

        def mover(address: str) -> None:
            for value in np.linspace(-10.0, -0.5, 200):
                session.set(address, float(value))

        threads = [threading.Thread(target=mover, args=(a,)) for a in addresses]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_position(engine, 0.2)
        time.sleep(0.05)
    finally:
        engine.close()
    assert engine.handoff.latency_count == 800
    assert (engine.handoff.latency_samples() >= 0).all()   # timed from the set to when its block took it
    for address in addresses:
        assert session.get(address) == -0.5


def test_ceiling_holds_0_dbfs(session_path: Path) -> None:
    engine = _engine(session_path)
    try:
        engine.session.set("tracks/tone/gain_db", 24.0)
        engine.session.set("tracks/noise/gain_db", 24.0)
        engine.transport.play()
        out = run_blocks(engine, 40)
    finally:
        engine.close()
    assert np.abs(out).max() == pytest.approx(1.0)
    assert np.isclose(np.abs(out), 1.0).mean() > 0.05  # it really was clipping


@pytest.mark.parametrize("fault", ["nan", "stage-failed"])
def test_guard_mutes_the_offending_track_and_the_rest_plays_on(session_path: Path, tmp_path: Path,
                                                               fault: str) -> None:
    engine = _engine(session_path)
    assert engine.graph is not None
    tone = next(n for n in engine.graph.tracks if n.name == "tone")
    stage = engine.session.stages["tracks/tone"][-1].stage  # the last stage: nothing after it cleans up
    original = stage.process
    broken = {"on": False}

    def faulty(block: np.ndarray) -> np.ndarray:
        if broken["on"]:
            if fault == "stage-failed":
                raise RuntimeError("plugin crashed")
            block = block.copy()
            block[0, 5] = np.nan
            return block
        return original(block)

    stage.process = faulty  # type: ignore[method-assign]
    try:
        engine.transport.play()
        run_blocks(engine, 10)
        broken["on"] = True
        out = run_blocks(engine, 100)
        assert np.isfinite(out).all()
        assert engine.session.get("tracks/tone/mute") is True
        assert tone not in engine.graph.active
        assert [(e.kind, e.address) for e in engine.events] == [(fault, "tracks/tone")]
        changes = []
        engine.session.observe(changes.append)
        engine.session.registry.dispatch_pending()
        assert any(c.address == "tracks/tone/mute" and c.source == "engine" for c in changes)
    finally:
        engine.close()
    # after the fault, what plays is the noise track alone
    offline = render(session_path, tmp_path / "out")
    noise = out[:, 40 * BLOCK:]
    assert np.sqrt(np.mean(noise ** 2)) > 0.02
    assert np.sqrt(np.mean((noise - offline[:, 50 * BLOCK:110 * BLOCK]) ** 2)) > 0.01  # the tone is gone


def test_unmuting_a_guarded_track_brings_it_back(session_path: Path) -> None:
    engine = _engine(session_path)
    assert engine.graph is not None
    tone = next(n for n in engine.graph.tracks if n.name == "tone")
    try:
        engine.transport.play()
        run_blocks(engine, 2)
        engine._take_out(engine.graph, tone, "nan", 0)  # as the guard does
        run_blocks(engine, 2)
        engine.session.set("tracks/tone/mute", False)
        run_blocks(engine, 2)
        assert tone in engine.graph.active
    finally:
        engine.close()


MIC_WITH_REVERB = ("  mic:\n    input: system:capture_1\n"
                   "    chain: [{type: reverb, id: verb, params: {room_size: 0.95, damping: 0.1, mix_pct: 100}}]\n")


def _fed_blocks(engine: LiveEngine, count: int, level: float) -> np.ndarray:
    """Blocks with the live input fed a 500 Hz tone of ``level`` (as a backend would)."""
    mic = engine.inputs["mic"]
    pieces = []
    for k in range(count):
        t = (np.arange(BLOCK) + k * BLOCK) / SR
        mic.feed(0, level * np.sin(2 * np.pi * 500.0 * t))
        pieces.append(run_blocks(engine, 1))
    return np.concatenate(pieces, axis=1)


def test_panic_is_latched_until_resumed(tmp_path: Path) -> None:
    path = make_session(tmp_path, 1.0, block_size=BLOCK, extra_tracks=MIC_WITH_REVERB)
    engine = _engine(path)
    session = engine.session
    try:
        engine.transport.play()
        before = _fed_blocks(engine, 40, 0.5)
        held = engine.transport.position
        engine.panic()
        engine.transport.play()                       # presses while panicked are dropped
        session.set("tracks/mic/gain_db", -6.0)       # sets wait for the resume
        during = _fed_blocks(engine, 300, 0.5)        # live input keeps arriving; the reverb tail is long
        assert engine.panicked and not engine.transport.rolling and not engine.clock.rolling
        assert engine.transport.position == held
        assert [e.kind for e in engine.events] == ["panic"]      # reported once, not per block
        assert engine.resume()
        tail = _fed_blocks(engine, 20, 0.0)           # silent input after the resume: the tail was cleared
        again = _fed_blocks(engine, 40, 0.5)
    finally:
        engine.close()
    assert np.abs(before).max() > 0.1
    assert not during.any()                           # exact zero, every block of the latch
    assert not tail.any()
    assert np.abs(again).max() > 0.01                 # processing is back (the transport stays stopped)
    assert not engine.transport.rolling
    assert session.get("tracks/mic/gain_db") == -6.0


FAULTY_BUS = ("  bussed:\n    source: stems/tone.wav\n    output: grp\n"
              "buses:\n  grp:\n    chain: [{type: gain, id: trim}]\n"
              "master:\n  chain: [{type: gain, id: trim}]\n")


@pytest.mark.parametrize("strip", ["buses/grp", "master"])
def test_nan_from_a_bus_or_master_stage_bypasses_that_stage(tmp_path: Path, strip: str) -> None:
    path = make_session(tmp_path, 1.0, block_size=BLOCK, extra_tracks=FAULTY_BUS)
    engine = _engine(path)
    stage = engine.session.stages[strip][0].stage
    original = stage.process

    def faulty(block: np.ndarray) -> np.ndarray:
        out = original(block).copy()
        out[:, 3] = np.inf
        return out

    try:
        engine.transport.play()
        run_blocks(engine, 10)
        stage.process = faulty  # type: ignore[method-assign]
        out = run_blocks(engine, 100)
        changes: list = []
        engine.session.observe(changes.append)
        engine.session.registry.dispatch_pending()
    finally:
        engine.close()
    assert np.isfinite(out).all()
    assert [(e.kind, e.address) for e in engine.events] == [("nan", f"{strip}/trim")]
    assert engine.session.get(f"{strip}/trim/bypass") is True
    assert any(c.address == f"{strip}/trim/bypass" and c.source == "engine" for c in changes)
    # the mix plays on through the bypassed stage's dry path (a 0 dB gain: the render's audio)
    offline = render(path, tmp_path / "out")
    np.testing.assert_allclose(out[:, 10 * BLOCK:], offline[:, 20 * BLOCK:110 * BLOCK], atol=1e-6)
    assert np.abs(out[:, 10 * BLOCK:]).max() > 0.1


def test_events_past_the_kept_window_are_still_reported(session_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from host.cli.live import _report_events

    engine = _engine(session_path)
    try:
        for k in range(100):
            engine._event("nan", f"tracks/t{k}", k)
        seen = _report_events(engine, 0)
        first = capsys.readouterr().err
        for k in range(100, 103):
            engine._event("stage-failed", f"tracks/t{k}", k)
        seen = _report_events(engine, seen)
        second = capsys.readouterr().err
    finally:
        engine.close()
    assert "36 earlier safety event(s) not shown" in first and first.count("produced NaN") == 64
    assert seen == 103
    assert second.count("failed: muted/bypassed") == 3 and "tracks/t102" in second and "tracks/t99" not in second


def test_locate_and_loop_play_the_right_audio(session_path: Path, tmp_path: Path) -> None:
    offline = render(session_path, tmp_path / "out")
    engine = _engine(session_path)
    start, end = 12_800, 12_800 + 40 * BLOCK
    try:
        engine.transport.set_loop(start, end)
        engine.transport.locate(start)
        engine.process_block(BLOCK)      # commands apply at block start
        assert engine.reader.wait_ready()
        engine.transport.play()
        out = run_blocks(engine, 80)   # twice round the loop
        state = engine.transport_state()
        assert state["rolling"] and state["loop_s"] == (start / SR, end / SR)
        assert start <= state["position"] < end
    finally:
        engine.close()
    # state (compressor envelope, smoothers) carries over the wrap, so compare after it settles
    second = out[:, 40 * BLOCK + 2048:]
    np.testing.assert_allclose(second, offline[:, start + 2048:end], atol=2e-3)
    assert np.abs(second).max() > 0.1


class FakeClock:
    """A clock that moves only when the backend waits (blocks take no time on it); each
    wait wakes ``oversleep`` seconds late."""

    def __init__(self, oversleep: float = 0.0) -> None:
        self.now = 0.0
        self.oversleep = oversleep
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds + self.oversleep
        time.sleep(0.0002)  # let the control thread run


@pytest.mark.parametrize("oversleep", [0.0, 0.3])
def test_the_none_backend_keeps_time(session_path: Path, oversleep: float) -> None:
    """Clock-driven: the backend waits out each period, so the timeline advances with its clock;
    each callback is timed from the start of its period, a late wake-up included."""
    period = BLOCK / SR
    clock = FakeClock(oversleep * period)
    engine = _engine(session_path, clock=clock, wait=clock.wait)
    try:
        engine.start()
        wait_position(engine, 0.5)
        state = clock.now, engine.transport.position, engine.callback_count
    finally:
        engine.close()
    now, position, blocks = state
    assert blocks >= 0.5 * SR / BLOCK and engine.xruns == 0
    waits = np.array(clock.waits[1:])
    assert len(waits) >= blocks - 2 and np.allclose(waits, (1 - oversleep) * period)   # back on schedule
    assert abs(position / SR - now) <= 2 * period       # the position is the clock's time
    assert engine.underruns == 0
    timing = engine.callback_timing()
    assert np.allclose(timing.late[1:], oversleep * period)
    assert np.allclose(np.diff(timing.starts - timing.late), period)    # the periods began on the beat
    assert np.allclose(timing.deadline_use(period)[1:], oversleep)      # the blocks took no time


def test_blocks_run_back_to_back_are_never_late(session_path: Path) -> None:
    """Without pacing there are no periods to be late for, however long the run."""
    engine = LiveEngine(host.load_session(session_path), BLOCK, "none", realtime=False)
    try:
        engine.start()
        deadline = time.monotonic() + 30
        while engine.callback_count < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        engine.close()
    timing = engine.callback_timing()
    assert len(timing.late) >= 200 and not timing.late.any()
    assert (np.diff(timing.starts) >= timing.durations[:-1]).all()   # one after the other


def test_overruns_are_told_apart_from_periods_cut_short() -> None:
    """A server that wakes late catches up with a short period: a callback that overruns it
    is not one that took a whole period."""
    from host.live.engine import CallbackTiming

    ms = 0.001
    began = np.array([0.0, 1.0, 2.0, 3.8, 4.0, 5.0, 6.0]) * ms    # woke 1.8 ms late, caught up at 4
    late = np.array([0.05, 0.05, 0.05, 0.05, 0.25, 0.05, 0.05]) * ms
    durations = np.array([0.3, 0.3, 0.3, 0.4, 0.3, 1.2, 0.3]) * ms
    timing = CallbackTiming(durations, began + late, late, np.full(7, -1), np.full(7, np.nan))   # no frame counters
    overran, length = timing.overruns(ms)
    np.testing.assert_allclose(length, np.array([1.0, 1.0, 1.8, 0.2, 1.0, 1.0]) * ms)
    assert overran.tolist() == [False, False, False, True, False, True]
    np.testing.assert_allclose(timing.deadline_use(ms), [0.35, 0.35, 0.35, 0.45, 0.55, 1.25, 0.35])


# -- automation recording ---------------------------------------------------------------------------
EXISTING_LANE = """automation:
  tracks/noise/gain_db:      # an existing ride: touch returns to it
    interpolation: step
    points: [[0.0, -6.0], [1.2, -12.0]]
"""


@pytest.mark.parametrize("offline_block", [BLOCK, None])
@pytest.mark.parametrize("mode", ["write", "latch", "touch"])
def test_recorded_moves_render_to_what_was_heard(tmp_path: Path, mode: str, offline_block: int | None) -> None:
    path = make_session(tmp_path, 2.0, block_size=offline_block, automation=EXISTING_LANE)
    session = host.load_session(path)
    engine = LiveEngine(session, BLOCK, "none", record=mode)
    recorder = AutomationRecorder(engine, mode)
    capture = Capture(2.5)
    engine.open()
    engine.taps.append(capture)
    try:
        engine.start()
        wait_position(engine, 0.3)
        for value in np.linspace(-3.0, -12.0, 15):          # a fader ride through the Python API
            session.set("tracks/tone/gain_db", float(value))
            time.sleep(0.01)
        session.set("tracks/tone/eq/band1_gain_db", -6.0)    # a native stage parameter
        session.set("tracks/noise/gain_db", -2.0)           # over an existing lane
        session.set("tracks/noise/mute", True)
        wait_position(engine, 0.8)
        session.set("tracks/noise/mute", False)
        session.set("tracks/noise/pan", -0.5)
        wait_position(engine, 2.05)
        engine.transport.stop()
        time.sleep(0.05)
    finally:
        engine.close()
    written = recorder.finish()
    session.save()
    assert set(written) == {"tracks/tone/gain_db", "tracks/tone/eq/band1_gain_db", "tracks/noise/gain_db",
                            "tracks/noise/mute", "tracks/noise/pan"}
    text = path.read_text()
    assert "# live test session: comments must survive an automation save" in text
    assert "# mono sine" in text and "# an existing ride: touch returns to it" in text
    lanes = yaml_doc.to_plain(yaml_doc.load(path))["automation"]
    assert all(lanes[a]["interpolation"] == "step" for a in written)
    assert len(lanes["tracks/tone/gain_db"]["points"]) >= 15
    if mode == "touch":  # released after the hold time: the old lane's step at 1.2 s is back
        assert [1.2, -12.0] in lanes["tracks/noise/gain_db"]["points"]

    offline = render(path, tmp_path / "render")
    n = offline.shape[1]
    live = capture.audio[:, :n]
    assert capture.written[:n].all()
    assert engine.error is None and engine.underruns == 0
    tolerance = 1e-7 if offline_block == BLOCK else 2e-6   # same blocking: float32 file only
    np.testing.assert_allclose(live, offline, atol=tolerance)
    assert np.abs(live).max() > 0.1


# -- the command ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["touch", "latch"])
def test_an_explicit_touch_records_from_touch_to_release(tmp_path: Path, mode: str) -> None:
    """A motor fader: touched, ridden, held still past the hold-time guess, let go."""
    path = make_session(tmp_path, 2.0, block_size=BLOCK, automation=EXISTING_LANE)
    session = host.load_session(path)
    engine = LiveEngine(session, BLOCK, "none", record=mode)
    recorder = AutomationRecorder(engine, mode)
    capture = Capture(2.5)
    address = "tracks/noise/gain_db"
    engine.open()
    engine.taps.append(capture)
    try:
        engine.start()
        wait_position(engine, 0.3)
        engine.touch(address, True, source="midi:mcu")
        wait_position(engine, 0.4)              # held before it moves: recorded from the touch on
        for value in np.linspace(-5.0, -1.0, 5):
            session.set(address, float(value), source="midi:mcu")
            time.sleep(0.01)
        wait_position(engine, 1.0)              # still held, longer than TOUCH_HOLD_S after the last move
        engine.touch(address, False, source="midi:mcu")
        wait_position(engine, 2.05)
        engine.transport.stop()
        time.sleep(0.05)
    finally:
        engine.close()
    assert recorder.finish() == [address]
    session.save()
    points = yaml_doc.to_plain(yaml_doc.load(path))["automation"][address]["points"]
    touched_at = min(t for t, _ in points if t > 0)
    last_move = max(t for t, v in points if v == -1.0)
    later = [(t, v) for t, v in points if t > last_move]
    assert 0.3 <= touched_at < 0.4 and [touched_at, -6.0] in points   # from the touch, at the held value
    if mode == "touch":   # back to the old lane at the release, not when the guess would have let go
        released_at, value = later[0]
        assert value == -6.0 and released_at - last_move > TOUCH_HOLD_S and released_at >= 1.0
        assert later[1:] == [(1.2, -12.0)]
    else:                 # latch: the last value holds until the pass stops (then the old lane again)
        assert len(later) == 1 and later[0][0] >= 2.05 and later[0][1] == -12.0
    offline = render(path, tmp_path / "render")
    n = offline.shape[1]
    assert capture.written[:n].all() and engine.underruns == 0
    np.testing.assert_allclose(capture.audio[:, :n], offline, atol=1e-7)


def test_touch_names_a_real_control(session_path: Path) -> None:
    engine = LiveEngine(host.load_session(session_path), BLOCK, "none", record="touch")
    with pytest.raises(ParameterError, match="tracks/noise/gain_db"):
        engine.touch("tracks/noise/gain", True, source="midi:mcu")
    with pytest.raises(ParameterError, match="not recorded"):
        engine.touch("transport/play", True, source="midi:mcu")


def _mixhost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host", *args], capture_output=True, text=True, timeout=60)


def test_live_command_runs_headless(session_path: Path) -> None:
    done = _mixhost("live", str(session_path), "--audio", "none", "--duration", "0.5")
    assert done.returncode == 0, done.stderr
    assert "played 0." in done.stderr and "xruns" in done.stderr


def test_live_command_plays_to_the_end_by_itself(session_path: Path) -> None:
    done = _mixhost("live", str(session_path), "--audio", "none", "--block", "256")
    assert done.returncode == 0, done.stderr
    played = float(done.stderr.split("played ")[1].split(" s")[0])
    assert 1.0 <= played <= 1.1


@pytest.mark.parametrize(("args", "message"), [
    (["--audio", "none", "--duration", "-1"], "--duration -1"),
    (["--audio", "none", "--loop", "0.5", "0.5"], "too short"),
    (["--audio", "none", "--follow-transport"], "needs --audio jack"),
    (["--audio", "sounddevice", "--follow-transport"], "needs --audio jack"),
    (["--audio", "jack", "--device", "1"], "needs --audio sounddevice"),
    (["--audio", "none", "--ahead", "2"], "--ahead 2: give a number of periods from 1, with --audio jack"),
    (["--audio", "jack", "--ahead", "-1"], "--ahead -1"),
    (["--audio", "sounddevice", "--device", "no such card"], "no output device 'no such card'"),
])
def test_live_command_refuses_bad_options(session_path: Path, args: list[str], message: str) -> None:
    done = _mixhost("live", str(session_path), *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_status_line_shows_position_load_xruns_and_meters(session_path: Path) -> None:
    from host.cli.live import status_line

    engine = _engine(session_path)
    try:
        engine.transport.play()
        run_blocks(engine, 375)                  # one second
        for _ in range(375):                     # the last second of callbacks took a quarter period each
            engine.record_callback(0.25 * engine.period_s)
        line = status_line(engine)
    finally:
        engine.close()
    assert line.startswith("00:01.000 play")
    assert "DSP 25.0%" in line and "xruns 0" in line
    left, right = (float(v) for v in line.split("L/R ")[1].split(" dBFS")[0].split())
    assert -20.0 < left < 0.0 and -20.0 < right < 0.0


def test_dsp_load_stays_current_past_the_history_ring(session_path: Path) -> None:
    """More callbacks than the history holds (65 536): the status line shows the last second."""
    from host.cli.live import status_line

    engine = LiveEngine(host.load_session(session_path), BLOCK, "none", realtime=False)
    engine.open()
    size = len(engine.callback_times)
    ticks = {"count": 0}
    silence = np.zeros((2, BLOCK))

    def counted(frames: int) -> np.ndarray:   # an empty block (fast), and a stop once past the ring
        ticks["count"] += 1
        if ticks["count"] == size + 5000:
            engine.backend._stop.set()  # type: ignore[attr-defined]
        return silence[:, :frames]

    engine.process_block = counted  # type: ignore[method-assign]
    try:
        engine.start()
        deadline = time.monotonic() + 600
        while engine.backend._thread.is_alive() and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        assert engine.callback_count == size + 5000
        period = engine.period_s
        extra = size - 4900           # ends 100 callbacks into the ring: the last 400 wrap round it
        for k in range(extra):        # a heavy stretch, then a last second at 40 %
            engine.record_callback((0.9 if k < extra - 400 else 0.4) * period)
        assert engine.callback_count % size == 100
        line = status_line(engine)
        recent = engine.callback_load(engine.callback_count - 400)
    finally:
        engine.close()
    assert "DSP 40.0%" in line, line
    assert len(recent) == 400 and np.allclose(recent, 0.4)
    assert np.allclose(engine.callback_load(engine.callback_count - 800)[:400], 0.9)


def test_a_live_input_takes_at_most_two_ports(tmp_path: Path) -> None:
    path = make_session(tmp_path, 0.5, extra_tracks="  mic:\n    input: [a:1, a:2, a:3]\n")
    engine = LiveEngine(host.load_session(path), BLOCK, "none")
    with pytest.raises(host.errors.SessionError, match="one or two ports"):
        engine.open()


@pytest.mark.parametrize(("spec", "ports"), [
    ("system:capture_1", ["system:capture_1"]),
    ("[system:capture_1, system:capture_2]", ["system:capture_1", "system:capture_2"]),
    ("3", ["3"]),                    # a PortAudio input channel
    ("[1, 2]", ["1", "2"]),
])
def test_a_live_input_is_ports_or_channel_numbers(tmp_path: Path, spec: str, ports: list[str]) -> None:
    path = make_session(tmp_path, 0.5, extra_tracks=f"  mic:\n    input: {spec}\n")
    engine = LiveEngine(host.load_session(path), BLOCK, "none")
    assert engine.input_ports() == {"mic": ports}


@pytest.mark.parametrize("spec", ["0", "''", "[1, -2]", "{port: 1}"])
def test_a_live_input_that_is_no_port_or_channel_is_refused(tmp_path: Path, spec: str) -> None:
    path = make_session(tmp_path, 0.5, extra_tracks=f"  mic:\n    input: {spec}\n")
    with pytest.raises(host.errors.SessionError, match=r"session.yaml:\d+.*tracks.mic.input"):
        host.load_session(path)


def _live_process(args: list[str]) -> subprocess.Popen[str]:
    """`mixhost live ARGS` with SIGINT at its default, as in a terminal.

    A job started in the background by a non-interactive shell inherits SIGINT ignored,
    and Python then installs no KeyboardInterrupt handler: Ctrl-C could not be tested.
    """
    import signal

    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen([sys.executable, "-m", "host", "live", *args], stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)


def test_ctrl_c_quits_cleanly_and_saves_the_recording(tmp_path: Path) -> None:
    import signal

    path = make_session(tmp_path, 5.0)
    before = path.read_text()
    proc = _live_process([str(path), "--audio", "none", "--record-automation", "write"])
    assert proc.stderr is not None
    ready = proc.stderr.readline()           # printed once audio runs: the signal lands in the control loop
    assert ready.startswith("mixhost live: playing"), ready
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "stopped: played" in stderr and "Traceback" not in stderr
    assert "session file is unchanged" in stderr and path.read_text() == before


@pytest.mark.parametrize(("mode", "expected"), [
    # pass 1 runs 12800..17920 with moves at 14080 (-10) and 15360 (-20); the loop wraps and
    # pass 2 holds -20 over 12800..15360, then the lane is as pass 1 left it (-20 from 15360);
    # after pass 1's end the lane is what it was before recording (-3)
    ("write", [(0, -3.0), (12800, -20.0), (15360, -20.0), (17920, -3.0)]),
    ("latch", [(0, -3.0), (12800, -20.0), (15360, -20.0), (17920, -3.0)]),
    # touch with no lane underneath has nothing to return to: recorded as latch
    ("touch", [(0, -3.0), (12800, -20.0), (15360, -20.0), (17920, -3.0)]),
])
def test_a_second_pass_round_the_loop_writes_over_the_first(session_path: Path, mode: str,
                                                           expected: list[tuple[int, float]]) -> None:
    engine = _engine(session_path, record=mode)
    recorder = AutomationRecorder(engine, mode)
    session = engine.session
    start, end = 12_800, 12_800 + 40 * BLOCK
    try:
        engine.transport.set_loop(start, end)
        engine.transport.locate(start)
        engine.process_block(BLOCK)
        assert engine.reader.wait_ready()
        engine.transport.play()
        run_blocks(engine, 10)
        session.set("tracks/tone/gain_db", -10.0)
        run_blocks(engine, 10)
        session.set("tracks/tone/gain_db", -20.0)
        run_blocks(engine, 40)         # round the loop: pass 2 ends at 15360
        engine.transport.stop()
        run_blocks(engine, 1)
    finally:
        engine.close()
    assert recorder.finish() == ["tracks/tone/gain_db"]
    lane = next(lane for lane in session.lanes if lane.address == "tracks/tone/gain_db")
    points = [(int(round(t * SR)), float(v)) for t, v in zip(lane.times_s, lane.values, strict=True)]
    assert points == expected


def test_a_device_failure_still_saves_the_recorded_take(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from host.cli import main
    from host.errors import AudioDeviceError

    path = make_session(tmp_path, 5.0)
    original = LiveEngine.process_block
    blocks = {"count": 0}

    def failing(self: LiveEngine, frames: int) -> np.ndarray:
        blocks["count"] += 1
        if blocks["count"] == 40:
            self.session.set("tracks/tone/gain_db", -15.0)     # a move, carried by this block
        if blocks["count"] == 120:
            raise AudioDeviceError("the audio device went away")
        return original(self, frames)

    monkeypatch.setattr(LiveEngine, "process_block", failing)
    code = main(["live", str(path), "--audio", "none", "--block", "256", "--record-automation", "write"])
    stderr = capsys.readouterr().err
    assert code == 1 and "the audio device went away" in stderr
    assert "before the failure" in stderr
    lanes = yaml_doc.to_plain(yaml_doc.load(path))["automation"]
    assert sorted({v for _, v in lanes["tracks/tone/gain_db"]["points"]} - {-3.0}) == [-15.0]


def test_a_failed_open_leaves_no_reader_thread(session_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StreamReader, "wait_ready", lambda self, timeout_s=10.0: False)
    engine = LiveEngine(host.load_session(session_path), BLOCK, "none")
    with pytest.raises(host.errors.MixhostError, match="disk streaming"):
        engine.open()
    time.sleep(0.05)
    assert not any(t.name == "mixhost-reader" and t.is_alive() for t in threading.enumerate())


def test_panic_and_resume_by_signal(tmp_path: Path) -> None:
    import signal

    path = make_session(tmp_path, 5.0)
    proc = _live_process([str(path), "--audio", "none"])
    assert proc.stderr is not None
    watchdog = threading.Timer(60.0, proc.kill)   # a missing line must fail the test, not hang it
    watchdog.start()
    try:
        assert proc.stderr.readline().startswith("mixhost live: playing")
        proc.send_signal(signal.SIGUSR1)
        _read_until(proc, "panic: stopped and silenced")
        proc.send_signal(signal.SIGUSR2)
        _read_until(proc, "panic cleared")
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        watchdog.cancel()
    assert proc.returncode == 130 and "Traceback" not in stderr
    played = float(stderr.split("played ")[1].split(" s")[0])
    assert played < 4.0        # the transport stopped at the panic and stayed stopped


def _read_until(proc: subprocess.Popen[str], text: str, lines: int = 10) -> None:
    """Read stderr lines until ``text`` has appeared (the console may wrap a long line)."""
    assert proc.stderr is not None
    seen: list[str] = []
    while len(seen) < lines:
        seen.append(proc.stderr.readline())
        if text in " ".join(seen).replace("\n", " "):
            return
    raise AssertionError(f"{text!r} not in {seen}")


def test_keys_in_a_terminal_drive_the_transport_and_panic(tmp_path: Path) -> None:
    """stdin a terminal: space stops, 0 locates to the start, p panics and resumes, q quits (exit 0)."""
    import os
    import pty

    path = make_session(tmp_path, 5.0)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "host", "live", str(path), "--audio", "none"],
                            stdin=slave, stderr=subprocess.PIPE, text=True)
    os.close(slave)
    watchdog = threading.Timer(60.0, proc.kill)
    watchdog.start()
    try:
        _read_until(proc, "mixhost live: playing")
        os.write(master, b" ")                      # stop
        os.write(master, b"0")                      # back to the start: stopped, it stays there
        time.sleep(0.3)                             # (rolling, it would be 0.3 s further on by now)
        os.write(master, b"p")
        _read_until(proc, "panic: stopped and silenced")
        os.write(master, b"p")
        _read_until(proc, "panic cleared")
        os.write(master, b"q")
        _, stderr = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
        os.close(master)
    assert proc.returncode == 0, stderr
    assert "played 0.00 s" in stderr and "Traceback" not in stderr


def test_playing_hands_the_gil_to_the_audio_thread_soon_and_stopping_restores_it(tmp_path: Path) -> None:
    """While the engine plays, a waiting audio thread gets the GIL within 0.25 ms, not Python's 5 ms;
    during a block, a waiting thread waits for the block's end."""
    from host.live.engine import GIL_HOLD_S, GIL_SWITCH_S

    before = sys.getswitchinterval()
    engine = LiveEngine(host.load_session(make_session(tmp_path, 1.0)), 128, "none")
    inside: list[float] = []
    engine.taps.append(lambda out, position, rolling: inside.append(sys.getswitchinterval()))
    engine.start()
    try:
        wait_position(engine, 20 * 128 / SR)
        engine.stop()
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_S) and GIL_SWITCH_S < 128 / SR / 4
    finally:
        engine.close()
    assert sys.getswitchinterval() == pytest.approx(before)
    assert len(inside) >= 20 and all(v == pytest.approx(GIL_HOLD_S) for v in inside)
    assert GIL_HOLD_S > 128 / SR  # longer than a block: a waiting thread does not cut one short
