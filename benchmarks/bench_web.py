"""The browser mixer: a fader move to the block that applies it, and eight pages following a busy mix.

Chromium (Debian's ``chromium``, driven by Playwright) runs the real page
against ``WebSurface`` on loopback.  The engine plays at 128 frames the way
studios run it: on a private ``jackd -R`` dummy server (JACK's process thread
SCHED_FIFO, the ``jack`` backend, mixhost's callback in it), Chromium at
normal priority.  Where the machine cannot start a realtime server the rows
say so and the clock-driven engine (``--audio none``, a thread at normal
priority) stands in: there Chromium's renderers preempt the callback itself.

* ``web.latency``: a fader of the page moved (the control's own move code,
  every 20 ms at a random phase) to the end of the render of the first block
  carrying its value: the page's clock (``performance.timeOrigin + now()``)
  against a tap's ``time.time()``, both the system's real-time clock.  Target
  p99 <= one period + 5 ms; the ratio is p99 over that.
* ``web.fanout``: 8 pages in one Chromium, all 16 faders of a 16-track
  session moved 60 times a second from the API; target: no page dropped or
  left behind (each shows the last values), and the audio callback's p99
  rises by at most 5 % of the period against the same run with no page open
  (same server, same run).  The ratio is the rise over 5 %.  The callback's
  figure is how far into its period it ended: its wait to enter (JACK's
  wake-up and, for a Python callback, the wait for the GIL, from JACK's cycle
  times) plus its run (which holds the waits for the GIL inside it).  The
  detail also gives both parts, xruns and cycles missed in the window, and
  the web server thread's CPU share and scheduling.
  In use the eight browsers are eight tablets, each with its own CPU.  Here
  they stand in on the same 2-CPU machine, so this row confines Chromium's
  processes to every CPU but the first and mixhost's threads to the first
  (:class:`Cpus`): the load generator stays off the CPU of what is measured,
  while mixhost's own fan-out work (the web thread, JSON, sockets, the GIL)
  stays on the audio's CPU and is measured.
* ``web.fanout.shared_cpus``: the same pair of runs with Chromium and mixhost
  on every CPU, reported beside it against the same bound.

What raises it (measured on this 2-CPU VM under `jackd -R`): every Python
thread that holds the GIL when the callback wants it, and every process
that runs on the callback's CPU.

* Python threads at normal priority that hold the GIL while a busy process
  takes their CPU keep the callback waiting: the benchmark's mover and the
  control loop, at normal priority, gave callbacks that ended 27-35 periods
  late.  mixhost now runs every thread that takes the GIL while the audio
  plays (control loop, surfaces' I/O threads, the web thread) SCHED_FIFO
  under JACK's thread, and a script's setter asks for the same with
  ``engine.schedule_helper`` (the mover here does): 0 xruns since.
* The callback's own libjack calls and the meter kernel keep the GIL; pages
  due the same values share one encoded message per flush, sent without
  permessage-deflate.
* With all that, sharing the 2 CPUs with 8 renderers still raised the
  callback's own run p99 from 17 % to 44 % of the period (three `yes` loops
  alone raised it by 12 %): a realtime thread keeps its CPU but not its
  caches or the hypervisor's time.  With Chromium on the other CPU the rise
  was 2 % of the period.

The machine may be loaded by other work: the figures say what this run saw.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from live_rig import LiveRig
from run import row
from sessions import tone_session

SR = 48_000
BLOCK = 128
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-background-timer-throttling", "--disable-renderer-backgrounding"]
PAGES = 8
TRACKS = 16
MOVES_HZ = 60.0
CLIENT = "mixhost-bench-web"


class Cpus:
    """Where the stand-in tablets run: Chromium's processes on every CPU but the first, and this
    process's threads made from now on (the engine's JACK thread, the web server's, the control
    loop) on the first; or, ``shared``, everything everywhere.  In use the eight browsers are
    eight tablets with CPUs of their own: confining them keeps the load generator off the CPU
    of what is measured.  The shared run is reported beside it."""

    def __init__(self) -> None:
        self.all = os.sched_getaffinity(0)
        ordered = sorted(self.all)
        self.mixhost = {ordered[0]}
        self.browser = set(ordered[1:])

    @property
    def can_confine(self) -> bool:
        return bool(self.browser)

    def confine(self, browser_root: int) -> None:
        _pin_tree(browser_root, self.browser)
        os.sched_setaffinity(0, self.mixhost)   # this thread: what it starts from now on inherits it

    def share(self, browser_root: int) -> None:
        _pin_tree(browser_root, self.all)
        os.sched_setaffinity(0, self.all)


def _pin_tree(root: int, cpus: set[int]) -> None:
    """Every thread of ``root``'s descendant processes (Playwright's driver, Chromium) onto ``cpus``;
    processes they start later inherit it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    todo = list(parents.get(root, []))
    while todo:
        pid = todo.pop()
        todo += parents.get(pid, [])
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), cpus)


