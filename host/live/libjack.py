"""The few libjack calls the JACK-Client package does not wrap, through ctypes.

JACK-Client covers clients, ports and callbacks written in Python.  mixhost also
needs what a compiled process callback calls (``jack_port_get_buffer``,
``jack_get_time``), installing such a callback, the process thread's id, and
port latency ranges, which tell a DAW how late mixhost's outputs are so it can
line up what it routes through mixhost.  Loaded only with the JACK backend.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import MixhostError

# jack_latency_callback_mode_t
CAPTURE_LATENCY = 0
PLAYBACK_LATENCY = 1


class LatencyRange(ctypes.Structure):
    """``jack_latency_range_t``: the least and the most latency of a port, in frames."""

    _fields_ = [("min", ctypes.c_uint32), ("max", ctypes.c_uint32)]


def _find() -> str:
    found = ctypes.util.find_library("jack")
    if found is None:
        raise MixhostError("libjack is not installed", hint="install JACK (jackd2 / libjack-jackd2-0)")
    return found


_lib = ctypes.CDLL(_find())
# What a Python process callback calls every cycle goes through a handle that keeps the GIL
# (ctypes.PyDLL): these calls only read the server's shared memory, and each release of the GIL
# in the callback lets another thread take it, while the callback waits to get it back (for as
# long as that thread holds it, or the switch interval: see host.live.engine GIL_HOLD_S).
_held = ctypes.PyDLL(_lib._name)


def _function(name: str, restype: object, *argtypes: object, lib: ctypes.CDLL = _lib) -> Any:
    function = getattr(lib, name)
    function.argtypes = list(argtypes)
    function.restype = restype
    return function


_p = ctypes.c_void_p
port_get_buffer = _function("jack_port_get_buffer", _p, _p, ctypes.c_uint32)
get_time = _function("jack_get_time", ctypes.c_uint64)          # the server's microsecond clock
set_process_callback = _function("jack_set_process_callback", ctypes.c_int, _p, _p, _p)
_client_thread_id = _function("jack_client_thread_id", ctypes.c_ulong, _p)
client_real_time_priority = _function("jack_client_real_time_priority", ctypes.c_int, _p)
frames_since_cycle_start = _function("jack_frames_since_cycle_start", ctypes.c_uint32, _p)
last_frame_time = _function("jack_last_frame_time", ctypes.c_uint32, _p)    # the cycle's frame counter
_held_port_get_buffer = _function("jack_port_get_buffer", _p, _p, ctypes.c_uint32, lib=_held)
_held_frames_since_cycle_start = _function("jack_frames_since_cycle_start", ctypes.c_uint32, _p, lib=_held)
_held_get_cycle_times = _function("jack_get_cycle_times", ctypes.c_int, _p, ctypes.POINTER(ctypes.c_uint32),
                                  ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64),
                                  ctypes.POINTER(ctypes.c_float), lib=_held)
_get_latency_range = _function("jack_port_get_latency_range", None, _p, ctypes.c_int, ctypes.POINTER(LatencyRange))
_set_latency_range = _function("jack_port_set_latency_range", None, _p, ctypes.c_int, ctypes.POINTER(LatencyRange))
_LatencyCallback = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p)
_set_latency_callback = _function("jack_set_latency_callback", ctypes.c_int, _p, _LatencyCallback, _p)


def latency_range(port: int, mode: int) -> tuple[int, int]:
    """A port's (min, max) latency in frames, capture or playback (any client's port)."""
    found = LatencyRange()
    _get_latency_range(_p(port), mode, ctypes.byref(found))
    return int(found.min), int(found.max)


class PortLatency:
    """Reports a client's own latency on its ports, as JACK's latency callback asks.

    JACK sums latency along connections (JACK API, "Managing and determining
    latency"): in the capture pass an output port reports the capture latency of
    what feeds the client's inputs plus the client's own; in the playback pass an
    input port reports its outputs' playback latency plus the client's own.
    """

    def __init__(self, client: int, inputs: Sequence[int], outputs: Sequence[int], own: int) -> None:
        self.client = client
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.own = own
        self._callback = _LatencyCallback(self._latency)   # kept: JACK holds only the C pointer

    def install(self) -> None:
        """Before the client is activated."""
        if _set_latency_callback(_p(self.client), self._callback, None) != 0:
            raise MixhostError("JACK refused the latency callback")

    def _latency(self, mode: int, arg: object) -> None:
        # JACK's notification thread, not the process thread: Python is fine here
        upstream, mine = (self.inputs, self.outputs) if mode == CAPTURE_LATENCY else (self.outputs, self.inputs)
        ranges = [latency_range(port, mode) for port in upstream] or [(0, 0)]
        total = LatencyRange(min(r[0] for r in ranges) + self.own, max(r[1] for r in ranges) + self.own)
        for port in mine:
            _set_latency_range(_p(port), mode, ctypes.byref(total))


class CycleTimes:
    """Where a process callback is in JACK's cycle, read at its entry.

    ``jack_get_cycle_times`` gives the frame counter of the cycle, which tells the
    cycles JACK ran without the client (a callback still busy when the next cycle was
    due: the counter moves on by more than one period); ``jack_frames_since_cycle_start``
    counts from the server's wake-up for the cycle to now.  (The start time
    ``jack_get_cycle_times`` reports is the server's schedule, smoothed by its
    delay-locked loop, not its wake-up: on a loaded machine the two differ by more than
    what a callback waits for.)  The out-parameters are allocated once: the process
    thread calls :meth:`read` every cycle.
    """

    def __init__(self, client: int, sample_rate: float) -> None:
        self._client = _p(client)
        self._frames = ctypes.c_uint32()
        self._out = (ctypes.pointer(self._frames), ctypes.pointer(ctypes.c_uint64()),
                     ctypes.pointer(ctypes.c_uint64()), ctypes.pointer(ctypes.c_float()))
        self._seconds_per_frame = 1.0 / sample_rate

    def read(self) -> tuple[int, float]:
        """(the cycle's frame counter, seconds since the cycle began); the counter is -1
        before the server's clock has settled."""
        since = _held_frames_since_cycle_start(self._client) * self._seconds_per_frame
        if _held_get_cycle_times(self._client, *self._out) != 0:
            return -1, since
        return int(self._frames.value), since


# JACK MIDI (jack/midiport.h): a port buffer's events, read by compiled code (host.live.midi_gate, .midi_inlet)
midi_get_event_count = _function("jack_midi_get_event_count", ctypes.c_uint32, _p)
midi_event_get = _function("jack_midi_event_get", ctypes.c_int, _p, _p, ctypes.c_uint32)


def address(pointer: Any) -> int:
    """A JACK-Client (cffi) pointer, a client's or a port's, as an integer address."""
    import jack

    return int(jack._ffi.cast("uintptr_t", pointer))


class PortBuffer:
    """A port's samples this cycle as a float32 array, for a Python process callback.

    JACK-Client's ``get_array`` makes two cffi calls, and cffi lets go of the GIL for
    each (see ``_held``); this makes one that keeps it.  JACK hands out buffers from a
    fixed set, so the array over each is made once.
    """

    MOST = 16   # arrays kept (a port's buffer may move between a few, as connections change)

    def __init__(self, port: int) -> None:
        self._port = _p(port)
        self._arrays: dict[tuple[int, int], np.ndarray] = {}

    def array(self, frames: int) -> np.ndarray:
        address = int(_held_port_get_buffer(self._port, frames))
        found = self._arrays.get((address, frames))
        if found is None:
            if len(self._arrays) >= self.MOST:
                self._arrays.clear()
            found = np.ctypeslib.as_array((ctypes.c_float * frames).from_address(address))
            self._arrays[address, frames] = found
        return found


_pthread_setschedparam = _function("pthread_setschedparam", ctypes.c_int, ctypes.c_ulong, ctypes.c_int, _p,
                                   lib=ctypes.CDLL(None))


def raise_process_thread(client: int, priority: int) -> bool:
    """SCHED_FIFO at ``priority`` for the process thread of an active ``jack_client_t *`` whose
    server left it at normal priority (``--no-realtime``); False without the right to."""
    param = ctypes.c_int(priority)   # struct sched_param holds one int
    pthread = _client_thread_id(_p(client))
    return bool(_pthread_setschedparam(pthread, os.SCHED_FIFO, ctypes.byref(param)) == 0)
