"""Streaming integer-factor oversampling with linear-phase FIR filters.

Up: zero-stuff by ``factor`` and low-pass (gain ``factor``); down: low-pass
and keep every ``factor``-th sample.  Both filters are Kaiser-windowed sincs
of ``N = 2 * half * factor + 1`` taps cut at 0.45 of the base rate.  Both run
through ``scipy.signal.upfirdn`` (polyphase: no products with stuffed zeros,
no outputs that decimation would discard) on the block extended by the
carried history the FIR needs (``N - 1`` high-rate samples), so blocks of
any size stream exactly as one long signal would.  Each filter delays by
``half`` base-rate samples: the round trip delays by exactly ``2 * half``
samples (:attr:`Oversampler.latency`).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import firwin, upfirdn

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
        self._h_up = self.h * self.factor
        # FIR memory: 2 * half base samples before the upsampler, N - 1 high-rate ones before the decimator
        self._hist_up = np.zeros((channels, 2 * self.half))
        self._hist_down = np.zeros((channels, taps - 1))

    @property
    def latency(self) -> int:
        return 2 * self.half

    def reset(self) -> None:
        self._hist_up[:] = 0.0
        self._hist_down[:] = 0.0

    def up(self, x: np.ndarray) -> np.ndarray:
        if self.factor == 1:
            return x
        channels, frames = x.shape
        ext = np.concatenate((self._hist_up[:channels], x), axis=1)
        self._hist_up[:channels] = ext[:, frames:]
        start = 2 * self.half * self.factor  # outputs before this lean on samples we do not have
        y = upfirdn(self._h_up, ext, up=self.factor, axis=-1)
        return np.asarray(y[:, start : start + frames * self.factor])

    def down(self, v: np.ndarray) -> np.ndarray:
        if self.factor == 1:
            return v
        channels, high = v.shape
        ext = np.concatenate((self._hist_down[:channels], v), axis=1)
        self._hist_down[:channels] = ext[:, high:]
        start = 2 * self.half  # (N - 1) / factor
        y = upfirdn(self.h, ext, down=self.factor, axis=-1)
        return np.asarray(y[:, start : start + high // self.factor])
