"""Short-term loudness of the master for surfaces (EBU Tech 3341 §2.1 "S", the 3 s window).

The audio thread only copies each master block into a preallocated ring (a
tap on the live engine); a surface's own thread feeds what is new to a
streaming BS.1770-4 meter (:class:`host.loudness.meter.LoudnessMeter`) when
it reads.  So the K-weighting runs outside the audio callback, at the
surface's pace, and a reader that falls a ring behind just skips ahead.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from ..loudness.meter import LoudnessMeter

RING_S = 2.0      # a reader reading at least every second never skips


class MasterLoudness:
    """A tap on a live engine's master output and a short-term loudness meter over it."""

    def __init__(self, engine: Any, ring_s: float = RING_S) -> None:
        self.engine = engine
        rate = engine.session.sample_rate
        self.ring = np.zeros((2, int(ring_s * rate)))
        self.written = 0          # frames written (audio thread); the ring index is written % size
        self._read = 0
        self._lock = threading.Lock()
        self.meter = LoudnessMeter(2, rate, true_peak=False)
        self._installed = False

    def install(self) -> None:
        if not self._installed:
            self.engine.taps.append(self)
            self._installed = True

    def remove(self) -> None:
        if self._installed:
            self.engine.taps.remove(self)
            self._installed = False

    def __call__(self, out: np.ndarray, position: int, rolling: bool) -> None:
        """The audio thread: copy the block (at most two slices, nothing allocated but views)."""
        frames = out.shape[1]
        size = self.ring.shape[1]
        start = self.written % size
        first = min(frames, size - start)
        self.ring[:, start:start + first] = out[:, :first]
        if first < frames:
            self.ring[:, :frames - first] = out[:, first:]
        self.written += frames

    def short_term(self) -> float:
        """Short-term loudness (LUFS) up to now; -inf before 3 s of signal (a surface's thread)."""
        with self._lock:
            written = self.written
            size = self.ring.shape[1]
            start = max(self._read, written - size + 1024)   # the oldest part may be being overwritten
            if written > start:
                index = np.arange(start, written) % size
                self.meter.process(self.ring[:, index])
            self._read = written
            return self.meter.short_term()


def lufs_or_none(value: float) -> float | None:
    return round(value, 1) if math.isfinite(value) else None