class Live(LiveRig):
    """An engine at 128 frames, a web surface, and `mixhost live`'s control loop: on the JACK
    server named ``server`` (the ``jack`` backend, in JACK's process thread) or clock-driven."""

    def __init__(self, path: Path, server: str | None = None) -> None:
        import host
        from host.control.surface import SurfaceContext, Surfaces
        from host.control.web.surface import WebSurface
        from host.live.engine import LiveEngine

        session = host.load_session(path)
        if server is None:
            engine = LiveEngine(session, BLOCK, "none")
        else:
            engine = LiveEngine(session, BLOCK, "jack", client_name=CLIENT, server=server)
        surfaces = Surfaces(SurfaceContext(session, engine))
        self.surface = WebSurface("127.0.0.1", 0)
        surfaces.add(self.surface)
        super().__init__(engine, surfaces)


def _open(browser: Any, url: str) -> Any:
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    return page


MOVES = """async ([address, count]) => {
  const control = [...window.mixhost.state.controls.get(address)].find((c) => c.el.classList.contains("fader"));
  const stamps = [];
  for (let i = 0; i < count; i++) {
    await new Promise((done) => setTimeout(done, 20 * (0.5 + Math.random())));
    const position = 0.3 + 0.6 * ((i * 37) % 100) / 100 + 0.0001 * (i % 7);
    stamps.push([(performance.timeOrigin + performance.now()) / 1000, position]);
    control.moveTo(position);
  }
  return stamps;
}"""


def latency(browser: Any, path: Path, count: int, server: str | None) -> dict[str, Any]:
    live = Live(path, server)
    registry = live.session.registry
    param = registry.param("tracks/t00/gain_db")
    seen: list[tuple[float, float]] = []
    live.engine.taps.append(lambda out, position, rolling: seen.append((time.time(), registry.values[param.slot])))
    try:
        page = _open(browser, live.surface.url)
        time.sleep(1.0)
        stamps = page.evaluate(MOVES, [param.address, count])
        time.sleep(0.3)
        page.close()
    finally:
        live.close()
    blocks = np.array(seen)
    found = []
    for stamp, position in stamps:
        wanted = registry.position_value(param, position)
        later = blocks[(blocks[:, 0] >= stamp) & np.isclose(blocks[:, 1], wanted, atol=1e-9)]
        if len(later):
            found.append(later[0, 0] - stamp)
    return {"latencies": np.array(found), "sent": len(stamps)}


def _schedstat(thread: int | None) -> np.ndarray:
    """A thread's CPU time and time spent waiting for a CPU (s), and its voluntary switches (Linux)."""
    if thread is None:
        return np.zeros(3)
    try:
        ran, waited, _ = Path(f"/proc/self/task/{thread}/schedstat").read_text().split()
        status = Path(f"/proc/self/task/{thread}/status").read_text()
    except OSError:
        return np.zeros(3)
    switches = next(int(line.split()[1]) for line in status.splitlines()
                    if line.startswith("voluntary_ctxt_switches"))
    return np.array([int(ran) / 1e9, int(waited) / 1e9, switches])


