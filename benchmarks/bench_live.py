"""Live engine on the dummy JACK server: xruns, callback time, control latency.

Load (issue 6): 8 tracks, each with an EQ and a compressor; a master
limiter; one VST3 plugin from ``MIXHOST_PLUGIN_DIR``.  When the limiter stage
or the plugin is missing the session is played without it, but every row is
marked not ok: the figures are not for the required load.  For each period
(128 and 256 frames at 48 kHz) and each kind of server, a private dummy JACK
server is started, ``--no-realtime`` and then ``-R`` (realtime scheduling,
as studios run JACK; where the machine does not grant it, its rows say so
and are not ok), and ``LiveEngine`` plays the session through the ``jack``
backend for 60 s (quick: 10 s) while a control thread sets parameters every
20 ms through the Python API: faders, compressor thresholds and EQ gains.

Reference measured in the same run: an idle JACK client on the same server,
for as long as the measurement, first, so the xrun row says how many xruns
the machine produces with nothing to do.  Like ``mixhost live``, the
reference holds a PM QoS request that keeps the CPUs out of sleep states
(:mod:`host.pm_qos`), so both run on the machine set up the same way.
(The dummy server started with ``--no-realtime`` runs its own cycle at normal
priority: at 128 frames on this VM an idle client saw 1 to 20 xruns in 30 s
without the request (four runs), and 0 to 18 in 60 s with it (six runs),
most of them the server's own late cycles; how many varies from one minute
to the next.)

The row also says who caused each xrun.  The server's log names two kinds:
its own cycle began more than a period late (``JackTimedDriver::Process
XRun``: no client can prevent it), or a client had not finished when the
next cycle began (``JackEngine::XRun``).  The dummy driver keeps an absolute
schedule, so after a late wake it catches up with a period cut short; the
callbacks' own timing (start, lateness, duration) tells a mixhost callback
that overran such a period from one that took longer than a whole period.

And the row says which xruns the machine made (``stalls.py``).  JACK tells
every client of every xrun, once per client it found unfinished, so a second
idle client in the same run would count mixhost's xruns as its own.  Instead,
a probe above JACK's priority, one process pinned to each CPU, notes when the
VM ran none of its realtime threads: a late cycle whose news came within
10 ms after such a stall ended is the machine's.  On 2026-12-07, in five 10-s
MIDI runs under ``jackd -R`` at 128 frames, JACK's news of each of 6 xruns came
0.7-1.6 ms after a stall of 1.4-6.9 ms; in a 60-s run of each mode here, all 6
late cycles came within 10 ms after one.  The probe alone, on the quiet
machine, saw 36 stalls of 2 ms or more in 30 s, the longest 9 ms.

* ``live.xruns.pN``: xruns while mixhost plays (target 0, but for late cycles
  just after a machine stall; --ahead's dropouts always count);
* ``live.entry.pN``: p99 of how long after its cycle began the callback ran
  (JACK's cycle times: the wake-up, and for a Python callback the wait for
  the GIL), against the idle client's p99 (target: at most twice); p50, p99
  and max of both in detail, the cycles JACK ran without the callback, and
  how often JACK's thread slept beyond once a cycle (its waits for the GIL);
* ``live.callback.pN``: p99 callback time / 50 % of the period (p50 in detail);
* ``live.control.pN``: p99 set-to-carrying-block latency / (period + 1 ms).

The realtime server's rows are ``live.rt.*``; ``BENCH_ARGS="--only live"``
runs only this module.

Before mixhost held the PM QoS request, most of what was left on this VM came
from the VM.  Under ``perf record -e cpu-clock`` (4 kHz, two 60 s runs at 256
frames), 7 of the 8 callbacks over 60 % of the period held a gap of 1.4-7.9 ms
in which their CPU took no timer sample.  In the run that also recorded
``sched:sched_switch`` system-wide, the callback was not switched out during
the gap, the other CPU sampled at its full rate, and nothing else ran on the
silent CPU: the virtual CPU had stopped with the callback on it.  Keeping idle
CPUs polling instead of halting made those stalls rare (a guess at why: a
halted virtual CPU lets the hypervisor give its physical CPU away).

Each period is played twice: with the render in JACK's process callback
(``mixhost live``'s default), and rendered ahead (``--ahead N``, N periods
covering ``AHEAD_S``), where JACK's thread runs a compiled callback and no
Python.  The second set of rows, ``live.ahead.*.pN``, counts as xruns the
server's and the cycles the render thread had no block ready for; its
entry delay is the compiled callback's (a wake-up with no GIL to wait for);
its callback time is the render of a block; its control latency is when the
move is heard, the carrying block's render plus the N periods it waits.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from run import row
from sessions import write_stem
from stalls import StallProbe, Xruns

SR = 48_000
PERIODS = (128, 256)
TRACKS = 8
SET_INTERVAL_S = 0.02
AHEAD_S = 0.010     # how much rendering ahead the --ahead runs get (4 periods at 128 frames, 2 at 256)
SERVER_PRIORITY = 70   # jackd -R -P: JACK's default realtime priority on Linux
KINDS = ("no-realtime", "realtime")
PLUGIN = "3BandEQ.vst3"
CLIENT = "mixhost-bench"
# what the control thread moves: a mix engineer's rides (faders, compressor thresholds, EQ gains)
MOVED = ("gain_db", "comp/threshold_db", "eq/band2_gain_db")


def plugin_path() -> Path | None:
    folder = Path(os.environ.get("MIXHOST_PLUGIN_DIR", Path.home() / ".cache" / "mixhost" / "test-plugins"))
    path = folder / PLUGIN
    return path if path.is_dir() else None


def write_session(folder: Path, seconds: float) -> tuple[Path, list[str], list[str]]:
    """The benchmark session; returns its path, what it holds (for the detail column) and
    what of the required load is missing."""
    from host.stages import stage_types

    (folder / "stems").mkdir(parents=True, exist_ok=True)
    frames = int(seconds * SR)
    notes = [f"{TRACKS} tracks x (eq + compressor)"]
    lines = ["# bench_live session", "session:", f"  sample_rate: {SR}", "tracks:"]
    plugin = plugin_path() if _plugin_stage_loads() else None
    for i in range(TRACKS):
        stem = folder / "stems" / f"t{i}.wav"
        write_stem(stem, frames, SR, i)
        chain = ["{type: eq, id: eq, params: {band2_gain_db: 2.0}}",
                 "{type: compressor, id: comp, params: {threshold_db: -24}}"]
        if i == 0 and plugin is not None:
            chain.append(f"{{path: '{plugin}', id: vst}}")
        lines += [f"  t{i}:", f"    source: stems/t{i}.wav", "    gain_db: -9", f"    pan: {(-1) ** i * 0.3}",
                  "    chain:"] + [f"      - {c}" for c in chain]
    master = ["{type: limiter, id: lim}"] if "limiter" in stage_types() else []
    lines += ["master:", "  chain:"] + ([f"    - {c}" for c in master] or ["    []"])
    lines[-1:] = lines[-1:] if master else ["  chain: []"]
    missing = []
    if master:
        notes.append("master limiter")
    else:
        missing.append("the master limiter (no limiter stage)")
    if plugin is not None:
        notes.append(f"VST3 {PLUGIN} on t0")
    else:
        missing.append(f"the VST3 {PLUGIN} (not in MIXHOST_PLUGIN_DIR, or the plugin stage does not load)")
    notes.append("moving " + ", ".join(MOVED))
    path = folder / "session.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, notes, missing


def _plugin_stage_loads() -> bool:
    try:
        import host.plugins.stage  # noqa: F401
    except ImportError:
        return False
    return plugin_path() is not None


@dataclass
class Server:
    """A private JACK server and its log, where it says who caused each xrun."""

    name: str
    log: Path

    def mark(self) -> int:
        return self.log.stat().st_size

    def late(self, since: int) -> dict[str, int]:
        """What the server logged from byte ``since`` on: ``server``, its own cycles begun more
        than a period late (JackTimedDriver); per client name, the cycles that began with that
        client unfinished (JackEngine::CheckXRun)."""
        time.sleep(0.2)  # let the server's last lines reach the file
        with self.log.open("rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        found = {"server": len(re.findall(r"JackTimedDriver::Process XRun", text))}
        for name in re.findall(r"client =? ?(\S+?),? (?:was not finished|finished after)", text):
            found[name] = found.get(name, 0) + 1
        return found

    def xrun_causes(self, since: int, client: str) -> dict[str, int]:
        """:meth:`late` as ``server``, ``client`` (``client`` unfinished) and ``other`` (another client)."""
        late = self.late(since)
        server = late.pop("server")
        return {"server": server, "client": late.get(client, 0),
                "other": sum(count for name, count in late.items() if name != client)}


class NotRealtime(Exception):
    """``jackd -R`` came up without realtime scheduling: the machine does not grant it."""


SERVER_FLAGS = {"no-realtime": ["--no-realtime"], "realtime": ["-R", "-P", str(SERVER_PRIORITY)]}


@contextmanager
def jack_server(period: int, kind: str = "no-realtime") -> Iterator[Server]:
    """A private dummy JACK server (its own name, so it never disturbs another), started
    with ``--no-realtime`` or, as studios run it, ``-R`` (realtime scheduling)."""
    import jack

    name = f"mixhost-bench-{os.getpid()}-{period}-{kind}"
    log = open(Path(tempfile.gettempdir()) / f"{name}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["jackd", *SERVER_FLAGS[kind], "-n", name, "-d", "dummy", "-r", str(SR),
                             "-p", str(period)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                jack.Client("probe", no_start_server=True, servername=name).close()
                break
            except jack.JackError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"jackd -n {name} did not start; see {log.name}") from None
                time.sleep(0.1)
        if kind == "realtime" and not _runs_realtime(proc.pid):   # jackd -R without the right runs on without it
            raise NotRealtime("this machine does not grant realtime scheduling (root, or an rtprio limit "
                              "such as the audio group's in /etc/security/limits.d/)")
        yield Server(name, Path(log.name))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _runs_realtime(pid: int) -> bool:
    """Whether a thread of ``pid`` runs under SCHED_FIFO or SCHED_RR."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if os.sched_getscheduler(int(task.name)) in (os.SCHED_FIFO, os.SCHED_RR):
                return True
        except OSError:
            continue
    return False


