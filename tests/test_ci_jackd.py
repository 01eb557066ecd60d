"""`.ci/jackd.sh run`, through which `make test` runs pytest: JACK servers of the run's own.

A decoy server stands for one already running under the default name (a desktop's
PipeWire JACK, a studio's jackd): the shell's JACK_DEFAULT_SERVER names it.  The command
the script runs must see servers of the run's own, open its clients there and never on the
decoy; when the command ends, fails or is interrupted, the run's servers are gone and the
decoy runs on.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jack  # JACK-Client is a test dependency
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "jackd.sh"

# Opens a client on the default server, says what it sees, and holds until its stdin closes.
PROBE = """
import json, os, sys
import jack
client = jack.Client("mixhost-probe", no_start_server=True)
client.inports.register("in")
client.activate()
print(json.dumps({key: os.environ.get(key) for key in
      ("JACK_DEFAULT_SERVER", "MIXHOST_JACK_SERVER", "MIXHOST_JACK_SERVER_RT", "MIXHOST_JACK_SERVER_RT_MISSING")}),
      flush=True)
sys.stdin.read()
sys.exit(int(sys.argv[1]))
"""


def _server_pids(name: str) -> list[int]:
    """The jackd processes serving under ``name`` (from their command lines)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"jackd") and b"-n" in argv and argv[argv.index(b"-n") + 1:][:1] == [name.encode()]:
            found.append(int(entry.name))
    return found


def _realtime_threads(pid: int) -> int:
    """How many threads of ``pid`` run under SCHED_FIFO or SCHED_RR."""
    count = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            count += os.sched_getscheduler(int(task.name)) in (os.SCHED_FIFO, os.SCHED_RR)
        except OSError:
            continue
    return count


def _ports(server: str) -> set[str]:
    client = jack.Client(f"look-{os.getpid()}", no_start_server=True, servername=server)
    try:
        return {p.name for p in client.get_ports()}
    finally:
        client.close()


@pytest.fixture
def decoy(tmp_path: Path) -> Iterator[str]:
    """A server someone else started, under what the shell calls the default name."""
    if shutil.which("jackd") is None and not os.environ.get("CI"):
        pytest.skip("jackd is not installed")
    name = f"mixhost-decoy-{os.getpid()}"
    # the decoy dies with this process, should it die before the fixture's clean-up
    deathsig = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
    with (tmp_path / "decoy.log").open("w") as log:
        server = subprocess.Popen([*deathsig, "jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000",
                                   "-p", "256"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                _ports(name)
                break
            except jack.JackError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "decoy.log").read_text()
                time.sleep(0.1)
        yield name
        assert server.poll() is None, "the decoy server was stopped"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _start_run(tmp_path: Path, decoy: str, code: int, *, env: dict[str, str] | None = None,
               wrap: list[str] | None = None) -> subprocess.Popen[str]:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    environment = {**os.environ, "JACK_DEFAULT_SERVER": decoy, **(env or {})}
    for key in ("MIXHOST_JACK_SERVER", "MIXHOST_JACK_SERVER_RT", "MIXHOST_JACK_SERVER_RT_MISSING"):
        environment.pop(key, None)     # what the outer run set must not leak into the inner one
    return subprocess.Popen([*(wrap or []), "bash", str(SCRIPT), "run", sys.executable, str(probe), str(code)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment, start_new_session=True)


def _finish(run: subprocess.Popen[str]) -> tuple[int, str]:
    """The run's exit status and what it said (it says little: no pipe fills up meanwhile)."""
    assert run.stderr is not None
    run.wait(timeout=30)
    return run.returncode, run.stderr.read()


@pytest.mark.parametrize(("end", "code", "status"), [
    ("exit", 0, 0),          # the tests pass
    ("exit", 3, 3),          # they fail: the status is pytest's
    ("ctrl-c", 0, 130),      # interrupted
])
def test_a_run_has_servers_of_its_own_and_stops_only_those(tmp_path: Path, decoy: str, end: str, code: int,
                                                           status: int) -> None:
    run = _start_run(tmp_path, decoy, code)
    assert run.stdout is not None and run.stdin is not None
    line = run.stdout.readline()
    assert line, _finish(run)
    seen = json.loads(line)
    own, realtime = seen["JACK_DEFAULT_SERVER"], seen["MIXHOST_JACK_SERVER_RT"]
    # the command's default server is the run's own, not the decoy, and its client is there
    assert own == seen["MIXHOST_JACK_SERVER"] and own != decoy and own.startswith("mixhost-run-")
    assert "mixhost-probe:in" in _ports(own)
    assert not any(port.startswith("mixhost-probe") for port in _ports(decoy))
    # the realtime server's threads really run realtime (jackd -R without the right runs without it)
    missing = seen["MIXHOST_JACK_SERVER_RT_MISSING"]   # said only where the machine cannot (and not in CI)
    assert bool(realtime) is not bool(missing)
    assert [_realtime_threads(pid) > 0 for pid in _server_pids(own)] == [False]
    if realtime:
        assert realtime != own and [_realtime_threads(pid) > 0 for pid in _server_pids(realtime)] == [True]
    if end == "ctrl-c":
        os.killpg(run.pid, signal.SIGINT)   # as a terminal's Ctrl-C: the whole foreground group
    else:
        run.stdin.close()
    returned, stderr = _finish(run)
    assert returned == status, stderr
    assert not _server_pids(own) and not _server_pids(f"{own}-rt")
    assert "mixhost-probe" not in " ".join(_ports(decoy))
    if missing:
        pytest.skip(missing)


def _without_realtime_rights() -> list[str]:
    """A command prefix that takes away the right to realtime scheduling (root's CAP_SYS_NICE;
    the rtprio limit is set to 0 in the child)."""
    if os.geteuid() == 0:
        return ["setpriv", "--inh-caps=-sys_nice", "--bounding-set=-sys_nice", "--"]
    if resource.getrlimit(resource.RLIMIT_RTPRIO)[1] == 0:
        return []
    reason = "this user may raise its rtprio limit: cannot take the right to realtime scheduling away"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.parametrize("ci", [False, True])
def test_without_realtime_scheduling_a_run_says_so_and_ci_fails(tmp_path: Path, decoy: str, ci: bool) -> None:
    wrap = ["prlimit", "--rtprio=0", *_without_realtime_rights()]
    run = _start_run(tmp_path, decoy, 0, env={"CI": "1" if ci else ""}, wrap=wrap)
    assert run.stdout is not None and run.stdin is not None
    line = run.stdout.readline()
    if ci:
        returned, stderr = _finish(run)
        assert not line and returned == 1
        assert "does not grant realtime scheduling" in stderr and "CI must test" in stderr
    else:
        seen = json.loads(line)
        assert seen["MIXHOST_JACK_SERVER_RT"] == "" and "realtime scheduling" in seen["MIXHOST_JACK_SERVER_RT_MISSING"]
        run.stdin.close()
        returned, stderr = _finish(run)
        assert returned == 0 and "the realtime-server tests are skipped" in stderr
    base = f"mixhost-run-{run.pid}"
    assert not _server_pids(base) and not _server_pids(f"{base}-rt")