def fanout(browser: Any, path: Path, seconds: float, pages: int, server: str | None) -> dict[str, Any]:
    live = Live(path, server)
    registry = live.session.registry
    faders = [f"tracks/t{i:02d}/gain_db" for i in range(TRACKS)]
    opened = [_open(browser, live.surface.url) for _ in range(pages)]
    stop = threading.Event()
    deepest = [0]

    def move() -> None:
        live.engine.schedule_helper(threading.get_native_id())   # a script's setter: a helper (the API)
        step = 0
        while not stop.wait(1.0 / MOVES_HZ):
            step += 1
            registry.set_many([(a, 0.4 + 0.4 * ((step + i) % 60) / 60) for i, a in enumerate(faders)], "api",
                              normalized=True)
            queued = [c.queue.qsize() for c in list(live.surface.clients.values())]
            deepest[0] = max([deepest[0], *queued])

    mover = threading.Thread(target=move, daemon=True)
    try:
        time.sleep(1.0)
        audio = getattr(live.engine.backend, "process_thread", None) or getattr(
            getattr(live.engine.backend, "_thread", None), "native_id", None)
        mover.start()
        threads = {"audio": audio, "web": live.surface.server.native_id, "mover": mover.native_id,
                   "control": live._loop.native_id}
        first, xruns = live.engine.callback_count, live.engine.xruns
        before = {name: _schedstat(tid) for name, tid in threads.items()}
        time.sleep(seconds)
        used = {name: _schedstat(tid) - before[name] for name, tid in threads.items()}
        timing = live.engine.callback_timing(first)
        xruns = live.engine.xruns - xruns
        missed = timing.missed_cycles(BLOCK)
        stop.set()
        mover.join()
        final = {a: registry.get(a) for a in faders}
        behind = 0
        for page in opened:   # each page shows the last values (a loaded machine: give it 5 s)
            deadline = time.monotonic() + 5.0
            for address in (faders[0], faders[-1]):
                locator = page.locator(f'.fader[data-address="{address}"]')

                def shown(locator: Any = locator, address: str = address) -> bool:
                    return abs(float(locator.get_attribute("aria-valuenow")) - float(final[address])) < 1e-3

                while not shown() and time.monotonic() < deadline:
                    time.sleep(0.02)
                behind += not shown()
        dropped = live.surface.dropped
        stats = live.surface.stats()
    finally:
        for page in opened:
            page.close()
        live.close()
    period = live.engine.period_s
    use = timing.deadline_use(period)
    load = timing.durations / period
    callbacks = len(load)
    return {"p99": float(np.percentile(use, 99)), "p50": float(np.percentile(use, 50)),
            "run_p99": float(np.percentile(load, 99)), "late_p99": float(np.percentile(timing.late / period, 99)),
            "max": float(use.max()), "behind": behind, "dropped": dropped, "deepest": deepest[0],
            "callbacks": callbacks, "stats": stats, "xruns": xruns, "missed": missed, "web_scheduling": live.surface.scheduling,
            "web_cpu": used["web"][0] / seconds, "mover_cpu": used["mover"][0] / seconds,
            "control_cpu": used["control"][0] / seconds, "web_waited": used["web"][1] / seconds, "audio_waited": used["audio"][1] / max(callbacks, 1),
            "audio_sleeps": used["audio"][2] / max(callbacks, 1)}


@contextmanager
def realtime_server() -> Iterator[tuple[str | None, str]]:
    """A private ``jackd -R`` dummy server at 128 frames (its name), as studios run JACK; where
    the machine cannot start one, None (the clock-driven engine) and why."""
    from bench_live import NotRealtime, jack_server

    with ExitStack() as stack:
        try:
            server = stack.enter_context(jack_server(BLOCK, "realtime"))
        except (NotRealtime, RuntimeError, OSError) as error:
            yield None, f"--audio none (jackd -R could not start: {error})"
        else:
            yield server.name, "jackd -R (dummy driver, SCHED_FIFO)"


