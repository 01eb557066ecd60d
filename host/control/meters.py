"""Meters for surfaces: post-fader peak and RMS of each strip and the master, the master's loudness.

Each reader keeps its own place in the engine's meter ring
(:class:`host.live.metering.MeterRing`), so the status line, an MCU's
meter LEDs and a tablet all see every block, and none resets another's.

Peak and RMS are over the reader's interval (since its previous read);
the master's short-term loudness is not: it is always the latest 3 s
window (EBU Tech 3341 §2.1), the same for every reader at the same moment,
and reading it takes nothing.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from ..live.metering import MeterRing

FLOOR_DB = -120.0


@dataclass(frozen=True)
class Level:
    """One strip's level over a reader's interval: per channel (left, right), dBFS."""

    peak_db: tuple[float, float]
    rms_db: tuple[float, float]

    @property
    def peak_max_db(self) -> float:
        return max(self.peak_db)


def to_db(amplitude: float) -> float:
    return 20.0 * math.log10(amplitude) if amplitude > 1e-6 else FLOOR_DB


class MeterReader:
    """One reader's view of the meters: levels since its last read."""

    def __init__(self, ring: MeterRing) -> None:
        self.ring = ring
        self._seen = ring.count
        self._lock = threading.Lock()
        self.peaks = np.zeros((len(ring.addresses), 2))   # the latest read, as amplitudes

    def read(self) -> dict[str, Level]:
        """Levels per strip address (and ``master``) since the previous read."""
        with self._lock:
            peak, mean_square, _, self._seen = self.ring.since(self._seen)
        self.peaks = peak
        rms = np.sqrt(mean_square)
        return {address: Level((to_db(peak[i, 0]), to_db(peak[i, 1])), (to_db(rms[i, 0]), to_db(rms[i, 1])))
                for i, address in enumerate(self.ring.addresses)}

    def short_term_lufs(self) -> float:
        """The master's short-term loudness (K-weighted, last 3 s; EBU R128 "S"), LUFS.

        Silence for the past 3 s (below ``SILENCE_LUFS``, -120) reads -inf,
        and so does an engine that does not meter loudness.  Before 3 s of
        blocks the window counts as silence.  It moves on every sub-block (5 ms at 48 kHz).
        """
        loudness = self.ring.loudness
        return loudness.short_term_lufs() if loudness is not None else -math.inf

    def master_peaks(self) -> np.ndarray:
        """The master's peak amplitude (left, right) since the previous read."""
        with self._lock:
            peak, _, _, self._seen = self.ring.since(self._seen)
        return peak[-1].copy()
