"""``none``: no sound, a thread paced by the monotonic clock (tests, benchmarks, headless runs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .base import DEFAULT_BLOCK, Backend

if TYPE_CHECKING:
    from ..engine import LiveEngine


class NoneBackend(Backend):
    """No sound: a thread calls the engine once per period, paced by the monotonic clock.

    A block that finishes after its deadline counts as an xrun.  With
    ``realtime=False`` blocks run back to back (as fast as the machine goes).
    ``clock`` and ``wait`` (seconds -> None) replace the monotonic clock and
    the pause between blocks, so a test can drive the pacing with a clock of
    its own.
    """

    name = "none"

    def __init__(self, realtime: bool = True, clock: Callable[[], float] | None = None,
                 wait: Callable[[float], object] | None = None) -> None:
        super().__init__()
        self.realtime = realtime
        self._stop = threading.Event()
        self._clock = clock or time.perf_counter
        self._wait = wait or self._stop.wait
        self._thread: threading.Thread | None = None

    def _open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        self.sample_rate = sample_rate
        self.block_size = block_size or DEFAULT_BLOCK
        return sample_rate, self.block_size

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mixhost-audio", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        engine = self.engine
        assert engine is not None
        period = self.block_size / self.sample_rate
        clock = self._clock
        deadline = clock()  # the end of the last period: when this one is due
        while not self._stop.is_set():
            started = clock()
            try:
                engine.process_block(self.block_size)
            except BaseException as error:  # noqa: BLE001 - handed to the control thread
                self._fail(error)
                return
            finished = clock()
            late = max(started - deadline, 0.0) if self.realtime else 0.0  # back to back: no periods
            engine.record_callback(finished - started, started, late)
            if not self.realtime:
                continue
            deadline += period
            if finished > deadline:
                self._note_xrun()
                deadline = finished  # start a fresh schedule rather than bursting to catch up
            else:
                self._wait(deadline - finished)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
