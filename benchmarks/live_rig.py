"""A live engine opened the way `mixhost live` opens it, with its control loop: the surface benchmarks' rig.

The order is the command's: engine open, loop set, surfaces open (before the
engine's callback runs, as MIDI ports need), engine started playing; closing
stops the engine before the surfaces.
"""

from __future__ import annotations

import threading
from typing import Any

CONTROL_S = 0.02   # the control loop's pass: what the benchmarks' figures were measured with


class LiveRig:
    """``engine`` and ``surfaces`` (built, not open) opened and looping the first ``loop_s`` seconds."""

    def __init__(self, engine: Any, surfaces: Any, *, loop_s: float = 3.0) -> None:
        self.engine = engine
        self.session = engine.session
        self.surfaces = surfaces
        engine.open()
        engine.transport.set_loop(0, int(loop_s * self.session.sample_rate))
        surfaces.open()
        engine.start(play=True)
        self._stop = threading.Event()
        self._loop = threading.Thread(target=self._control, daemon=True)
        self._loop.start()

    def _control(self) -> None:
        # as `mixhost live`'s control loop: realtime under a realtime server (host.live.scheduling)
        self.scheduling = self.engine.schedule_helper(threading.get_native_id())
        while not self._stop.wait(CONTROL_S):
            self.session.registry.dispatch_pending()
            self.surfaces.poll()

    def close(self) -> None:
        self._stop.set()
        self._loop.join()
        self.engine.close()      # the engine's callback stops before the surfaces' ports go
        self.surfaces.close()
