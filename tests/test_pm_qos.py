"""The PM QoS request `mixhost live` holds while it plays to a device (host.pm_qos).

The kernel's aggregate bound is read back from the real /dev/cpu_dma_latency:
a held request shows there as 0 us, and closing it restores what was there.
Writing the device needs root, which CI has; elsewhere these tests are skipped.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from test_live_helpers import make_session

import host
from host.errors import UserInputError
from host.live.engine import LiveEngine
from host.pm_qos import DEVICE, CpuLatencyRequest, _why, current_target_us

if sys.platform != "linux" or not os.access(DEVICE, os.W_OK):
    if os.environ.get("CI"):
        pytest.fail(f"CI must be able to write {DEVICE} (run as root)", pytrace=False)
    pytest.skip(f"{DEVICE} is not writable here", allow_module_level=True)


def test_a_held_request_bounds_the_wake_up_latency_until_released() -> None:
    before = current_target_us()
    assert before is not None and before > 0   # nobody else holds one (the default is 2000 s)
    with CpuLatencyRequest(0) as request:
        assert request.held and "held" in request.reason
        assert current_target_us() == 0
        assert request.hold()                  # holding again changes nothing
    assert not request.held
    assert current_target_us() == before


def test_a_target_above_zero_is_what_the_kernel_sees() -> None:
    with CpuLatencyRequest(25):
        assert current_target_us() == 25
        with CpuLatencyRequest(0):             # the strictest request in force wins
            assert current_target_us() == 0
        assert current_target_us() == 25


@pytest.mark.parametrize(("make", "expected"), [
    (lambda tmp: tmp / "absent", "does not exist"),
    (lambda tmp: tmp, "Is a directory"),
])
def test_a_request_that_cannot_be_made_says_why(tmp_path: Path, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    request = CpuLatencyRequest(0, device=make(tmp_path))
    assert not request.hold()
    assert not request.held
    assert expected in request.reason and request.reason.startswith("not held")
    request.release()                          # releasing what was never held is harmless


def test_no_permission_names_the_fix() -> None:
    assert "udev rule" in _why(DEVICE, PermissionError(13, "Permission denied"))


def test_a_negative_target_is_refused() -> None:
    with pytest.raises(UserInputError, match="0 us or more"):
        CpuLatencyRequest(-1)


@pytest.mark.parametrize(("backend", "keep", "held"), [
    ("jack", None, True),          # a real device: held by default
    ("sounddevice", None, True),   # PortAudio (here on its JACK host API, the device "system")
    ("jack", False, False),        # --allow-cpu-sleep
    ("none", None, False),         # a clock, no deadlines: power management is left alone
])
def test_the_live_engine_holds_it_while_playing(tmp_path: Path, request: pytest.FixtureRequest, backend: str,
                                                keep: bool | None, held: bool) -> None:
    if backend != "none":
        request.getfixturevalue("jack_default")   # the run's own server (see conftest)
    before = current_target_us()
    session = host.load_session(make_session(tmp_path, 1.0))
    options = {"jack": {"client_name": f"mixhost-qos-{os.getpid()}", "auto_connect": False},
               "sounddevice": {"device": "system"}}.get(backend, {})
    block = None if backend == "jack" else 128   # the server `make test` starts runs 128-frame periods
    engine = LiveEngine(session, block, backend, keep_cpu_awake=keep, **options)
    try:
        engine.start()
        assert (current_target_us() == 0) is held
        assert (engine.cpu_request is not None and engine.cpu_request.held) is held
    finally:
        engine.close()
    assert current_target_us() == before


@pytest.mark.parametrize(("workers", "held"), [(2, True), (1, False)])
def test_a_render_on_several_processes_holds_it_while_they_run(tmp_path: Path, workers: int, held: bool) -> None:
    """One process has nobody to wait for: power management is left alone."""
    before = current_target_us()
    seen: set[int | None] = set()
    session = host.load_session(make_session(tmp_path, 3.0))
    result = session.render(workers=workers, progress=lambda done, total: seen.add(current_target_us()))
    assert result.workers == workers and result.peak_dbfs > -40
    assert seen == ({0} if held else {before})
    assert current_target_us() == before


@pytest.mark.parametrize(("device", "warned"), [
    ("absent", False),   # no PM QoS here (macOS, Windows): nothing the user could do
    (".", True),         # the device is there but cannot be written: say how to fix it
])
def test_the_live_command_warns_only_where_the_request_could_be_granted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], device: str, warned: bool) -> None:
    from host.cli.live import _report_cpu_request

    session = host.load_session(make_session(tmp_path, 1.0))
    engine = LiveEngine(session, 128, "none", keep_cpu_awake=True)
    engine.cpu_request = CpuLatencyRequest(0, device=tmp_path / device)
    assert not engine.cpu_request.hold()
    _report_cpu_request(engine)
    text = " ".join(capsys.readouterr().err.split())
    assert ("CPU sleep states stay on" in text) is warned
    if warned:
        assert "--allow-cpu-sleep" in text
