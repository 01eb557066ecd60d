"""A JACK process callback that runs without Python, fed by blocks rendered ahead.

A Python process callback needs the GIL: whenever another thread of the process
holds it (a control thread, the disk reader, an observer) the callback waits, and
on a loaded machine that wait can outlast a period.  Here JACK's process thread
runs a compiled C callback (a numba ``cfunc``) that only copies: the live input
into an input ring and a rendered block from an output ring to the ports.  A
Python render thread, woken through a POSIX semaphore each cycle, keeps
``ahead`` blocks rendered before the cycle that plays them.  A late render
costs a dropout (counted in ``underruns``), never a stalled JACK graph, and up
to ``ahead`` periods of lateness cost nothing.

The price is latency: block *n* plays in cycle *n* and is rendered from the
input of cycle *n - ahead*, so what comes in leaves ``ahead`` periods later,
and a control move is heard up to ``ahead`` periods after the block that
carries it.  This is what DAWs call anticipative processing.

The shared state is one int64 array, ``control``, written by one side per slot:

* the callback writes ``CYCLE`` (cycles done: input blocks stored, output slots
  played), ``UNDERRUNS`` and ``STAMP``, and for each cycle JACK's frame counter and
  how long after the cycle began it got to run, into ``entries``;
* the render thread writes ``WRITTEN`` (output blocks published); the control
  thread sets ``CLOSING`` when it stops, and the callback plays silence from then on.

Stores are ordered with fences (seq_cst), so a counter is never seen before the
samples it publishes.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any

import numpy as np
from numba import carray, cfunc, njit, types

from ..errors import MixhostError
from .libjack import frames_since_cycle_start as _frames_since_cycle_start
from .libjack import get_time as _get_time
from .libjack import last_frame_time as _last_frame_time
from .libjack import port_get_buffer as _port_get_buffer
from .libjack import set_process_callback as _set_process_callback
from .native import fence as _fence
from .native import pointer as _pointer

# the control array: header slots, then the port pointers (two outputs, then the inputs)
(CYCLE, WRITTEN, UNDERRUNS, STAMP, CLOSING, CAPACITY, BLOCK, INPUTS, OUT_RING, IN_RING, SEMAPHORE, CLIENT,
 ENTRIES) = range(13)
HEADER = 16
ENTRY_HISTORY = 1 << 16   # cycles of entry timing kept (about 3 minutes at 128 frames)
SEM_BYTES = 64   # sizeof(sem_t) is 32 on 64-bit Linux and glibc; room to spare


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc = ctypes.CDLL(None, use_errno=True)


def _libc_function(name: str, *argtypes: object) -> Any:
    function = getattr(_libc, name)
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function


_sem_init = _libc_function("sem_init", ctypes.c_void_p, ctypes.c_int, ctypes.c_uint)
_sem_post = _libc_function("sem_post", ctypes.c_void_p)
_sem_timedwait = _libc_function("sem_timedwait", ctypes.c_void_p, ctypes.POINTER(_Timespec))
_sem_destroy = _libc_function("sem_destroy", ctypes.c_void_p)
_clock_gettime = _libc_function("clock_gettime", ctypes.c_int, ctypes.POINTER(_Timespec))
CLOCK_REALTIME = 0   # the clock sem_timedwait's deadline is on


@cfunc(types.int32(types.uint32, types.voidptr))  # not cached: it calls libjack through ctypes
def _process(nframes: int, arg: Any) -> int:  # pragma: no cover - runs in JACK's thread, compiled
    """JACK's process callback: input ports into the input ring, a rendered block out (or silence)."""
    header = carray(arg, (HEADER,), dtype=np.int64)
    inputs = header[INPUTS]
    control = carray(arg, (HEADER + 2 + inputs,), dtype=np.int64)
    capacity = control[CAPACITY]
    block = control[BLOCK]
    control[STAMP] = _get_time()
    cycle = control[CYCLE]
    client = _pointer(control[CLIENT])
    entries = carray(_pointer(control[ENTRIES]), (ENTRY_HISTORY, 2), dtype=np.int64)
    entries[cycle % ENTRY_HISTORY, 0] = _last_frame_time(client)
    entries[cycle % ENTRY_HISTORY, 1] = _frames_since_cycle_start(client)
    slot = cycle % capacity
    frames = min(nframes, block)
    in_ring = carray(_pointer(control[IN_RING]), (capacity, max(inputs, 1), block), dtype=np.float32)
    for port in range(inputs):
        buffer = carray(_pointer(_port_get_buffer(_pointer(control[HEADER + 2 + port]), nframes)),
                        (nframes,), dtype=np.float32)
        in_ring[slot, port, :frames] = buffer[:frames]
    _fence()
    ready = control[WRITTEN] > cycle and control[CLOSING] == 0 and nframes <= block
    _fence()
    out_ring = carray(_pointer(control[OUT_RING]), (capacity, 2, block), dtype=np.float32)
    for port in range(2):
        buffer = carray(_pointer(_port_get_buffer(_pointer(control[HEADER + port]), nframes)),
                        (nframes,), dtype=np.float32)
        if ready:
            buffer[:] = out_ring[slot, port, :nframes]
        else:
            buffer[:] = 0.0
    if not ready and control[CLOSING] == 0:
        control[UNDERRUNS] += 1
    _fence()
    control[CYCLE] = cycle + 1
    _sem_post(_pointer(control[SEMAPHORE]))
    return 0


