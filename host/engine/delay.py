"""A fixed delay line, used to line up paths of different latency at a sum."""

from __future__ import annotations

import numpy as np


class DelayLine:
    """Delays (channels, frames) blocks by ``delay`` samples, streaming."""

    def __init__(self, channels: int, delay: int, max_block: int) -> None:
        self.delay = int(delay)
        self._buffer = np.zeros((channels, self.delay + max_block))
        self._out = np.zeros((channels, max_block))

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.delay == 0:
            return block
        frames = block.shape[1]
        d = self.delay
        # buffer holds the last `d` samples; append the block, emit the oldest `frames`
        self._buffer[:, d:d + frames] = block
        out = self._out[:, :frames]
        out[:] = self._buffer[:, :frames]
        self._buffer[:, :d] = self._buffer[:, frames:frames + d].copy()
        return out

    def reset(self) -> None:
        self._buffer.fill(0.0)