@dataclass
class Idle:
    """The reference client's xruns, their causes, its callbacks' entry delays (s) and the
    cycles that passed without its callback."""

    xruns: Xruns      # JACK's news, its late cycles, and those just after a machine stall (stalls.py)
    causes: dict[str, int]
    entry: np.ndarray
    missed: int


def idle_xruns(server: Server, seconds: float) -> Idle:
    """The reference: xruns an idle JACK client sees on this server, their causes, and how
    long after its cycle began each of its callbacks ran (a Python callback, as mixhost's,
    in a process where no other thread wants the GIL)."""
    import jack

    from host.live.engine import missed_cycles
    from host.live.libjack import CycleTimes
    from host.pm_qos import CpuLatencyRequest

    client = jack.Client("idle", no_start_server=True, servername=server.name)
    port = client.outports.register("out")
    clock = CycleTimes(int(jack._ffi.cast("uintptr_t", client._ptr)), client.samplerate)
    cycles = np.full(int(seconds * SR / client.blocksize) + 1000, -1, dtype=np.int64)
    late = np.zeros(len(cycles))
    done = [0]

    def process(frames: int) -> None:
        index = done[0]
        if index < len(cycles):
            cycles[index], late[index] = clock.read()
            done[0] = index + 1
        port.get_array().fill(0.0)

    client.set_process_callback(process)
    told: list[float] = []
    client.set_xrun_callback(lambda delay: told.append(time.monotonic()))
    logged = server.mark()
    with CpuLatencyRequest(0):  # the machine as mixhost live sets it up (host.pm_qos)
        client.activate()
        with StallProbe() as probe:
            began = time.monotonic()
            time.sleep(seconds)
            during = [t for t in told if t >= began]   # not those of the probes' start and end
        client.deactivate()
    missed = missed_cycles(cycles[:done[0]], client.blocksize)
    period_s = client.blocksize / client.samplerate
    client.close()
    return Idle(Xruns.of(during, period_s, probe.result), server.xrun_causes(logged, "idle"), late[:done[0]], missed)


