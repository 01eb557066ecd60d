"""The benchmarks' machine-stall probe (benchmarks/stalls.py): the xrun rows' verdict rests on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from stalls import BEFORE_XRUN_S, SLOW, WAITED_S, StallProbe, Stalls, Xruns, late_cycles  # noqa: E402

from host.live.engine import CallbackTiming  # noqa: E402

PERIOD_S = 128 / 48_000


@pytest.mark.parametrize(("times", "cycles"), [
    ([], 0),
    ([5.0], 1),
    ([5.0, 5.0001, 5.0003], 1),                      # one late cycle, three unfinished clients
    ([5.0, 5.0 + PERIOD_S, 5.0 + 2 * PERIOD_S], 3),  # three late cycles in a row
    ([5.0002, 5.0, 7.0], 2),                         # out of order: sorted first
])
def test_jacks_news_is_counted_by_the_late_cycle(times: list[float], cycles: int) -> None:
    assert len(late_cycles(times, PERIOD_S)) == cycles


def _stalls(*pairs: tuple[float, float], slowed: tuple[float, ...] = ()) -> Stalls:
    return Stalls(True, 1000, np.array([due for due, _ in pairs]), np.array([late for _, late in pairs]),
                  np.array(slowed), np.full(len(slowed), 2 * SLOW))


@pytest.mark.parametrize(("xrun_at", "explained"), [
    (1.003 + 0.0007, True),                  # news 0.7 ms after the stall ended
    (1.003 + BEFORE_XRUN_S * 0.99, True),
    (1.003 + BEFORE_XRUN_S * 1.5, False),    # too long after
    (1.002, False),                          # before the stall ended: not news of it
    (3.0, False),
])
def test_an_xrun_is_the_machines_only_just_after_a_stall(xrun_at: float, explained: bool) -> None:
    stalls = _stalls((1.0, 0.003), (2.0, 0.0006))   # 3 ms from 1.000 s; a 0.6 ms wake, not a stall
    assert stalls.explaining([xrun_at]) == int(explained)
    late = Xruns.of([xrun_at, xrun_at + 0.0001], PERIOD_S, stalls)
    assert (late.told, late.cycles, late.own) == (2, 1, 0 if explained else 1)


def _callbacks(last_cpu: float, last_duration: float, count: int = 200) -> CallbackTiming:
    """``count`` callbacks a period apart that ended at 5.0 s: each used 0.4 ms of CPU in
    0.4 ms, but the last, which used ``last_cpu`` in ``last_duration``."""
    starts = 5.0 - PERIOD_S * np.arange(count)[::-1] - 0.0004
    durations = np.full(count, 0.0004)
    cpu = np.full(count, 0.0004)
    durations[-1], cpu[-1] = last_duration, last_cpu
    return CallbackTiming(durations, starts, np.zeros(count), np.full(count, -1), cpu)


@pytest.mark.parametrize(("last_cpu", "last_duration", "probe_slowed_at", "slowed", "waited"), [
    (0.0004 * SLOW * 2, 0.0004 * SLOW * 2, (4.999,), 1, 0),    # heavy callback, the probe slowed: the machine's
    (0.0004 * SLOW * 2, 0.0004 * SLOW * 2, (4.9,), 0, 0),      # ... but the probe ran at speed then: mixhost's
    (0.0004 * SLOW * 2, 0.0004 * SLOW * 2, (), 0, 0),
    (0.0004, 0.0004 + 2 * WAITED_S, (4.999,), 0, 1),          # usual work, kept waiting: mixhost's, whatever the probe saw
    (0.0004, 0.0004, (4.999,), 0, 0),
])
def test_a_late_cycle_is_the_slow_machines_only_if_the_callback_needed_more_cpu_then(
        last_cpu: float, last_duration: float, probe_slowed_at: tuple[float, ...], slowed: int, waited: int) -> None:
    late = Xruns.of([5.0008], PERIOD_S, _stalls(slowed=probe_slowed_at), _callbacks(last_cpu, last_duration))
    assert (late.cycles, late.explained, late.slowed, late.waited, late.own) == (1, 0, slowed, waited, 1 - slowed)


@pytest.mark.parametrize(("held_up", "stopped", "waited"), [
    ((4.9995, 0.0007), 1, 0),    # a probe's wake 0.7 ms late while the callback was off the CPU: the machine
    ((4.99, 0.0007), 0, 1),      # ... long before it: the callback waited for something of mixhost's
])
def test_a_callback_kept_off_the_cpu_is_the_machines_only_if_the_probe_was_held_up_then(
        held_up: tuple[float, float], stopped: int, waited: int) -> None:
    late = Xruns.of([5.0008], PERIOD_S, _stalls(held_up), _callbacks(0.0004, 0.0004 + 2 * WAITED_S))
    assert (late.explained, late.stopped, late.waited, late.own) == (0, stopped, waited, 1 - stopped)


def test_a_backend_without_cpu_times_leaves_the_slow_rule_out() -> None:
    timing = _callbacks(0.01, 0.01)
    timing.cpu[:] = np.nan
    late = Xruns.of([5.0008], PERIOD_S, _stalls(slowed=(4.999,)), timing)
    assert (late.slowed, late.own) == (0, 1)


def test_a_wake_under_a_millisecond_late_is_no_stall() -> None:
    stalls = _stalls((2.0, 0.0006))
    assert stalls.count() == 0 and stalls.explaining([2.0008]) == 0


# Takes a CPU above the probe's priority: whole for SECONDS, or (BURST > 0) BURST s at a time
# with short sleeps between.  Arguments: CPU SECONDS [BURST]
HOG = r'''
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(99))
end = time.perf_counter() + float(sys.argv[2])
burst = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
while time.perf_counter() < end:
    until = min(end, time.perf_counter() + burst) if burst else end
    while time.perf_counter() < until:
        pass
    if burst:
        time.sleep(0.00005)
os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
'''


def test_the_probe_sees_a_cpu_taken_from_it_and_when() -> None:
    """A thread above the probe's priority keeps CPU 0 for 30 ms: the probe pinned there wakes
    about that late, at about that time; the wakes go on at 1 kHz per CPU otherwise.  Both
    need SCHED_FIFO (root, or an rtprio limit of 99), as the benchmarks' realtime rows do."""
    with StallProbe() as probe:
        time.sleep(0.2)
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", HOG, "0", "0.03"], check=True)
        ended = time.monotonic()
        time.sleep(0.2)
    seen = probe.result
    assert seen is not None and seen.realtime
    cpus = len(os.sched_getaffinity(0))   # one probe per CPU
    assert seen.wakes > 0.3 * 1000 * cpus
    longest = int(np.argmax(seen.late))
    assert 0.02 <= seen.late[longest] <= 0.2
    assert began <= seen.due[longest] <= ended
    assert seen.explaining([seen.due[longest] + seen.late[longest] + 0.001]) == 1


def test_the_probe_sees_its_cpu_run_slow_and_when() -> None:
    """A thread above the probe's priority takes CPU 0 for 60 us at a time, every ~0.1 ms,
    for 3 s: no wake is a millisecond late, but the probe's timed work there is often cut
    into and takes 60 us or more, several times its usual time, at about that time."""
    with StallProbe() as probe:
        time.sleep(0.75)
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", HOG, "0", "3.0", "0.00006"], check=True)
        ended = time.monotonic()
        time.sleep(0.75)
    seen = probe.result
    assert seen is not None and seen.realtime
    during = (seen.slowed_at >= began) & (seen.slowed_at <= ended)
    # a cut of 60 us makes the ~6-8 us of work take ~8-10x as long (by its time, not a factor:
    # the factor follows the work's median, which moves with the machine); the machine's own
    # slowing, which the probe is for and which the 0.75 s before and after also have, is mostly less
    cut = seen.slowed_by * seen.usual_s >= 0.00005
    assert (seen.slowed_by >= SLOW).all()
    assert (during & cut).sum() >= 30                    # of ~3000 wakes on CPU 0 then (26-110 a 1.5 s seen)
    assert (~during & cut).sum() <= (during & cut).sum() / 4
