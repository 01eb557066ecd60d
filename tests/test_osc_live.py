"""`mixhost live --osc`: the server in the real command, past the session's end, and its option checks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from osc_helpers import Peer
from test_live_helpers import make_session
from waiting import wait_for

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}


def test_live_with_osc_keeps_running_past_the_end_and_answers(tmp_path: Path) -> None:
    path = make_session(tmp_path, 0.5)
    port = _free_port()
    live = subprocess.Popen([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--no-status",
                             "--osc", "--osc-port", str(port), "--no-zeroconf"],
                            stderr=subprocess.PIPE, text=True, env=_env())
    peer = None
    try:
        assert live.stderr is not None
        wait_for(lambda: "OSC surface on udp 127.0.0.1:" in live.stderr.readline(), 60.0, "the OSC surface")
        peer = Peer(port)
        time.sleep(1.5)                                   # three times the session's length: still running
        assert live.poll() is None
        assert peer.ask("/transport/play") == [0]         # stopped at the end, not gone
        peer.send("/tracks/noise/gain_db", -9.0)
        assert peer.ask("/tracks/noise/gain_db") == [-9.0]
        live.send_signal(signal.SIGINT)
        assert live.wait(timeout=20) == 130
    finally:
        if peer is not None:
            peer.close()
        if live.poll() is None:
            live.kill()


@pytest.mark.parametrize(("args", "message"), [
    (["--osc-port", "9100"], "--osc-port configures the OSC server; it needs --osc"),
    (["--osc", "--osc-allow", "lan"], "--osc-allow 'lan' is no network"),
    (["--osc", "--osc-bind", "tablet"], "--osc-bind 'tablet' is no IP address"),
    (["--osc", "--osc-port", "70000"], "--osc-port 70000"),
])
def test_bad_osc_options_exit_2_before_playing(tmp_path: Path, args: list[str], message: str) -> None:
    path = make_session(tmp_path, 0.5)
    run = subprocess.run([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--no-status",
                          "--duration", "0.2", *args], capture_output=True, text=True, env=_env(), timeout=120)
    assert run.returncode == 2 and message in " ".join(run.stderr.split())
    assert "Traceback" not in run.stderr


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    path = make_session(tmp_path, 0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--no-status",
                              "--duration", "0.2", "--osc", "--osc-port", str(port)],
                             capture_output=True, text=True, env=_env(), timeout=120)
    assert run.returncode == 2 and "cannot listen on udp" in run.stderr and "Traceback" not in run.stderr
