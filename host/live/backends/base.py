"""The small interface every audio backend implements, and what they share."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import LiveEngine

DEFAULT_BLOCK = 256
RT_PRIORITY = 70   # below JACK's usual server priority (80), above everything else
XRUN_HISTORY = 1024   # the latest xruns' times kept


class Backend:
    """The interface: open (-> sample rate, block size), start, stop, close, ``xruns``."""

    name = ""
    #: a real device that misses its deadline with audible dropouts (so worth keeping CPUs awake for)
    has_deadlines = False

    def __init__(self) -> None:
        self.xruns = 0
        # when each of the latest xruns was noticed (time.monotonic): what a report lines up
        # with other clocks, e.g. a machine stall that held every thread up
        self.xrun_times: deque[float] = deque(maxlen=XRUN_HISTORY)
        self.engine: LiveEngine | None = None

    def _note_xrun(self) -> None:
        """An xrun now: its time kept, and counted."""
        self.xrun_times.append(time.monotonic())
        self._count_xrun()

    def _count_xrun(self) -> None:
        self.xruns += 1

    @property
    def late_renders(self) -> int:
        """Cycles a render thread had no block ready for (counted in ``xruns`` too)."""
        return 0

    def open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        self.engine = engine
        return self._open(engine, sample_rate, block_size)

    def _open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        raise NotImplementedError

    def start(self) -> None:
        pass

    def helper_priority(self) -> int | None:
        """The SCHED_FIFO priority for mixhost's threads that work for the audio (see
        :mod:`host.live.scheduling`); None leaves them at normal priority."""
        return None

    def midi_inlet(self, name: str) -> Any:
        """A MIDI input port the engine reads at block start (:class:`host.live.midi_inlet.MidiInlet`),
        or None where the backend has no such port."""
        return None

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass

    def _fail(self, error: BaseException) -> None:
        """The engine raised inside the audio thread: keep it for the control thread."""
        if self.engine is not None and self.engine.error is None:
            self.engine.error = error
