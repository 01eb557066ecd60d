"""Shared fixtures: generated audio and session files written into a temp folder, and the
run's JACK servers."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 48000


def tone(freq: float = 1000.0, seconds: float = 1.0, amp: float = 0.5, sr: int = SR,
         channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t)
    return x if channels == 1 else np.stack([x] * channels, axis=1)


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x)))))


@pytest.fixture
def write_audio(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, data: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data, sr, subtype=subtype)
        return path

    return write


@pytest.fixture
def write_session(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "session.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


def read_mix(path: Path) -> np.ndarray:
    data, _ = sf.read(path, always_2d=True)
    return data


# -- JACK ----------------------------------------------------------------------------------------
# `make test` runs pytest through `.ci/jackd.sh run`, which starts two dummy servers of the run's
# own (never one that was running already) and names them in these variables.
# libjack keeps one set of process-wide state for the server its first client reached (and
# PortAudio's JACK client stays open): clients of two servers in one process corrupted each
# other's ports.  So one pytest process tests one kind, and `make test` runs the JACK tests
# again in a second process on the realtime server (MIXHOST_JACK_KIND=realtime).
JACK_KINDS = (os.environ.get("MIXHOST_JACK_KIND", "no-realtime"),)
HOW_TO_RUN = "run the tests through `make test` (or `bash .ci/jackd.sh run python -m pytest ...`)"


def jack_server_name(kind: str) -> str:
    """The run's server of one kind; fails (skips the realtime kind where the machine cannot
    grant realtime scheduling, unless CI is set) when the run has none."""
    if kind == "no-realtime":
        # JACK_DEFAULT_SERVER alone: a server a developer started for a run by hand; the
        # server under the default name (a desktop's) is never taken
        name = os.environ.get("MIXHOST_JACK_SERVER") or os.environ.get("JACK_DEFAULT_SERVER")
        if not name or name == "default":
            pytest.fail(f"no JACK server of this run's own: {HOW_TO_RUN}", pytrace=False)
        return name
    name = os.environ.get("MIXHOST_JACK_SERVER_RT", "")
    if name:
        return name
    why = os.environ.get("MIXHOST_JACK_SERVER_RT_MISSING") or f"no realtime JACK server: {HOW_TO_RUN}"
    if os.environ.get("CI"):
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@pytest.fixture(params=JACK_KINDS)
def jack_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each JACK test runs twice, in two pytest processes: on the run's ``--no-realtime`` server
    and on its realtime one (``jackd -R``, as studios run it).  The chosen server is the default one for the
    test, the clients it opens and the commands it runs."""
    name = jack_server_name(request.param)
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    _reconnect_portaudio()
    return name


@pytest.fixture
def jack_default(monkeypatch: pytest.MonkeyPatch) -> str:
    """The run's ``--no-realtime`` server, for tests that need a server but are not about it."""
    name = jack_server_name("no-realtime")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    _reconnect_portaudio()
    return name


def _reconnect_portaudio() -> None:
    """PortAudio's JACK host API connects to the default server when it is initialised: make
    it connect again, to this test's.  (sounddevice documents these two calls for rescanning.)"""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


def pytest_configure(config: pytest.Config) -> None:
    """A run started as a background job of a shell without job control inherits SIGINT
    ignored (POSIX), and Python then installs no KeyboardInterrupt handler; the tests that
    interrupt a command, in this process or in a child it starts, need Ctrl-C back."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