@njit(cache=True, nogil=True)
def _publish(out_ring: np.ndarray, control: np.ndarray, block: np.ndarray) -> None:
    """The render thread's side: the block's samples into its slot, then the counter."""
    written = control[WRITTEN]
    frames = block.shape[1]
    out_ring[written % control[CAPACITY], :, :frames] = block
    _fence()
    control[WRITTEN] = written + 1


class BlockRing:
    """The rings, the control array and the semaphore the render thread shares with JACK's callback."""

    def __init__(self, block: int, inputs: int, ahead: int) -> None:
        if ahead < 1:
            raise ValueError("ahead must be at least one period")
        self.capacity = max(8, 4 * ahead)
        self.inputs = inputs
        self.ahead = ahead
        self.out_ring = np.zeros((self.capacity, 2, block), dtype=np.float32)
        self.in_ring = np.zeros((self.capacity, max(inputs, 1), block), dtype=np.float32)
        self.control = np.zeros(HEADER + 2 + inputs, dtype=np.int64)
        self.entries = np.zeros((ENTRY_HISTORY, 2), dtype=np.int64)   # per cycle: frame counter, frames late
        self._semaphore = ctypes.create_string_buffer(SEM_BYTES)
        self._freed = False
        if _sem_init(self._semaphore, 0, 0) != 0:   # macOS has no unnamed semaphores
            raise MixhostError(f"rendering ahead needs POSIX semaphores: {os.strerror(ctypes.get_errno())}",
                               hint="leave --ahead out")
        control = self.control
        control[CAPACITY] = self.capacity
        control[BLOCK] = block
        control[INPUTS] = inputs
        control[OUT_RING] = self.out_ring.ctypes.data
        control[IN_RING] = self.in_ring.ctypes.data
        control[SEMAPHORE] = ctypes.addressof(self._semaphore)
        control[ENTRIES] = self.entries.ctypes.data

    def set_ports(self, outputs: list[int], inputs: list[int]) -> None:
        """The ``jack_port_t *`` addresses: two outputs, then one per input channel."""
        self.control[HEADER:HEADER + 2 + self.inputs] = [*outputs, *inputs]

    def wait(self, timeout_s: float) -> bool:
        """Until the callback's next cycle (the GIL is released while waiting); False on timeout."""
        deadline = _Timespec()
        _clock_gettime(CLOCK_REALTIME, ctypes.byref(deadline))
        nanoseconds = deadline.tv_nsec + int(timeout_s * 1e9)
        deadline.tv_sec += nanoseconds // 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        while _sem_timedwait(self._semaphore, ctypes.byref(deadline)) != 0:
            if ctypes.get_errno() != errno.EINTR:
                return False
        return True

    @property
    def cycle(self) -> int:
        """Cycles the callback has run (the number of the block it plays next)."""
        return int(self.control[CYCLE])

    @property
    def written(self) -> int:
        """Blocks published (the number of the next one to render)."""
        return int(self.control[WRITTEN])

    @property
    def underruns(self) -> int:
        """Cycles that found no block ready (silence went out instead)."""
        return int(self.control[UNDERRUNS])

    def entry_timing(self, since: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The callback's cycles from number ``since`` on (as far as the history reaches):
        JACK's frame counter at each entry, and how many frames after its cycle began it ran."""
        cycle = self.cycle
        first = max(since, cycle - ENTRY_HISTORY, 0)
        rows = self.entries[np.arange(first, cycle) % ENTRY_HISTORY]
        return rows[:, 0].copy(), rows[:, 1].copy()

    def since_cycle_s(self) -> float:
        """How long ago the callback last ran."""
        return (int(_get_time()) - int(self.control[STAMP])) / 1e6

    def due(self) -> int:
        """How many blocks the render thread should render now to stay ``ahead`` cycles ahead."""
        control = self.control
        return int(control[CYCLE] + self.ahead - control[WRITTEN])

    def input_block(self, number: int) -> np.ndarray | None:
        """The live input rendered into output block ``number`` (None before the first cycle)."""
        cycle = number - self.ahead
        if cycle < 0:
            return None
        return self.in_ring[cycle % self.capacity]

    def publish(self, block: np.ndarray) -> None:
        _publish(self.out_ring, self.control, block)

    def skip_to(self, number: int) -> None:
        """Give up blocks the callback has already played without them (the render fell behind)."""
        self.control[WRITTEN] = number

    def close(self) -> None:
        self.control[CLOSING] = 1

    def free(self) -> None:
        """After the client is deactivated: nothing calls back into these arrays any more."""
        if not self._freed:
            self._freed = True
            _sem_destroy(self._semaphore)


def set_process_callback(client: int, ring: BlockRing) -> int:
    """Install the compiled callback for a ``jack_client_t *`` (before it is activated); 0 on success."""
    ring.control[CLIENT] = client
    return int(_set_process_callback(ctypes.c_void_p(client), ctypes.c_void_p(_process.address),
                                     ctypes.c_void_p(ring.control.ctypes.data)))
