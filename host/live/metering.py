"""Post-fader levels of every strip and the master, block by block, for any number of readers.

The audio thread writes each block's peak and sum of squares per strip into
a ring of ``RING_BLOCKS`` rows (preallocated) and then counts the block.  A
reader (:class:`host.control.meters.MeterReader`: the status line, each
surface) keeps its own block count and combines the rows it has not seen, so
no reader takes levels away from another (the old ``take_peaks`` reset the
master peaks for whoever read first).

The master is also metered for loudness (:class:`LoudnessRing`): its
K-weighted energy goes, in fine sub-blocks (5 ms at 48 kHz) rather than per
block, into a second ring long enough for the 3 s short-term window (EBU
Tech 3341 §2.1 "S") whatever the block size; the levels ring holds only
``RING_BLOCKS`` blocks, ~1.4 s at 128 frames.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..dsp.levels import block_levels
from ..loudness.meter import (
    SHORT_TERM_SUBBLOCKS,
    energy_to_lufs,
    k_weight_stereo,
    k_weighting_sos,
    subblock_grid,
)

RING_BLOCKS = 512   # ~1.4 s at 128 frames: a reader polling every 100 ms never falls behind
# short-term loudness below this reads -inf: only digital silence (and the K-filter's dying tail
# of what stopped) gets there; the quietest programme gated in is -70 LUFS (BS.1770-4 Annex 1)
SILENCE_LUFS = -120.0


# The audio callback calls it with the GIL, for a few microseconds: letting go of the GIL (nogil)
# would let another thread take it, and the callback would wait to get it back.
@njit(cache=True)
def _k_weight_into(block: np.ndarray, frames: int, sos: np.ndarray, state: np.ndarray, carry: np.ndarray,
                   hop: int, done: np.ndarray, peaks: np.ndarray, energy: np.ndarray,
                   count: int) -> int:  # pragma: no cover
    """One block of the stereo master into the ring of sub-block energies; returns the new count.

    One compiled call per block (the dispatch of a call costs more than
    filtering 128 frames): the offline meter's fused kernel with G = 1.0 for
    L and R (BS.1770-4 Table 3), then the completed sub-blocks copied in.
    """
    completed = k_weight_stereo(block[0, :frames], block[1, :frames], sos, state[0], state[1],
                                1.0, 1.0, carry, hop, done, peaks)
    size = energy.size
    for k in range(completed):
        energy[(count + k) % size] = done[k]
    return count + completed


class LoudnessRing:
    """The master's K-weighted energy in fine sub-blocks, for its short-term loudness.

    BS.1770-4 Fig. 1 up to the channel sum: K-weighting (filter state kept
    from block to block), squares, channel weights G_i (1.0 for L and R,
    Table 3), summed over each sub-block of ``hop`` frames (the offline
    meter's grid, :func:`host.loudness.meter.subblock_grid`).  The short-term
    loudness is eq. 2 over the latest ``window`` sub-blocks (3 s).  Before
    3 s of blocks the window is padded with silence (as libebur128 does).
    """

    def __init__(self, sample_rate: float, block_size: int, channels: int = 2) -> None:
        if channels != 2:
            raise ValueError(f"the live master is stereo; got {channels} channels")
        self.sos = k_weighting_sos(sample_rate)
        self.hop, per_step = subblock_grid(sample_rate)
        self.window = SHORT_TERM_SUBBLOCKS * per_step
        most = block_size // self.hop + 2            # sub-blocks one block can complete, with room
        # a reader summing the window while the audio thread writes ahead must not be lapped
        self.energy = np.zeros(self.window + 8 * most)
        self.count = 0                               # sub-blocks written; count % len(energy) is next
        self._state = np.zeros((channels, 4))        # K-weighting biquad states, per channel
        self._carry = np.zeros(2)                    # [energy so far, frames so far] of the open sub-block
        self._done = np.zeros(most)                  # the block's completed sub-blocks, before the ring
        self._peaks = np.zeros(channels)             # the kernel's running peaks (the levels ring has them)
        self._warm_up(block_size)

    def _warm_up(self, block_size: int) -> None:
        """Compile (or load) the kernel for both layouts the callback meets now, not in the callback:
        a whole block (contiguous) and a shorter one (a slice of the output buffer)."""
        silent = np.zeros((2, block_size + 1))
        self.write(silent[:, :block_size], block_size)
        self.write(np.zeros((2, block_size)), block_size)
        self.reset()

    def reset(self) -> None:
        self._state[:] = 0.0
        self._carry[:] = 0.0
        self.energy[:] = 0.0
        self.count = 0

    # -- the audio thread --------------------------------------------------------------------
    def write(self, block: np.ndarray, frames: int) -> None:
        """K-weight ``block[:, :frames]`` (the master, after the output protection) into the ring."""
        self.count = _k_weight_into(block, frames, self.sos, self._state, self._carry, self.hop,
                                    self._done, self._peaks, self.energy, self.count)

    # -- readers (any thread) ----------------------------------------------------------------
    def short_term_energy(self) -> float:
        """Mean channel-weighted K-weighted energy Σ_i G_i z_i of the latest 3 s."""
        count = self.count
        rows = np.arange(count - self.window, count) % len(self.energy)
        return float(self.energy[rows].sum()) / (self.window * self.hop)

    def short_term_lufs(self) -> float:
        """Short-term loudness S (EBU Tech 3341 §2.1) of the latest 3 s, LUFS; -inf below ``SILENCE_LUFS``."""
        lufs = energy_to_lufs(self.short_term_energy())
        return lufs if lufs >= SILENCE_LUFS else -math.inf


class MeterRing:
    """Per-block levels of ``addresses`` (strips in mixer order; the master last), two channels each."""

    def __init__(self, addresses: list[str], ring_blocks: int = RING_BLOCKS,
                 loudness: LoudnessRing | None = None) -> None:
        self.addresses = list(addresses)
        self.loudness = loudness      # the master's short-term loudness, if metered
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

    def write_master(self, block: np.ndarray, frames: int) -> None:
        """Levels of the master (the last address) and, if metered, its loudness."""
        self.write(len(self.addresses) - 1, block, frames)
        if self.loudness is not None:
            self.loudness.write(block, frames)

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
