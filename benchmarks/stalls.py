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

A machine can also run slowly without stopping: a virtual CPU that shares its core or its
caches with another guest gets the same work done in twice the time or more.  So each wake
also times a fixed piece of interpreted work, and notes the times it took several times
its usual (median) time.  A late cycle whose callback needed several times its usual CPU
time while the probe's work was slowed as well was the machine's.  So was one whose
callback was kept off the CPU (its duration well over its CPU time) while a probe's wake
was held up too; kept off with every probe on time, it waited for something of mixhost's.
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
UNIT = 400                   # the timed work per wake: 400 turns of an empty loop (~6 us here)
SLOW = 2.5                   # the work taking this many times its median: the machine ran slow

PROBE = r'''
import json, os, signal, sys, time
from array import array
cpu, priority, wake, noted = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
unit, slow = int(sys.argv[5]), float(sys.argv[6])
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
spent, ended = array("d"), array("d")
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
    for _ in range(unit):
        pass
    done = time.monotonic()
    spent.append(done - now)
    ended.append(done)
    due = max(due + wake, now + wake / 2)   # after a stall: on from now, not a burst of catch-up wakes
# the rest (the output, the interpreter's exit) at normal priority: a few ms of it above
# JACK's priority on one CPU would be a stall of the probe's own making
os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
usual = sorted(spent)[len(spent) // 2] if spent else 0.0
slowed = [(e, s / usual) for e, s in zip(ended, spent) if usual and s > slow * usual]
sys.stdout.write(json.dumps({"realtime": realtime, "wakes": wakes, "late": late, "slowed": slowed, "usual": usual}) + "\n")
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
    """What the probes saw: each late wake's due time and lateness (s), and the times the
    timed work ran slow (when it ended, and how many times its median it took), all CPUs."""

    realtime: bool
    wakes: int
    due: np.ndarray
    late: np.ndarray
    slowed_at: np.ndarray
    slowed_by: np.ndarray
    usual_s: float = 0.0     # how long the timed work takes as a rule (the probes' medians, averaged)

    def count(self, at_least_s: float = STALL_S) -> int:
        return int((self.late >= at_least_s).sum())

    def longest_ms(self) -> float:
        return float(self.late.max() * 1000.0) if len(self.late) else 0.0

    def explaining(self, xrun_times: Any, at_least_s: float = STALL_S) -> int:
        """How many of the xruns JACK told of at ``xrun_times`` (time.monotonic) came within
        BEFORE_XRUN_S after a stall of at least ``at_least_s`` ended."""
        return int(self.after_stall(xrun_times, at_least_s).sum())

    def after_stall(self, xrun_times: Any, at_least_s: float = STALL_S) -> np.ndarray:
        """Which of ``xrun_times`` came within BEFORE_XRUN_S after a stall ended."""
        stalls = self.late >= at_least_s
        return _within_after(np.sort(self.due[stalls] + self.late[stalls]), xrun_times)

    def overlapping(self, start: float, end: float) -> bool:
        """Was a probe's wake held up (by NOTED_S or more) at some time from ``start`` to ``end``?"""
        return bool(((self.due < end) & (self.due + self.late > start)).any())

    def slowed_before(self, xrun_times: Any) -> np.ndarray:
        """Which of ``xrun_times`` came within BEFORE_XRUN_S after the probe's work ran slow."""
        return _within_after(np.sort(self.slowed_at), xrun_times)

    def words(self, cycles: int, explained: int) -> str:
        if not self.realtime:
            return "machine stalls not measured (the probe could not run SCHED_FIFO)"
        return (f"{explained} of the {cycles} late cycles came within {BEFORE_XRUN_S * 1000:.0f} ms after a "
                f"machine stall; the probe above JACK's priority saw {self.count()} stalls of {STALL_S * 1000:g} ms or more "
                f"(the longest {self.longest_ms():.1f} ms) in {self.wakes} wakes, and its timed work ran "
                f"{SLOW:g}x slower than usual {len(self.slowed_at)} times")


def _within_after(ends: np.ndarray, times: Any) -> np.ndarray:
    """For each of ``times``: did one of the sorted ``ends`` come at most BEFORE_XRUN_S before it?"""
    times = np.asarray(times, dtype=float)
    if not len(ends):
        return np.zeros(len(times), dtype=bool)
    before = np.searchsorted(ends, times, side="right") - 1     # the last one ended by then
    return (before >= 0) & (times - ends[np.maximum(before, 0)] <= BEFORE_XRUN_S)


WAITED_S = 0.0005            # a callback off the CPU this long while it ran: it waited, or was stopped


@dataclass
class Xruns:
    """A client's xruns in a run: JACK's news of them, the late cycles that news was about,
    and how many of those were the machine's: just after a machine stall; with the callback
    kept off the CPU while a probe's wake was held up too (a stall too short for the first
    rule); or while the machine ran slow (the callback needed several times its usual CPU
    time, and the probe's work was slowed too).  Of the rest, ``waited`` counts those whose
    callback was kept off the CPU with every probe on time: waiting for something of mixhost's."""

    told: int
    cycles: int
    explained: int           # just after a machine stall
    stopped: int = 0         # the callback kept off the CPU while a probe's wake was held up too
    slowed: int = 0          # the machine ran slow
    waited: int = 0          # of the rest: the callback kept off the CPU, every probe on time
    timed: bool = False      # the callbacks' CPU times were there to judge the last three by

    @classmethod
    def of(cls, xrun_times: Any, period_s: float, stalls: Stalls | None, timing: Any = None) -> Xruns:
        cycles = late_cycles(xrun_times, period_s)
        if stalls is None:
            return cls(len(xrun_times), len(cycles), 0)
        after_stall = stalls.after_stall(cycles)
        if timing is None or not np.isfinite(timing.cpu).any():
            return cls(len(xrun_times), len(cycles), int(after_stall.sum()))
        heavy, held_off, kept = _callbacks_before(cycles, period_s, timing, stalls)
        stopped = ~after_stall & held_off
        slowed = ~after_stall & ~stopped & heavy & stalls.slowed_before(cycles)
        waited = ~after_stall & ~stopped & ~slowed & kept
        return cls(len(xrun_times), len(cycles), int(after_stall.sum()), stopped=int(stopped.sum()),
                   slowed=int(slowed.sum()), waited=int(waited.sum()), timed=True)

    @property
    def own(self) -> int:
        """Late cycles that neither a machine stall nor a slow machine explains."""
        return self.cycles - self.explained - self.stopped - self.slowed

    def __str__(self) -> str:
        said = f"{self.cycles} late cycles ({self.told} xrun notices, {self.explained} just after a machine stall"
        if not self.timed:
            return said + ")"
        return said + (f", {self.stopped} with mixhost's callback kept off the CPU while the probe was too, "
                       f"{self.slowed} while the machine ran slow; of the rest, {self.waited} with mixhost's "
                       "callback kept waiting)")


def _callbacks_before(cycles: np.ndarray, period_s: float, timing: Any,
                      stalls: Stalls) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each late cycle (JACK's first notice of it), of the callbacks of the three periods
    before it: did one need SLOW times the run's median CPU time; was one kept off the CPU
    for WAITED_S or more while a probe's wake was held up too (the machine stopped it);
    and was one kept off that long with every probe on time (it waited for something of
    mixhost's: the interpreter lock, say)?"""
    heavy = timing.cpu > SLOW * float(np.nanmedian(timing.cpu))
    off = timing.waited() >= WAITED_S
    starts, ends = timing.starts, timing.starts + timing.durations
    busy, held, kept = (np.zeros(len(cycles), dtype=bool) for _ in range(3))
    for index, at in enumerate(cycles):       # a few late cycles a minute: no hot loop
        near = (starts >= at - 3 * period_s) & (starts <= at)
        busy[index] = bool(heavy[near].any())
        for start, end in zip(starts[near & off], ends[near & off], strict=True):
            if stalls.overlapping(start, end):
                held[index] = True
            else:
                kept[index] = True
    return busy, held, kept


class StallProbe:
    """Run the probes for the length of a ``with`` block; ``result`` holds what they saw."""

    def __init__(self) -> None:
        self.result: Stalls | None = None
        self._processes: list[subprocess.Popen[str]] = []

    def __enter__(self) -> StallProbe:
        for cpu in sorted(os.sched_getaffinity(0)):
            process = subprocess.Popen([sys.executable, "-I", "-S", "-c", PROBE, str(cpu), str(PROBE_PRIORITY), str(WAKE_S),
                                        str(NOTED_S), str(UNIT), str(SLOW)], stdout=subprocess.PIPE, text=True)
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
        slowed = [pair for s in seen for pair in s["slowed"]]
        self.result = Stalls(all(s["realtime"] for s in seen), sum(s["wakes"] for s in seen),
                             np.array([d for d, _ in late]), np.array([x for _, x in late]),
                             np.array([e for e, _ in slowed]), np.array([f for _, f in slowed]),
                             float(np.mean([s["usual"] for s in seen])))
