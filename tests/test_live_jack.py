"""The live engine against a real JACK server (the dummy driver `make test` starts).

A separate JACK client in the test records mixhost's output ports (and
plays into its input ports); the recording is lined up with the offline
render by cross-correlation and compared.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_live_helpers import SR, make_session, render

import host
from host.live.engine import LiveEngine

jack = pytest.importorskip("jack") if False else __import__("jack")  # JACK-Client is a test dependency


class Recorder:
    """A JACK client with two inputs recording into a preallocated buffer, and one output playing a signal."""

    def __init__(self, seconds: float) -> None:
        self.client = jack.Client(f"capture-{os.getpid()}", no_start_server=True)
        self.inputs = [self.client.inports.register(f"in_{i}") for i in (1, 2)]
        self.output = self.client.outports.register("out")
        self.audio = np.zeros((2, int(seconds * SR)), dtype=np.float32)
        self.play_signal = np.zeros(0, dtype=np.float32)
        self.frames = 0
        self.recording = False
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        if self.play_signal.size:
            start = self.frames % (self.play_signal.size - frames)
            self.output.get_array()[:] = self.play_signal[start:start + frames]
        if not self.recording:
            return
        stop = min(self.frames + frames, self.audio.shape[1])
        count = stop - self.frames
        for channel, port in enumerate(self.inputs):
            self.audio[channel, self.frames:stop] = port.get_array()[:count]
        self.frames = stop

    def listen_to(self, client_name: str) -> None:
        self.client.connect(f"{client_name}:out_L", self.inputs[0].name)
        self.client.connect(f"{client_name}:out_R", self.inputs[1].name)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    try:
        rec = Recorder(6.0)
    except jack.JackError as error:
        pytest.fail(f"no JACK server: {error}; `make test` starts one (bash .ci/jackd.sh start)", pytrace=False)
    yield rec
    rec.close()


def _wait(condition, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _offset(captured: np.ndarray, reference: np.ndarray) -> int:
    """Lag of ``reference`` inside ``captured`` by FFT cross-correlation."""
    n = captured.size + reference.size
    size = 1 << (n - 1).bit_length()
    spectrum = np.fft.rfft(captured, size) * np.conj(np.fft.rfft(reference, size))
    correlation = np.fft.irfft(spectrum, size)
    return int(np.argmax(correlation[:captured.size]))


def test_jack_output_matches_the_offline_render(tmp_path: Path, recorder: Recorder) -> None:
    path = make_session(tmp_path, 2.0)
    offline = render(path, tmp_path / "out")
    name = f"mixhost-test-{os.getpid()}"
    engine = LiveEngine(host.load_session(path), None, "jack", client_name=name, auto_connect=False)
    engine.open()
    try:
        engine.start(play=False)
        recorder.listen_to(name)
        recorder.recording = True
        engine.transport.play()
        _wait(lambda: engine.transport.position >= offline.shape[1] + SR // 4)
        recorder.recording = False
    finally:
        engine.close()
    captured = recorder.audio[:, :recorder.frames]
    period = engine.block_size
    # align by cross-correlating the first quarter second (a server xrun later on can shift the rest)
    lag = _offset(captured[0, :SR].astype(np.float64), offline[0, :SR // 4])
    assert lag % period == 0  # mixhost's blocks start on JACK cycles
    matched, missed = _match_periods(captured, offline.astype(np.float32), period)
    # Every cycle mixhost delivered is the render's audio for its place on the timeline, bit for bit
    # (both are the float64 mix rounded to float32), and the cycles come in order.  This machine's
    # dummy server has xruns whatever its clients do; a cycle JACK dropped or repeated around an
    # xrun is the only thing allowed not to match.
    total = offline.shape[1] // period
    assert matched[0] == 0 and len(matched) >= total // 2, (len(matched), total, engine.xruns)
    assert np.all(np.diff(matched) > 0)
    assert missed <= 2 * engine.xruns + 2, (missed, engine.xruns)
    assert engine.underruns == 0
    # levels: the first second (before any dropped cycle) nulls completely against the render
    start = lag
    first = next((k for k, m in enumerate(matched) if m != k), len(matched))
    span = first * period
    residual = captured[:, start:start + span].astype(np.float64) - offline[:, :span]
    assert span >= 8 * period and np.abs(residual).max() < 1e-7


def _match_periods(captured: np.ndarray, reference: np.ndarray, period: int) -> tuple[list[int], int]:
    """Which reference period each captured period is (bitwise), in order; how many sounding ones are none."""
    index = {reference[:, i * period:(i + 1) * period].tobytes(): i for i in range(reference.shape[1] // period)}
    matched: list[int] = []
    missed = 0
    for k in range(captured.shape[1] // period):
        piece = np.ascontiguousarray(captured[:, k * period:(k + 1) * period])
        found = index.get(piece.tobytes())
        if found is not None:
            if not matched or found > matched[-1]:
                matched.append(found)
        elif np.abs(piece).max() > 0 and (not matched or matched[-1] < len(index) - 1):
            missed += 1
    return matched, missed


def test_jack_live_input_is_processed_by_its_chain(tmp_path: Path, recorder: Recorder) -> None:
    path = make_session(tmp_path, 1.0, extra_tracks=(
        f"  mic:\n    input: capture-{os.getpid()}:out\n    gain_db: -6\n    pan: -1\n"
        "    chain: [{type: gain, id: trim, params: {gain_db: -4}}]\n"))
    session = host.load_session(path)
    session.set("tracks/tone/mute", True)
    session.set("tracks/noise/mute", True)
    t = np.arange(SR) / SR
    recorder.play_signal = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    name = f"mixhost-test-{os.getpid()}"
    engine = LiveEngine(session, None, "jack", client_name=name, auto_connect=False)
    engine.open()
    try:
        engine.start(play=False)           # an insert host: processing runs with the transport stopped
        recorder.listen_to(name)
        recorder.recording = True
        _wait(lambda: recorder.frames >= SR)
    finally:
        engine.close()
    tail = recorder.audio[:, SR // 2:SR].astype(np.float64)
    rms_db = 20 * np.log10(np.sqrt(np.mean(tail[0] ** 2)) / (0.5 / np.sqrt(2)))
    # -6 dB fader, -4 dB trim, hard left under the -3 dB law: +0 dB on the left, silence on the right
    assert rms_db == pytest.approx(-10.0, abs=0.05)
    assert np.sqrt(np.mean(tail[1] ** 2)) < 1e-6


def test_follow_transport(tmp_path: Path, recorder: Recorder) -> None:
    path = make_session(tmp_path, 3.0)
    name = f"mixhost-test-{os.getpid()}"
    engine = LiveEngine(host.load_session(path), None, "jack", client_name=name, auto_connect=False,
                        follow_transport=True)
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
        assert abs(engine.transport.position - client.transport_frame) <= 2 * engine.block_size
        client.transport_stop()
        _wait(lambda: not engine.clock.rolling)
        held = engine.transport.position
        time.sleep(0.2)
        assert engine.transport.position == held
    finally:
        client.transport_stop()
        engine.close()
