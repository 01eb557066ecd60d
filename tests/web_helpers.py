"""Shared parts of the browser-mixer tests: a live engine with a web surface, and Debian's Chromium.

Playwright drives the system's ``chromium`` (``executable_path``); it never
downloads a browser of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import waiting
from test_live_helpers import ControlLoopRig, make_session

import host
from host.control.osc.surface import OscSurface
from host.control.surface import SurfaceContext, Surfaces
from host.control.web.surface import WebSurface
from host.live.engine import LiveEngine

BLOCK = 256
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# a third track with notes and a send, and the bus it sends to
EXTRA_TRACKS = """\
  soprano:
    source: stems/tone.wav
    notes: breathy in the bridge
    sends: {verb: {level_db: -12}}
"""
BUSES = "buses:\n  verb:\n    gain_db: -6\n"


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def wait_for(condition: Callable[[], Any], timeout_s: float = 15.0, what: str = "condition") -> Any:
    """`waiting.wait_for` with a browser's pace: longer to wait, slower to poll."""
    return waiting.wait_for(condition, timeout_s, what, poll_s=0.005)


class WebRig(ControlLoopRig):
    """A clock-driven live engine playing a loop, a web surface on it, and a control loop."""

    def __init__(self, tmp_path: Path, host_name: str = "127.0.0.1", *, record: str | None = None,
                 snapshots: str = "", osc: bool = False, **options: Any) -> None:
        path = make_session(tmp_path, 2.0, extra_tracks=EXTRA_TRACKS, automation=BUSES + snapshots)
        self.session = host.load_session(path)
        self.host = host_name
        self.options = options
        super().__init__()
        self.engine = LiveEngine(self.session, BLOCK, "none", record=record)
        self.context = SurfaceContext(self.session, self.engine)
        self.surfaces = Surfaces(self.context)
        self.surface = WebSurface(host_name, 0, **options)
        self.surfaces.add(self.surface)
        self.osc: OscSurface | None = None
        if osc:   # a second surface beside the page: OSC on a port of its own choosing
            self.osc = OscSurface(bind="127.0.0.1", port=0, zeroconf=False)
            self.surfaces.add(self.osc)
        try:
            self.play()
        except BaseException:
            self.close()
            raise
        self.start_control()

    @property
    def url(self) -> str:
        return self.surface.url

    def restart_surface(self, between: Callable[[], None] = lambda: None) -> None:
        """Stop the web server (every page loses its socket), run ``between``, serve again on the same port."""
        port = self.surface.server.port
        self.surfaces.close()
        between()
        self.surface = WebSurface(self.host, port, token=self.surface.access.token, **self.options)
        self.surfaces = Surfaces(self.context)
        self.surfaces.add(self.surface)
        self.surfaces.open()

    def close(self) -> None:
        self.stop_control()
        self.surfaces.close()
        self.engine.close()
