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
from host.control.keys import NO_LOOP, RESUMED, Keys
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


def press(master: int, keys: Keys, data: bytes, count: int = 1) -> None:
    """Type ``data`` on the terminal and wait until the surface's thread has read ``count`` keys."""
    os.write(master, data)
    deadline = time.monotonic() + 10.0
    while len(keys.pressed) < count:
        assert time.monotonic() < deadline, f"{data!r} was not read from the terminal"
        time.sleep(0.002)


def test_space_plays_and_stops_and_home_goes_back_to_the_start(terminal: tuple[int, int],
                                                                engine: LiveEngine) -> None:
    master, slave = terminal
    keys = Keys(slave)
    told: list[str] = []
    try:
        press(master, keys, b" ")
        assert keys.handle(engine, told.append)
        run_blocks(engine, 10)
        assert engine.transport.rolling and engine.transport.position == 10 * BLOCK
        press(master, keys, b" ")
        assert keys.handle(engine, told.append)
        run_blocks(engine, 1)
        assert not engine.transport.rolling and engine.transport.position == 10 * BLOCK
        press(master, keys, b"\x1b[H")           # Home: one escape sequence, one key
        assert keys.handle(engine, told.append)
        run_blocks(engine, 1)
        assert engine.transport.position == 0
    finally:
        keys.close()
    assert told == []


def test_p_panics_and_p_again_resumes(terminal: tuple[int, int], engine: LiveEngine) -> None:
    master, slave = terminal
    keys = Keys(slave)
    told: list[str] = []
    try:
        press(master, keys, b" ")
        assert keys.handle(engine, told.append)
        run_blocks(engine, 2)
        press(master, keys, b"p")
        assert keys.handle(engine, told.append)
        run_blocks(engine, 2)
        assert engine.panicked and not engine.transport.rolling
        press(master, keys, b"p")
        assert keys.handle(engine, told.append)
        assert not engine.panicked
        assert told == [RESUMED]
    finally:
        keys.close()


@pytest.mark.parametrize("data", [b" ", b"0", b"l"])
def test_following_jack_the_transport_keys_do_nothing(terminal: tuple[int, int], engine: LiveEngine,
                                                     data: bytes) -> None:
    master, slave = terminal
    keys = Keys(slave)
    told: list[str] = []
    try:
        engine.transport_command("locate", 0.1)
        run_blocks(engine, 1)
        press(master, keys, data)
        assert keys.handle(engine, told.append, follow_transport=True)
        run_blocks(engine, 2)
    finally:
        keys.close()
    assert not keys.pressed and not engine.transport.rolling and engine.transport.position == 4800
    assert told == []


def test_l_without_a_loop_says_how_to_set_one_and_q_quits(terminal: tuple[int, int], engine: LiveEngine) -> None:
    master, slave = terminal
    before = termios.tcgetattr(slave)
    keys = Keys(slave)
    told: list[str] = []
    try:
        assert termios.tcgetattr(slave)[3] & termios.ICANON == 0  # cbreak: keys arrive one by one
        press(master, keys, b"l")
        assert keys.handle(engine, told.append)
        assert told == [NO_LOOP]
        press(master, keys, b"q ", count=2)
        assert not keys.handle(engine, told.append)  # q stops at once: the space after it waits
        assert list(keys.pressed) == [" "]
    finally:
        keys.close()
    assert termios.tcgetattr(slave) == before       # the terminal's mode is given back
