"""Post-fader levels of every strip and the master, block by block, for any number of readers.

The audio thread writes each block's peak and sum of squares per strip into
a ring of ``RING_BLOCKS`` rows (preallocated) and then counts the block.  A
reader (:class:`host.control.meters.MeterReader`: the status line, each
surface) keeps its own block count and combines the rows it has not seen, so
no reader takes levels away from another (the old ``take_peaks`` reset the
master peaks for whoever read first).
"""

from __future__ import annotations

import numpy as np

from ..dsp.levels import block_levels

RING_BLOCKS = 512   # ~1.4 s at 128 frames: a reader polling every 100 ms never falls behind


class MeterRing:
    """Per-block levels of ``addresses`` (strips in mixer order; the master last), two channels each."""

    def __init__(self, addresses: list[str], ring_blocks: int = RING_BLOCKS) -> None:
        self.addresses = list(addresses)
        size = len(self.addresses)
        self.peak = np.zeros((ring_blocks, size, 2))
        self.square = np.zeros((ring_blocks, size, 2))
        self.frames = np.zeros(ring_blocks, dtype=np.int64)
        self.count = 0       # blocks written; row count % ring_blocks is the next

    # -- the audio thread --------------------------------------------------------------------
    def write(self, index: int, block: np.ndarray | None, frames: int) -> None:
        """Levels of strip ``index`` for the block being written (None: silence, it did not run)."""
        row = self.count % len(self.frames)
        if block is None:
            self.peak[row, index] = 0.0
            self.square[row, index] = 0.0
        else:
            block_levels(block, frames, self.peak[row, index], self.square[row, index])

    def commit(self, frames: int) -> None:
        """The block's rows are complete: readers may take them."""
        self.frames[self.count % len(self.frames)] = frames
        self.count += 1

    # -- readers (any thread) ----------------------------------------------------------------
    def since(self, seen: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(peak (strips, 2), mean square (strips, 2), frames, new count) over the blocks after ``seen``.

        A reader that fell more than the ring behind gets the newest ring's worth.
        The oldest row may be being written: it is left out.
        """
        count = self.count
        size = len(self.frames)
        first = max(seen, count - size + 1, 0)
        if first >= count:
            shape = (len(self.addresses), 2)
            return np.zeros(shape), np.zeros(shape), 0, count
        rows = np.arange(first, count) % size
        frames = int(self.frames[rows].sum())
        peak = self.peak[rows].max(axis=0)
        mean_square = self.square[rows].sum(axis=0) / max(frames, 1)
        return peak, mean_square, frames, count
