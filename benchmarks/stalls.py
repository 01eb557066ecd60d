"""Machine stalls: times when this machine ran none of its realtime threads, whoever's.

A virtual machine's CPUs are themselves threads of the host: when the host runs something
else, every thread on that CPU stops, whatever its priority, and JACK's server and clients
with it.  Such a stall costs an xrun that no client caused.  JACK tells every client of
every xrun, so a second idle client in the same run counts the same xruns and cannot
tell them apart.  This probe can: one process per CPU, pinned there, SCHED_FIFO above JACK's
priority (nothing of JACK's or mixhost's can delay it), wakes every millisecond and notes
each wake that came late, with its time on the system-wide monotonic clock.

``cyclictest`` (rt-tests) measures the same; this probe also says *when*, so that each of
mixhost's xruns can be set against the stalls just before it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

PROBE_PRIORITY = 90          # above jackd -P 70 and its clients
WAKE_S = 0.001
NOTED_S = 0.0005             # a wake this late is noted
STALL_S = 0.001              # ... and this late counts as a stall
BEFORE_XRUN_S = 0.010        # JACK's news of an xrun this soon after a stall ended: the stall's (seen: 0.7-3 ms)

PROBE = r'''
import json, os, signal, sys, time
cpu, priority, wake, noted = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
os.sched_setaffinity(0, {cpu})
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    realtime = True
except OSError:
    realtime = False
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
late = []
wakes = 0
sys.stdout.write("ready\n"); sys.stdout.flush()
due = time.monotonic() + wake
while not stop:
    pause = due - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    now = time.monotonic()
    wakes += 1
    if now - due > noted:
        late.append((due, now - due))
    due = max(due + wake, now + wake / 2)   # after a stall: on from now, not a burst of catch-up wakes
# the rest (the output, the interpreter's exit) at normal priority: a few ms of it above
# JACK's priority on one CPU would be a stall of the probe's own making
os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
sys.stdout.write(json.dumps({"realtime": realtime, "wakes": wakes, "late": late}) + "\n")
'''


def late_cycles(xrun_times: Any, period_s: float) -> np.ndarray:
    """JACK's xrun news grouped by the cycle it is about: the first time of each group.

    A server that finds several clients unfinished when a cycle begins tells every client
    once per unfinished client (JackEngine::CheckXRun), so one late cycle arrives as a burst;
    news of two late cycles comes at least a period apart.  Counted this way, mixhost's two
    clients (the engine and its MIDI gate) count a late cycle once, as an idle client does."""
    times = np.sort(np.asarray(xrun_times, dtype=float))
    return times[np.diff(times, prepend=-np.inf) > period_s / 2]


@dataclass
class Stalls:
    """What the probes saw: each late wake's due time and lateness (s), per CPU."""

    realtime: bool
    wakes: int
    due: np.ndarray
    late: np.ndarray

    def count(self, at_least_s: float = STALL_S) -> int:
        return int((self.late >= at_least_s).sum())

    def longest_ms(self) -> float:
        return float(self.late.max() * 1000.0) if len(self.late) else 0.0

    def explaining(self, xrun_times: Any, at_least_s: float = STALL_S) -> int:
        """How many of the xruns JACK told of at ``xrun_times`` (time.monotonic) came within
        BEFORE_XRUN_S after a stall of at least ``at_least_s`` ended."""
        stalls = self.late >= at_least_s
        ends = np.sort(self.due[stalls] + self.late[stalls])
        times = np.asarray(xrun_times, dtype=float)
        if not len(ends):
            return 0
        before = np.searchsorted(ends, times, side="right") - 1     # the last stall ended by then
        return int(((before >= 0) & (times - ends[np.maximum(before, 0)] <= BEFORE_XRUN_S)).sum())

    def words(self, cycles: int, explained: int) -> str:
        if not self.realtime:
            return "machine stalls not measured (the probe could not run SCHED_FIFO)"
        return (f"{explained} of the {cycles} late cycles came within {BEFORE_XRUN_S * 1000:.0f} ms after a "
                f"machine stall; the probe above JACK's priority saw {self.count()} stalls of {STALL_S * 1000:g} ms or more "
                f"(the longest {self.longest_ms():.1f} ms) in {self.wakes} wakes")


@dataclass
class Xruns:
    """A client's xruns in a run: JACK's news of them, the late cycles that news was about,
    and how many of those came just after a machine stall."""

    told: int
    cycles: int
    explained: int

    @classmethod
    def of(cls, xrun_times: Any, period_s: float, stalls: Stalls | None) -> Xruns:
        cycles = late_cycles(xrun_times, period_s)
        return cls(len(xrun_times), len(cycles), stalls.explaining(cycles) if stalls is not None else 0)

    @property
    def own(self) -> int:
        """Late cycles no machine stall explains."""
        return self.cycles - self.explained

    def __str__(self) -> str:
        return f"{self.cycles} late cycles ({self.told} xrun notices, {self.explained} just after a machine stall)"


class StallProbe:
    """Run the probes for the length of a ``with`` block; ``result`` holds what they saw."""

    def __init__(self) -> None:
        self.result: Stalls | None = None
        self._processes: list[subprocess.Popen[str]] = []

    def __enter__(self) -> StallProbe:
        for cpu in sorted(os.sched_getaffinity(0)):
            process = subprocess.Popen([sys.executable, "-I", "-S", "-c", PROBE, str(cpu), str(PROBE_PRIORITY), str(WAKE_S),
                                        str(NOTED_S)], stdout=subprocess.PIPE, text=True)
            self._processes.append(process)
        for process in self._processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        seen = []
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            out, _ = process.communicate(timeout=10)
            seen.append(json.loads(out))
        late = [pair for s in seen for pair in s["late"]]
        self.result = Stalls(all(s["realtime"] for s in seen), sum(s["wakes"] for s in seen),
                             np.array([d for d, _ in late]), np.array([x for _, x in late]))
