"""The browser mixer: a fader move to the block that applies it, and eight pages following a busy mix.

Chromium (Debian's ``chromium``, driven by Playwright) runs the real page
against ``WebSurface`` on loopback; the engine runs clock-driven at 128
frames (``--audio none``: the same block engine, its own callback timing).

* ``web.latency``: a fader of the page moved (the control's own move code,
  every 20 ms at a random phase) to the end of the render of the first block
  carrying its value: the page's clock (``performance.timeOrigin + now()``)
  against a tap's ``time.time()``, both the system's real-time clock.  Target
  p99 <= one period + 5 ms; the ratio is p99 over that.
* ``web.fanout``: 8 pages in one Chromium, all 16 faders of a 16-track
  session moved 60 times a second from the API; target: no page dropped or
  left behind (each shows the last values), and the audio callback's p99
  (a share of the period) rises by at most 5 % of the period against the
  same run with no page open.  The ratio is the rise over 5 %.

The machine may be loaded by other work: the figures say what this run saw.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
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


class Live(LiveRig):
    """A clock-driven engine at 128 frames, a web surface, and `mixhost live`'s control loop."""

    def __init__(self, path: Path) -> None:
        import host
        from host.control.surface import SurfaceContext, Surfaces
        from host.control.web.surface import WebSurface
        from host.live.engine import LiveEngine

        session = host.load_session(path)
        engine = LiveEngine(session, BLOCK, "none")
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


def latency(browser: Any, path: Path, count: int) -> dict[str, Any]:
    live = Live(path)
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


def fanout(browser: Any, path: Path, seconds: float, pages: int) -> dict[str, Any]:
    live = Live(path)
    registry = live.session.registry
    faders = [f"tracks/t{i:02d}/gain_db" for i in range(TRACKS)]
    opened = [_open(browser, live.surface.url) for _ in range(pages)]
    stop = threading.Event()
    deepest = [0]

    def move() -> None:
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
        first = live.engine.callback_count
        mover.start()
        time.sleep(seconds)
        stop.set()
        mover.join()
        loads = live.engine.callback_load(first)
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
    return {"p99": float(np.percentile(loads, 99)), "p50": float(np.percentile(loads, 50)), "behind": behind,
            "dropped": dropped, "deepest": deepest[0], "callbacks": len(loads), "stats": stats}


def run(quick: bool = False) -> list[dict[str, Any]]:
    import shutil

    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        return [row("web", None, "-", False, "chromium is not installed")]
    from playwright.sync_api import sync_playwright

    random.seed(1)
    rows = []
    period = BLOCK / SR
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            folder = Path(tmp)
            path = tone_session(folder, TRACKS, first_gain_db=-6)
            r = latency(browser, path, 100 if quick else 400)
            seconds = 5.0 if quick else 20.0
            alone = fanout(browser, path, seconds, 0)
            busy = fanout(browser, path, seconds, PAGES)
        finally:
            browser.close()
    lat = r["latencies"]
    limit = period + 0.005
    p50, p99 = (float(v) for v in np.percentile(lat, [50, 99])) if len(lat) else (float("nan"),) * 2
    rows.append(row("web.latency", p99 / limit, "<= 1.00 (p99 <= period + 5 ms)",
                    p99 <= limit and len(lat) == r["sent"],
                    f"page fader move -> end of the render of the first block carrying it: p50 {p50 * 1000:.2f} ms, "
                    f"p99 {p99 * 1000:.2f} ms (limit {limit * 1000:.2f} ms); {len(lat)} of {r['sent']} moves found "
                    f"applied; {BLOCK} frames, loopback"))
    rise = busy["p99"] - alone["p99"]
    ok = rise <= 0.05 and busy["dropped"] == 0 and busy["behind"] == 0
    rows.append(row("web.fanout", rise / 0.05, "<= 1.00 (p99 rise <= 5 % of the period; none behind)", ok,
                    f"{PAGES} pages, {TRACKS} faders moved {MOVES_HZ:.0f}/s for {seconds:.0f} s: callback p99 "
                    f"{busy['p99'] * 100:.1f} % of the period against {alone['p99'] * 100:.1f} % with no page "
                    f"(p50 {busy['p50'] * 100:.1f} / {alone['p50'] * 100:.1f} %); pages dropped {busy['dropped']}, "
                    f"fader texts behind at the end {busy['behind']}, deepest page queue {busy['deepest']}"))
    return rows
