"""Streaming integer-factor oversampling with linear-phase FIR filters.

Up: zero-stuff by ``factor`` and low-pass (gain ``factor``); down: low-pass
and keep every ``factor``-th sample.  Both filters are Kaiser-windowed sincs
of ``2 * half * factor + 1`` taps cut at 0.45 of the base rate, run through
``scipy.signal.lfilter`` with carried state, so blocks of any size stream.
Each filter delays by ``half`` base-rate samples: the round trip delays by
exactly ``2 * half`` samples (:attr:`Oversampler.latency`).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import firwin, lfilter

HALF_TAPS = 16
CUTOFF = 0.45  # of the base sample rate
KAISER_BETA = 9.0


class Oversampler:
    """Up- and down-sampling of ``(channels, frames)`` blocks by an integer factor."""

    def __init__(self, channels: int, factor: int, half: int = HALF_TAPS) -> None:
        if factor < 1:
            raise ValueError("oversampling factor must be at least 1")
        self.factor = int(factor)
        self.half = int(half) if factor > 1 else 0
        taps = 2 * self.half * self.factor + 1
        self.h = firwin(taps, CUTOFF / (0.5 * self.factor), window=("kaiser", KAISER_BETA))
        self._zi_up = np.zeros((channels, taps - 1))
        self._zi_down = np.zeros((channels, taps - 1))

    @property
    def latency(self) -> int:
        return 2 * self.half

    def reset(self) -> None:
        self._zi_up[:] = 0.0
        self._zi_down[:] = 0.0

    def up(self, x: np.ndarray) -> np.ndarray:
        if self.factor == 1:
            return x
        channels, frames = x.shape
        stuffed = np.zeros((channels, frames * self.factor))
        stuffed[:, :: self.factor] = x * self.factor
        y, self._zi_up[:channels] = lfilter(self.h, 1.0, stuffed, axis=-1, zi=self._zi_up[:channels])
        return np.asarray(y)

    def down(self, x: np.ndarray) -> np.ndarray:
        if self.factor == 1:
            return x
        channels = x.shape[0]
        y, self._zi_down[:channels] = lfilter(self.h, 1.0, x, axis=-1, zi=self._zi_down[:channels])
        return np.asarray(y)[:, :: self.factor]
