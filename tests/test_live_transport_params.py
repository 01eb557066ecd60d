"""Transport state pushed to controllers and driven by them through the ``transport/...`` parameters."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_live_helpers import SR, Capture, make_session, render, run_blocks, wait_position

import host
from host.errors import ParameterError, UserInputError
from host.live.engine import LiveEngine
from host.live.transport_params import POSITION_HZ
from host.registry import Change

BLOCK = 128
STEP = SR // POSITION_HZ


class Controller:
    """Collects what a control surface would be told: changes, their sources and threads."""

    def __init__(self, engine: LiveEngine, source: str) -> None:
        self.source = source
        self.changes: list[Change] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()
        self.remove = engine.session.registry.observe(self._seen, "transport/*", skip_source=source)

    def _seen(self, change: Change) -> None:
        with self._lock:
            self.changes.append(change)
            self.threads.add(threading.current_thread().name)

    def values(self, address: str) -> list[tuple[float, str]]:
        with self._lock:
            return [(c.value, c.source) for c in self.changes if c.address == address]


class Dispatcher:
    """A control thread delivering the engine's changes, as the `mixhost live` loop does."""

    def __init__(self, engine: LiveEngine) -> None:
        self.registry = engine.session.registry
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="control", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.registry.dispatch_pending()
            self._stop.wait(0.002)

    def close(self) -> None:
        self._stop.set()
        self.thread.join()
        self.registry.dispatch_pending()


@pytest.fixture
def session_path(tmp_path: Path) -> Path:
    return make_session(tmp_path, 2.0, block_size=BLOCK)


