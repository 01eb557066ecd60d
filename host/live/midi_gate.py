"""The MIDI gate: a compiled JACK client beside the engine that keeps the events of missed cycles.

The engine's process callback is Python, and reads its MIDI port at block start
(:mod:`.midi_inlet`).  When it misses a cycle (it waited for the GIL, or the
machine was busy) the events of that cycle are gone: JACK hands a port's
events to one cycle only.  Under 10,000 CC/s on a loaded machine that lost a
few dozen messages in 100,000.

So the controller is connected to a second client of mixhost's as well,
``<client>-midi``, whose process callback is compiled (a numba ``cfunc``: no
GIL, no allocation).  Each cycle it appends every event of its inputs, with
the cycle's frame counter, to a ring per input.  The engine's block takes from
the ring the events of the cycles it missed, then reads its own port for the
cycle it runs in.  The gate runs beside the engine, not before it: put in front
(its output feeding the engine's port, so JACK orders it first) it would add a
wake-up to every cycle's chain, and on the test VM under ``jackd -R`` that
turned 0 xruns in 10 s of 10,000 CC/s into 2 to 14.

The shared state is one int64 array per gate (``control``): a header, then one
row of fields per input (its port and its ring).  An input is published by
filling its row and then raising ``COUNT``, with a fence between, so the
callback never reads a half-made row.  Each ring's ``state`` has ``WRITTEN``
(the gate's, after a fence) and ``READ`` (the engine's).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
from numba import carray, cfunc, njit, types

from ..errors import AudioDeviceError
from .libjack import address as _address
from .libjack import last_frame_time as _last_frame_time
from .libjack import midi_event_get as _event_get
from .libjack import midi_get_event_count as _event_count
from .libjack import port_get_buffer as _port_get_buffer
from .libjack import set_process_callback as _set_process_callback
from .native import fence as _fence
from .native import pointer as _pointer

RING = 1 << 15                 # events kept per input: 3 s of 10,000 a second
WRITTEN, READ, LOST = range(3)     # a ring's state array
COUNT, EVENT, CLIENT = range(3)   # the control array's header: inputs published, event scratch, client
HEADER = 4
SOURCE, EVENTS, STATE = range(3)   # an input's row
FIELDS = 3
WORD, SIZE, FRAME = range(3)       # a ring's record: the first 3 bytes, the size, the cycle's frame counter
MOST = 16                      # inputs one gate serves


@cfunc(types.int32(types.uint32, types.voidptr))  # not cached: it calls libjack through ctypes
def _process(nframes: int, arg: Any) -> int:  # pragma: no cover - runs in JACK's thread, compiled
    """JACK's process callback: every input's events into its ring, with the cycle's frame counter."""
    control = carray(arg, (HEADER + MOST * FIELDS,), dtype=np.int64)
    inputs = control[COUNT]
    _fence()
    event = carray(_pointer(control[EVENT]), (3,), dtype=np.uint64)   # a jack_midi_event_t
    frame = np.int64(_last_frame_time(_pointer(control[CLIENT])))
    for index in range(inputs):
        row = HEADER + index * FIELDS
        source = _port_get_buffer(_pointer(control[row + SOURCE]), nframes)
        events = carray(_pointer(control[row + EVENTS]), (RING, 3), dtype=np.int64)
        state = carray(_pointer(control[row + STATE]), (3,), dtype=np.int64)
        written = state[WRITTEN]
        for number in range(_event_count(source)):
            if _event_get(_pointer(control[EVENT]), source, number) != 0 or event[1] == 0:
                continue
            size = event[1]
            data = carray(_pointer(event[2]), (size,), dtype=np.uint8)
            if written - state[READ] >= RING:
                state[LOST] += 1
                continue
            word = np.int64(data[0])
            if size > 1:
                word |= np.int64(data[1]) << 8
            if size > 2:
                word |= np.int64(data[2]) << 16
            events[written % RING, WORD] = word
            events[written % RING, SIZE] = size
            events[written % RING, FRAME] = frame
            written += 1
        _fence()
        state[WRITTEN] = written
    return 0


class GateInput:
    """One input of the gate: its port (connected to what the engine's port is) and the ring
    the engine's block takes missed cycles' events from."""

    def __init__(self, source: Any) -> None:
        self.source = source        # JACK-Client port
        self.events = np.zeros((RING, 3), dtype=np.int64)   # WORD, SIZE, FRAME
        self.state = np.zeros(3, dtype=np.int64)

    @property
    def lost(self) -> int:
        """Events dropped because the engine had not taken the ring's (the audio stopped)."""
        return int(self.state[LOST])


class MidiGate:
    """The gate client for one engine client (see the module docstring)."""

    def __init__(self, jack: Any, name: str, server: str | None) -> None:
        try:
            self.client = jack.Client(name, no_start_server=True, servername=server)
        except jack.JackError as error:
            raise AudioDeviceError(f"cannot open mixhost's MIDI client {name!r}: {error}",
                                   hint="check the JACK server with `jack_lsp`") from None
        self.control = np.zeros(HEADER + MOST * FIELDS, dtype=np.int64)
        self._event = np.zeros(3, dtype=np.uint64)
        self.control[EVENT] = self._event.ctypes.data
        self.inputs: list[GateInput] = []      # kept: the callback reads their arrays
        self.raised_priority = False
        handle = _address(self.client._ptr)
        self.control[CLIENT] = handle
        if _set_process_callback(ctypes.c_void_p(handle), ctypes.c_void_p(_process.address),
                                 ctypes.c_void_p(self.control.ctypes.data)) != 0:
            self.client.close()
            raise AudioDeviceError("JACK refused mixhost's MIDI callback", hint="leave --midi-in out")
        self.client.activate()
        if not self.client.realtime:   # as the engine's own thread: never late for a busy process
            from .backends.base import RT_PRIORITY
            from .libjack import raise_process_thread

            self.raised_priority = raise_process_thread(handle, RT_PRIORITY)

    @property
    def name(self) -> str:
        return str(self.client.name)

    def add(self, name: str) -> GateInput:
        """A new input ``name``, read from the next cycle on."""
        count = len(self.inputs)
        if count >= MOST:
            raise AudioDeviceError(f"mixhost reads at most {MOST} MIDI inputs in its audio callback")
        made = GateInput(self.client.midi_inports.register(name))
        self.inputs.append(made)
        row = HEADER + count * FIELDS
        self.control[row + SOURCE] = _address(made.source._ptr)
        self.control[row + EVENTS] = made.events.ctypes.data
        self.control[row + STATE] = made.state.ctypes.data
        _publish(self.control, count + 1)
        return made

    def close(self) -> None:
        """Stop the callback, then drop the client (the rings are kept until this object goes)."""
        if self.client is not None:
            self.client.deactivate()
            self.client.close()
            self.client = None


@njit(cache=True)
def _publish(control: np.ndarray, count: int) -> None:  # pragma: no cover - compiled
    """Raise the input count only after the row's stores are visible."""
    _fence()
    control[COUNT] = count