def ahead_periods(period: int) -> int:
    return -(-int(AHEAD_S * SR) // period)


def play(path: Path, server: Server, seconds: float, ahead: int = 0) -> dict[str, Any]:
    import host
    from host.live.engine import LiveEngine
    from host.live.scheduling import make_normal

    session = host.load_session(path)
    engine = LiveEngine(session, None, "jack", client_name=CLIENT, server=server.name, ahead=ahead)
    addresses = [f"tracks/t{i}/{name}" for i in range(TRACKS) for name in MOVED]
    ranges = {"gain_db": (-12.0, -6.0), "band2_gain_db": (-3.0, 3.0), "threshold_db": (-30.0, -18.0)}
    stop = threading.Event()

    def mover() -> None:
        # a script's thread that sets values while the audio plays: a helper, as the API says
        engine.schedule_helper(threading.get_native_id())
        rng = np.random.default_rng(3)
        while not stop.wait(SET_INTERVAL_S):
            address = addresses[int(rng.integers(len(addresses)))]
            low, high = ranges[address.rsplit("/", 1)[1]]
            session.set(address, float(rng.uniform(low, high)))

    engine.open()
    engine.transport.set_loop(0, int((seconds + 1) * SR))  # never runs out of audio
    thread = threading.Thread(target=mover, daemon=True)
    try:
        engine.start()
        time.sleep(0.5)                     # start-up (connections, first blocks) is not measured
        xruns0, count0, logged0 = engine.xruns, engine.callback_count, server.mark()
        dropouts0 = engine.backend.late_renders
        cycle0 = engine.backend.ring.cycle if ahead else 0
        jack_thread = getattr(engine.backend, "process_thread", None) if not ahead else None
        switches0 = _voluntary_switches(jack_thread)
        latency0 = engine.handoff.latency_count
        thread.start()
        engine.schedule_helper(threading.get_native_id())   # this loop delivers observers' news
        with StallProbe() as probe:
            xruns0 = engine.xruns     # those of the probe's start are not mixhost's
            began = time.monotonic()
            deadline = began + seconds
            while time.monotonic() < deadline:
                session.registry.dispatch_pending()
                time.sleep(0.05)
            xruns = engine.xruns - xruns0
            told = [t for t in engine.backend.xrun_times if t >= began]
        dropouts = engine.backend.late_renders - dropouts0
        timing = engine.callback_timing(count0)
        entry = _entry_delays(engine, timing, cycle0)
        waits = _voluntary_switches(jack_thread) - switches0 - len(timing.durations) if jack_thread else None
        causes = server.xrun_causes(logged0, CLIENT)
        latencies = engine.handoff.latency_samples()[latency0:]
        underruns = engine.underruns
        raised = bool(getattr(engine.backend, "raised_priority", False))
        render_priority = getattr(engine.backend, "render_priority", "")
        awake = engine.cpu_request.reason if engine.cpu_request is not None else "not requested"
    finally:
        make_normal(threading.get_native_id())
        stop.set()
        engine.close()
    return {"xruns": xruns, "timing": timing, "causes": causes, "latencies": latencies,
            "period_s": engine.period_s, "underruns": underruns, "raised": raised, "ahead": ahead,
            "dropouts": dropouts, "awake": awake, "entry": entry, "render_priority": render_priority,
            "waits": waits, "reader": engine.reader_scheduling, "stalls": probe.result,
            "late": Xruns.of(told, engine.period_s, probe.result, timing)}


def _voluntary_switches(thread: int | None) -> int:
    """How often a thread of this process went to sleep of its own accord (Linux; 0 elsewhere).
    JACK's thread sleeps once a cycle until the next one; each wait for the GIL is another."""
    if thread is None:
        return 0
    try:
        status = Path(f"/proc/self/task/{thread}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


def _entry_delays(engine: Any, timing: Any, cycle0: int) -> tuple[np.ndarray, int]:
    """How long after its cycle began each of mixhost's JACK callbacks ran (s), and how many
    cycles passed without one: the Python callback (the default), or the compiled one that
    copies blocks rendered ahead."""
    from host.live.engine import missed_cycles

    block = engine.block_size
    if not getattr(engine.backend, "ahead", 0):
        return timing.late, timing.missed_cycles(block)
    cycles, frames_late = engine.backend.ring.entry_timing(cycle0)
    return frames_late / SR, missed_cycles(cycles, block)


def run(quick: bool = False) -> list[dict[str, Any]]:
    seconds = 10.0 if quick else 60.0
    if shutil.which("jackd") is None:
        return [row(_name(kind, ahead, what, p), None, "-", False, "jackd is not installed")
                for p in PERIODS for kind in KINDS for ahead in (0, 1) for what in WHAT]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        path, notes, missing = write_session(Path(tmp), seconds + 1.0)
        load = "; ".join(notes)
        for period in PERIODS:
            for kind in KINDS:
                try:
                    with jack_server(period, kind) as server:
                        reference = idle_xruns(server, seconds)
                        direct = play(path, server, seconds)
                        ahead = play(path, server, seconds, ahead_periods(period))
                except NotRealtime as why:
                    rows += [row(_name(kind, a, what, period), None, "-", False, f"not measured: {why}")
                             for a in (0, 1) for what in WHAT]
                    continue
                rows += _rows(period, seconds, kind, reference, direct, load)
                rows += _rows(period, seconds, kind, reference, ahead, load)
    if missing:  # not the load the targets are for: no row may pass
        for r in rows:
            r["ok"] = False
            r["detail"] = "NOT THE REQUIRED LOAD: missing " + " and ".join(missing) + "; " + r["detail"]
    return rows


WHAT = ("xruns", "entry", "callback", "control")


def _name(kind: str, ahead: int, what: str, period: int) -> str:
    """``live[.rt][.ahead].WHAT.pN``: the --no-realtime server's rows keep their old names."""
    return "live" + (".rt" if kind == "realtime" else "") + (".ahead" if ahead else "") + f".{what}.p{period}"


def _rows(period: int, seconds: float, kind: str, idle: Idle, r: dict[str, Any],
          load: str) -> list[dict[str, Any]]:
    ms = 1000.0
    period_s = r["period_s"]
    ahead = r["ahead"]
    server = "jackd -R" if kind == "realtime" else "jackd --no-realtime"
    loads = r["timing"].durations / period_s
    p50, p99 = (float(v) for v in np.percentile(loads, [50, 99]))
    ended99 = float(np.percentile(r["timing"].deadline_use(period_s), 99))
    # rendering ahead, a block is heard at most `ahead` periods after its render began
    latencies = np.asarray(r["latencies"]) + ahead * period_s
    rendered99 = float(np.percentile(r["latencies"], 99))
    lat50, lat99 = (float(v) for v in np.percentile(latencies, [50, 99]))
    latency_limit = period_s + 0.001
    mode = (f"{server}, rendered {ahead} periods ahead ({ahead * period_s * ms:.1f} ms), JACK's thread runs "
            f"compiled code only" if ahead else f"{server}, rendered in JACK's process callback")
    (entry, missed), idle_entry = r["entry"], idle.entry
    entry99, idle99 = float(np.percentile(entry, 99)), float(np.percentile(idle_entry, 99))
    return [
        # JACK tells every client of every xrun, so an idle client beside mixhost would count the
        # same ones: a machine stall just before an xrun (stalls.py) is what tells it is not ours
        row(_name(kind, ahead, "xruns", period), r["xruns"] / max(idle.xruns.told, 1.0),
            "== 0 xruns, but late cycles just after a machine stall", _own_xruns(r) == 0,
            f"{mode}: {r['xruns']} xruns in {seconds:g} s ({len(loads)} blocks, {r['underruns']} disk "
            "underruns); " + (_ahead_attribution(r) if ahead else _attribution(r, period_s))
            + f"; {_stall_words(r)}; ratio = xruns / what an idle client saw in as long ({idle.xruns.told}: "
            f"{idle.causes['server']} the server's own, {idle.causes['client']} the client not finished; "
            f"{idle.xruns}); {load}"),
        row(_name(kind, ahead, "entry", period), entry99 / max(idle99, 1e-6),
            "<= 2.00 (p99 entry delay at most twice the idle client's)", entry99 <= 2 * idle99,
            f"{mode}: " + ("the compiled callback" if ahead else "the Python callback")
            + f" began {_spread(entry)} after its cycle began, and {missed} cycles passed without it"
            + (f" (JACK's thread slept {r['waits']} more times than once a cycle: waits for the GIL)"
               if r["waits"] is not None else "")
            + f"; the idle client's Python callback (nothing else in its process wants the GIL) "
            f"{_spread(idle_entry)}, {idle.missed} cycles without it; disk reader at {r['reader']}"
            + (f", render thread at {r['render_priority']}" if ahead else "")),
        row(_name(kind, ahead, "callback", period), p99 / 0.5, "< 1.00 (p99 < 50 % of the period)", p99 < 0.5,
            f"{mode}: {'render' if ahead else 'callback'} p50 {p50 * 100:.1f} %, p99 {p99 * 100:.1f} % of "
            f"{period / SR * ms:.2f} ms; " + (f"ended p99 {ended99 * 100:.1f} % into its period (late starts "
                                              "included); " if not ahead else "")
            + ("process thread raised to SCHED_FIFO by mixhost" if r["raised"] else
               "process thread's scheduling left to the server")
            + f"; PM QoS request {r['awake']}"),
        row(_name(kind, ahead, "control", period), lat99 / latency_limit, "<= 1.00 (p99 <= period + 1 ms)",
            lat99 <= latency_limit,
            f"{mode}: set -> " + ("carrying block heard, at most" if ahead else "carrying block")
            + f" p50 {lat50 * ms:.2f} ms, p99 {lat99 * ms:.2f} ms (limit {latency_limit * ms:.2f} ms; "
            f"{len(latencies)} sets)" + (f"; the carrying block's render began p99 {rendered99 * ms:.2f} ms "
                                         "after the set" if ahead else "")),
    ]


def _own_xruns(r: dict[str, Any]) -> int:
    """mixhost's xruns but the machine's: the server's xruns come as JACK's news, counted by
    the late cycle and set against the stalls (stalls.py); --ahead's dropouts are all its own."""
    return r["late"].own + r["dropouts"]


def _stall_words(r: dict[str, Any]) -> str:
    stalls = r["stalls"]
    late = r["late"]
    return (f"JACK's news: {late}; " + stalls.words(late.cycles, late.explained) if stalls is not None
            else "machine stalls not measured")


def _spread(delays: np.ndarray) -> str:
    """p50/p99/max of entry delays."""
    if len(delays) == 0:
        return "(no callbacks timed)"
    p50, p99 = np.percentile(delays, [50, 99]) * 1000.0
    return f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {delays.max() * 1000.0:.3f} ms"


def _server_logged(causes: dict[str, int]) -> str:
    return (f"the server logged {causes['server']} of its own cycles late by over a period and "
            f"{causes['client']} cycles that began with mixhost unfinished")


def _ahead_attribution(r: dict[str, Any]) -> str:
    return f"{_server_logged(r['causes'])}; {r['dropouts']} cycles found no block rendered (mixhost's dropouts)"


def _attribution(r: dict[str, Any], period_s: float) -> str:
    """Who caused the xruns: the server's log, and mixhost's callbacks against the periods
    they really had (after a late wake the dummy driver catches up with a short one)."""
    causes = r["causes"]
    timing = r["timing"]
    overran, length = timing.overruns(period_s)
    ended = timing.deadline_use(period_s)[:-1]
    whole = overran & (ended > 1.0)                                 # ended over a period after its start
    cut = overran & ~whole                                          # the next period came early
    text = (f"{_server_logged(causes)}; {int(overran.sum())} callbacks "
            f"ran into the next period: {int(cut.sum())} ended within a period of their period's start, "
            f"in a period the server had cut short")
    if cut.any():
        text += f" (to {float(length[cut].min()) * 1000:.2f}-{float(length[cut].max()) * 1000:.2f} ms)"
    text += f", {int(whole.sum())} took longer than a period"
    if whole.any():
        text += f" (ended at most {float(ended[whole].max()) * 100:.0f} % of a period after its period began)"
    return text


if __name__ == "__main__":
    for result in run(quick=True):
        print(result)
