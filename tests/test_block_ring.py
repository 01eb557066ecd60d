"""The render-ahead ring's bookkeeping, with the callback's side played by the test.

The compiled callback itself runs only inside a JACK server (test_live_jack.py
plays through it); here the test advances ``CYCLE`` and ``UNDERRUNS`` as the
callback would and checks what the render thread's side makes of them.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from host.live import block_ring  # libjack is a test dependency: without it this fails, not skips
from host.live.block_ring import CYCLE, BlockRing

BLOCK = 64


def _ring(ahead: int, inputs: int = 0) -> BlockRing:
    return BlockRing(BLOCK, inputs, ahead)


def _played(ring: BlockRing, cycles: int) -> None:
    """What the callback does to the counters in ``cycles`` cycles (samples aside)."""
    ring.control[CYCLE] += cycles


@pytest.mark.parametrize("ahead", [1, 2, 4])
def test_the_render_thread_keeps_ahead_blocks_before_the_cycle(ahead: int) -> None:
    ring = _ring(ahead)
    assert ring.due() == ahead                     # before the first cycle: fill the ring
    for number in range(ahead):
        ring.publish(np.full((2, BLOCK), float(number)))
    assert ring.due() == 0 and ring.written == ahead
    _played(ring, 1)
    assert ring.due() == 1                          # one played, one to render
    ring.publish(np.full((2, BLOCK), float(ahead)))
    # each block sits in the slot of the cycle that plays it, as float32
    for number in range(ahead + 1):
        assert (ring.out_ring[number % ring.capacity] == np.float32(number)).all()


def test_a_short_block_leaves_the_rest_of_its_slot_alone() -> None:
    ring = _ring(2)
    ring.out_ring[0] = 7.0
    ring.publish(np.ones((2, BLOCK // 2)))
    slot = ring.out_ring[0]
    assert (slot[:, :BLOCK // 2] == 1.0).all() and (slot[:, BLOCK // 2:] == 7.0).all()


def test_live_input_comes_from_the_cycle_ahead_periods_earlier() -> None:
    ahead = 3
    ring = _ring(ahead, inputs=2)
    for number in range(ahead):                     # before any cycle there is no input yet
        assert ring.input_block(number) is None
    for cycle in range(2 * ring.capacity):
        ring.in_ring[cycle % ring.capacity] = cycle      # what the callback stored that cycle
        block = ring.input_block(cycle + ahead)
        assert block is not None and block.shape == (2, BLOCK) and (block == cycle).all()


def test_a_render_far_behind_skips_to_the_cycle_playing_next() -> None:
    ring = _ring(2)
    _played(ring, ring.capacity)                    # the callback ran on with nothing rendered
    assert ring.due() == ring.capacity + 2
    ring.skip_to(ring.cycle)
    assert ring.due() == 2 and ring.written == ring.capacity


def test_wait_returns_on_a_post_and_times_out_without_one() -> None:
    ring = _ring(1)
    started = time.perf_counter()
    assert not ring.wait(0.05)
    assert time.perf_counter() - started >= 0.04
    poster = threading.Timer(0.02, lambda: block_ring._sem_post(int(ring.control[block_ring.SEMAPHORE])))
    poster.start()
    assert ring.wait(5.0)
    poster.join()
    ring.free()
    ring.free()                                     # twice is harmless (a restart frees the old ring)


def test_fewer_than_one_period_ahead_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one period"):
        _ring(0)