def _wait_for(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the engine did not get there")
        time.sleep(0.002)


def test_controllers_hear_transport_changes_with_their_source_and_no_echo(session_path: Path) -> None:
    engine = LiveEngine(host.load_session(session_path), BLOCK, "none")
    engine.open()
    mcu, tablet = Controller(engine, "midi:mcu"), Controller(engine, "osc:ipad")
    dispatcher = Dispatcher(engine)
    try:
        engine.start(play=False)
        engine.session.set("transport/loop_start_s", 0.5, source="osc:ipad")
        engine.session.set("transport/loop_end_s", 1.0, source="osc:ipad")

        def buttons() -> None:   # a control surface's own thread
            engine.transport_command("play", source="midi:mcu")
            wait_position(engine, 0.3)
            engine.transport_command("loop_toggle", source="midi:mcu")
            wait_position(engine, 0.9)

        pressed = threading.Thread(target=buttons, name="mcu")
        pressed.start()
        pressed.join()
        _wait_for(lambda: engine.transport.loop is not None and engine.transport.position < 0.9 * SR)
        engine.transport_command("stop", source="api")
        _wait_for(lambda: not engine.clock.rolling)
    finally:
        engine.close()
        dispatcher.close()
    assert tablet.values("transport/play") == [(1.0, "midi:mcu"), (0.0, "api")]
    assert tablet.values("transport/loop") == [(1.0, "midi:mcu")]
    assert mcu.values("transport/play") == [(0.0, "api")]        # its own play is no echo
    assert mcu.values("transport/loop") == []
    assert mcu.values("transport/loop_start_s") == [(0.5, "osc:ipad")]
    assert tablet.values("transport/loop_start_s") == []
    assert engine.session.get("transport/loop") is True and engine.session.get("transport/play") is False
    assert "mixhost-audio" not in mcu.threads | tablet.threads    # never told from the audio callback


def test_position_is_reported_at_the_stated_rate_of_transport_time(session_path: Path) -> None:
    engine = LiveEngine(host.load_session(session_path), BLOCK, "none")
    engine.open()
    tablet = Controller(engine, "osc:ipad")
    dispatcher = Dispatcher(engine)
    try:
        engine.start()
        wait_position(engine, 1.5)
        end = engine.transport.position
    finally:
        engine.close()
        dispatcher.close()
    reported = np.array([round(v * SR) for v, source in tablet.values("transport/position_s")])
    assert all(source == "engine" for _, source in tablet.values("transport/position_s"))
    ticks = end // STEP
    # each report is the first block start at or past a tick of 1/POSITION_HZ s of transport time
    assert np.all(reported % STEP < BLOCK) and np.all(np.diff(reported // STEP) >= 1)
    assert ticks // 2 <= len(reported) <= ticks    # a late dispatch may merge two, never invent one


def test_a_command_from_another_thread_lands_on_a_block_boundary(session_path: Path, tmp_path: Path) -> None:
    engine = LiveEngine(host.load_session(session_path), BLOCK, "none")
    engine.open()
    blocks: list[tuple[int, bool, float]] = []
    capture = Capture(2.5)
    engine.taps.append(lambda out, position, rolling: blocks.append((position, rolling, float(np.abs(out).max()))))
    engine.taps.append(capture)
    try:
        engine.start(play=False)
        _wait_for(lambda: len(blocks) > 20)
        threading.Thread(target=engine.transport_command, args=("play",), kwargs={"source": "midi:mcu"}).start()
        wait_position(engine, 0.4)
        threading.Thread(target=engine.transport_command, args=("locate", 1.2),
                         kwargs={"source": "midi:mcu"}).start()
        _wait_for(lambda: engine.transport.position > 1.5 * SR)
    finally:
        engine.close()
    first = next(i for i, (_, rolling, _) in enumerate(blocks) if rolling)
    assert first > 20 and all(peak == 0.0 for _, _, peak in blocks[:first])
    assert blocks[first][0] == 0                                    # play: from a block's first sample
    after = [p for p, rolling, _ in blocks[first:] if rolling and p >= int(1.2 * SR)]
    assert after[0] == int(1.2 * SR)                                # locate: a block starts there
    offline = render(session_path, tmp_path / "out")
    heard = capture.written[:offline.shape[1]]
    assert heard[:int(0.4 * SR)].all() and heard[int(1.2 * SR):int(1.5 * SR)].all()
    assert not heard[int(0.6 * SR):int(1.1 * SR)].any()
    live = capture.audio
    played = slice(0, int(0.4 * SR))
    np.testing.assert_allclose(live[:, played], offline[:, played], atol=1e-7)   # a mid-block start would shift it
    settled = slice(int(1.35 * SR), int(1.5 * SR))   # the compressor envelope carried over the locate settles
    np.testing.assert_allclose(live[:, settled], offline[:, settled], atol=2e-3)


def test_panic_puts_every_controller_right_and_xruns_are_pushed(session_path: Path) -> None:
    engine = LiveEngine(host.load_session(session_path), BLOCK, "none")
    engine.open()
    mcu = Controller(engine, "midi:mcu")
    registry = engine.session.registry
    try:
        engine.transport_command("play", source="midi:mcu")
        run_blocks(engine, 2)
        engine.backend.xruns += 1             # what the backend does on a late block
        run_blocks(engine, 1)
        engine.transport_command("panic", source="midi:mcu")
        engine.transport_command("play", source="midi:mcu")   # dropped while panicked
        run_blocks(engine, 2)
        registry.dispatch_pending()
    finally:
        engine.close()
    assert mcu.values("transport/xruns") == [(1.0, "engine")]
    assert mcu.values("transport/play") == [(0.0, "engine")]   # the panic's stop, and its own play undone
    assert engine.session.get("transport/play") is False


@pytest.mark.parametrize(("address", "value", "follow", "message"), [
    ("transport/xruns", 3.0, False, "read-only"),
    ("transport/follow", True, False, "read-only"),
    ("transport/loop", True, False, "no loop range"),
    ("transport/play", True, True, "follows the JACK transport"),
])
def test_transport_sets_that_cannot_be_done_are_refused(session_path: Path, address: str, value: object,
                                                        follow: bool, message: str) -> None:
    engine = LiveEngine(host.load_session(session_path), BLOCK, "none", follow_transport=follow)
    engine.open()
    try:
        with pytest.raises(ParameterError, match=message):
            engine.session.set(address, value, source="osc:ipad")  # type: ignore[arg-type]
    finally:
        engine.close()


def test_an_unknown_transport_command_says_what_exists(session_path: Path) -> None:
    engine = LiveEngine(host.load_session(session_path), BLOCK, "none")
    with pytest.raises(UserInputError, match="play_stop"):
        engine.transport_command("play-stop", source="midi:mcu")


def test_params_lists_the_transport_addresses_for_live_use(session_path: Path) -> None:
    import json
    import subprocess
    import sys

    def listed(*extra: str) -> set[str]:
        done = subprocess.run([sys.executable, "-m", "host", "params", str(session_path), "--json", *extra],
                              capture_output=True, text=True, check=True)
        return {row["address"] for row in json.loads(done.stdout)}

    live = listed("--live")
    assert {"transport/play", "transport/loop", "transport/position_s", "transport/xruns"} <= live
    assert not any(a.startswith("transport/") for a in listed())   # not session parameters