def run(quick: bool = False) -> list[dict[str, Any]]:
    import shutil

    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        return [row("web", None, "-", False, "chromium is not installed")]
    from playwright.sync_api import sync_playwright

    random.seed(1)
    rows = []
    period = BLOCK / SR
    seconds = 5.0 if quick else 20.0
    with (tempfile.TemporaryDirectory(prefix="bench-web-") as tmp, sync_playwright() as playwright,
          realtime_server() as (server, where)):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        cpus = Cpus()
        try:
            folder = Path(tmp)
            path = tone_session(folder, TRACKS, first_gain_db=-6)
            if cpus.can_confine:
                cpus.confine(os.getpid())
            r = latency(browser, path, 100 if quick else 400, server)
            alone = fanout(browser, path, seconds, 0, server)
            busy = fanout(browser, path, seconds, PAGES, server)
            cpus.share(os.getpid())
            shared_alone = fanout(browser, path, seconds, 0, server)
            shared_busy = fanout(browser, path, seconds, PAGES, server)
        finally:
            cpus.share(os.getpid())
            browser.close()
    placed = (f"Chromium on CPU {_cpu_list(cpus.browser)}, mixhost on CPU {_cpu_list(cpus.mixhost)}"
              if cpus.can_confine else "one CPU: Chromium and mixhost share it")
    lat = r["latencies"]
    limit = period + 0.005
    p50, p99 = (float(v) for v in np.percentile(lat, [50, 99])) if len(lat) else (float("nan"),) * 2
    rows.append(row("web.latency", p99 / limit, "<= 1.00 (p99 <= period + 5 ms)",
                    p99 <= limit and len(lat) == r["sent"],
                    f"page fader move -> end of the render of the first block carrying it: p50 {p50 * 1000:.2f} ms, "
                    f"p99 {p99 * 1000:.2f} ms (limit {limit * 1000:.2f} ms); {len(lat)} of {r['sent']} moves found "
                    f"applied; {BLOCK} frames, loopback, on {where}; {placed}"))
    rows.append(_fanout_row("web.fanout", busy, alone, seconds, f"{where}; {placed}", cpus.can_confine))
    rows.append(_fanout_row("web.fanout.shared_cpus", shared_busy, shared_alone, seconds,
                            f"{where}; Chromium and mixhost on every CPU (report: the pages' renderers take "
                            "the CPUs the audio runs on)", None))
    return rows


def _cpu_list(cpus: set[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def _fanout_row(name: str, busy: dict[str, Any], alone: dict[str, Any], seconds: float, where: str,
                judged: bool | None) -> dict[str, Any]:
    """``judged``: None for the shared-CPU row, held to the same bound but not the issue's setup
    (its target text says so); False where the confined setup could not be had (one CPU)."""
    rise = busy["p99"] - alone["p99"]
    ok = rise <= 0.05 and busy["dropped"] == 0 and busy["behind"] == 0 and judged is not False
    bound = "<= 1.00 (p99 rise <= 5 % of the period; none behind)"
    target = bound if judged is not None else f"report, same bound: {bound}"
    return row(name, rise / 0.05, target, ok,
                    f"{PAGES} pages, {TRACKS} faders moved {MOVES_HZ:.0f}/s for {seconds:.0f} s on {where}: "
                    f"callback end (wait to enter + run) p99 {busy['p99'] * 100:.1f} % of the period against "
                    f"{alone['p99'] * 100:.1f} % with no page (p50 {busy['p50'] * 100:.1f} / "
                    f"{alone['p50'] * 100:.1f} %; run alone p99 {busy['run_p99'] * 100:.1f} / "
                    f"{alone['run_p99'] * 100:.1f} %, wait to enter p99 {busy['late_p99'] * 100:.1f} / "
                    f"{alone['late_p99'] * 100:.1f} %; max {busy['max'] * 100:.0f} / {alone['max'] * 100:.0f} %); "
                    f"xruns {busy['xruns']} / {alone['xruns']}; the web thread's CPU {busy['web_cpu'] * 100:.1f} %; "
                    f"pages dropped {busy['dropped']}, fader texts behind at the end {busy['behind']}, "
                    f"deepest page queue {busy['deepest']}")
