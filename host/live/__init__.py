"""Live playback and insert processing: the session's graph in real time.

* :mod:`.transport`: play, stop, locate, loop (commands queued, applied at block start);
* :mod:`.transport_params`: the transport as ``transport/...`` registry parameters, for controllers;
* :mod:`.handoff`: parameter sets from any thread, applied at block start;
* :mod:`.streaming`: disk read-ahead in a reader thread, ring buffer per track;
* :mod:`.engine`: :class:`LiveEngine`, the per-block work and the safety stages;
* :mod:`.backends`: ``none`` (a clock, no sound), ``jack``, ``sounddevice``, one module each;
* :mod:`.recorder`: automation recording (write, latch, touch) into the session.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LiveEngine"]


def __getattr__(name: str) -> Any:
    if name == "LiveEngine":
        from .engine import LiveEngine

        return LiveEngine
    raise AttributeError(name)
