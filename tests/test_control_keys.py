"""The terminal keys as a control surface (host.control.keys), on a real pseudo-terminal.

The keys are read from a pty by the surface's own thread and applied to a
clock-less live engine (backend ``none``, blocks run from the test), so the
assertions are on the transport as the blocks carried it.
"""

from __future__ import annotations

import os
import pty
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_live_helpers import make_session, run_blocks

import host
from host.control.keys import NO_LOOP, NO_SAVE, RESUMED, Keys
from host.live.engine import LiveEngine

BLOCK = 128


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    master, slave = pty.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[LiveEngine]:
    live = LiveEngine(host.load_session(make_session(tmp_path, 1.0)), BLOCK, "none")
    live.open()
    yield live
    live.close()


class Surface:
    """The keys on a pty, with what they told the user."""

    def __init__(self, master: int, slave: int, engine: LiveEngine) -> None:
        self.master, self.engine = master, engine
        self.keys = Keys(slave)
        self.told: list[str] = []

    def press(self, data: bytes, count: int = 1, follow: bool = False) -> bool:
        """Type ``data``, wait until the keys' thread has read ``count`` keys, and apply them."""
        os.write(self.master, data)
        deadline = time.monotonic() + 10.0
        while len(self.keys.pressed) < count:
            assert time.monotonic() < deadline, f"{data!r} was not read from the terminal"
            time.sleep(0.002)
        return self.keys.handle(self.engine, self.told.append, follow_transport=follow)


@pytest.fixture
def surface(terminal: tuple[int, int], engine: LiveEngine) -> Iterator[Surface]:
    keys = Surface(*terminal, engine)
    yield keys
    keys.keys.close()


def test_space_plays_and_stops_and_home_goes_back_to_the_start(surface: Surface, engine: LiveEngine) -> None:
    assert surface.press(b" ")
    run_blocks(engine, 10)
    assert engine.transport.rolling and engine.transport.position == 10 * BLOCK
    assert surface.press(b" ")
    run_blocks(engine, 1)
    assert not engine.transport.rolling and engine.transport.position == 10 * BLOCK
    assert surface.press(b"\x1b[H")              # Home: one escape sequence, one key
    run_blocks(engine, 1)
    assert engine.transport.position == 0
    assert surface.told == []


def test_p_panics_and_p_again_resumes(surface: Surface, engine: LiveEngine) -> None:
    assert surface.press(b" ")
    run_blocks(engine, 2)
    assert surface.press(b"p")
    run_blocks(engine, 2)
    assert engine.panicked and not engine.transport.rolling
    assert surface.press(b"p")
    assert not engine.panicked
    assert surface.told == [RESUMED]


@pytest.mark.parametrize("data", [b" ", b"0", b"l"])
def test_following_jack_the_transport_keys_do_nothing(surface: Surface, engine: LiveEngine, data: bytes) -> None:
    engine.transport_command("locate", 0.1)
    run_blocks(engine, 1)
    assert surface.press(data, follow=True)
    run_blocks(engine, 2)
    assert not surface.keys.pressed and not engine.transport.rolling and engine.transport.position == 4800
    assert surface.told == []


def test_l_without_a_loop_says_how_to_set_one_and_q_quits(terminal: tuple[int, int], engine: LiveEngine) -> None:
    before = termios.tcgetattr(terminal[1])
    surface = Surface(*terminal, engine)
    try:
        assert termios.tcgetattr(terminal[1])[3] & termios.ICANON == 0  # cbreak: keys arrive one by one
        assert surface.press(b"l")
        assert surface.told == [NO_LOOP]
        assert not surface.press(b"q ", count=2)     # q stops at once: the space after it waits
        assert list(surface.keys.pressed) == [" "]
    finally:
        surface.keys.close()
    assert termios.tcgetattr(terminal[1]) == before  # the terminal's mode is given back


def test_s_saves_through_the_callback_and_without_one_says_why(surface: Surface) -> None:
    saved: list[bool] = []
    assert surface.keys.handle(surface.engine, surface.told.append) is True   # nothing pressed yet
    os.write(surface.master, b"s")
    deadline = time.monotonic() + 10.0
    while not surface.keys.pressed:
        assert time.monotonic() < deadline, "s was not read from the terminal"
        time.sleep(0.002)
    assert surface.keys.handle(surface.engine, surface.told.append, save=lambda: saved.append(True))
    assert saved == [True] and surface.told == []
    assert surface.press(b"s")
    assert surface.told == [NO_SAVE]


def test_the_s_key_saves_the_mix_into_the_session_while_live_plays(tmp_path: Path) -> None:
    """`mixhost live` on a terminal: a mix recovered from an autosave is written into the session
    file by s, at once, with the comments kept; the run goes on until q."""
    import subprocess
    import sys

    path = make_session(tmp_path, 1.0)
    autosave = path.with_name("session.autosave.yaml")
    autosave.write_text(path.read_text().replace("pan: 0.0", "pan: -0.5"))
    assert "pan: -0.5" in autosave.read_text()
    os.utime(autosave, (time.time() + 5, time.time() + 5))      # newer than the session
    master, slave = pty.openpty()
    log = (tmp_path / "stderr.txt").open("w+")
    live = subprocess.Popen([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--no-status",
                             "--recover", "--loop", "0", "1"], stdin=slave, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while "playing" not in Path(log.name).read_text():   # the keys are read from here on
            assert live.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.05)
        os.write(master, b"s")
        while "saved the mix into" not in Path(log.name).read_text():
            assert live.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.05)
        assert host.load_session(path).get("tracks/noise/pan") == -0.5
        assert path.read_text().startswith("# live test session")          # comments kept
        assert live.poll() is None                                          # still playing
        os.write(master, b"q")
        assert live.wait(timeout=30) == 0
    finally:
        if live.poll() is None:
            live.kill()
        os.close(master)
        os.close(slave)
        log.close()


def test_a_key_typed_before_the_keys_are_read_is_kept(terminal: tuple[int, int], engine: LiveEngine) -> None:
    """The s typed while the session still loads (canonical mode, no newline) is not flushed."""
    os.write(terminal[0], b"s")
    surface = Surface(*terminal, engine)
    try:
        deadline = time.monotonic() + 10.0
        while not surface.keys.pressed:
            assert time.monotonic() < deadline, "the key typed ahead was dropped"
            time.sleep(0.002)
        assert list(surface.keys.pressed) == ["s"]
    finally:
        surface.keys.close()
