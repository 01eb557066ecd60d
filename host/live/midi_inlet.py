"""MIDI read by the engine: a MIDI input port on the live engine's own JACK client.

A surface that reads its port in a control thread sets the registry after the
cycle that delivered the message has begun its block, so the value lands a
period later (README, "Where the latency goes").  Here the engine reads the
port in its process callback, at block start, after the control hand-off:
a control move lands in the block of the cycle that delivers it.  The same
controller also feeds the gate (:mod:`.midi_gate`), a compiled client that
keeps every event with its cycle: a cycle the engine's callback misses
delays its events by a block instead of losing them.

What runs in the audio thread is one compiled pass (:func:`_take`), with no
lock and no allocation, over the events of the cycles missed since the last
block (from the gate), then the port's events of this cycle:

* each event is looked up in the **routes** (status byte and first data byte
  -> the routes of that control).  A route writes one parameter's value slot
  from a table made beforehand (:class:`Route`): one value per raw MIDI value,
  the mapping's range, curve and taper already applied, every value already
  validated by the registry.  Control never touches DSP: the value goes into
  the registry's array, and the stages pick it up with their smoothing;
* every event, routed or not, is copied into a ring (3 bytes, its size and
  whether routes applied it) that the surface's I/O thread reads
  (:meth:`MidiInlet.read`).  The surface decodes, counts, learns and sends
  feedback as from any port, and tells the registry's observers about the
  values the engine applied (:meth:`Registry.announce`), so the session
  document and the other surfaces follow, and no control gets its own move
  back.  What the ring keeps of a longer message (SysEx) is its first three
  bytes and its size: no surface answers SysEx input, it is only counted.

Routes are replaced whole (:meth:`MidiInlet.set_routes`: one attribute
holds them all, read once per block).  While ``enabled`` is False (MIDI
learn) nothing is applied and every event goes to the surface.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numba import carray, njit

from ..errors import ParameterError
from ..registry import Parameter
from .libjack import address as _address
from .libjack import last_frame_time as _last_frame_time
from .libjack import midi_event_get as _event_get
from .libjack import midi_get_event_count as _event_count
from .libjack import port_get_buffer as _port_get_buffer
from .midi_gate import FRAME as _FRAME
from .midi_gate import READ as _GATE_READ
from .midi_gate import SIZE as _SIZE
from .midi_gate import WORD as _WORD
from .midi_gate import WRITTEN as _GATE_WRITTEN
from .native import fence as _fence
from .native import pointer as _pointer

if TYPE_CHECKING:
    from .midi_gate import MidiGate

RING = 1 << 15          # events kept for the surface: 3 s of 10,000 per second
KEYS = 256 * 128        # status byte x first data byte
WRITTEN, READ, LOST, APPLIED, SEEN = range(5)    # the ring's state array; SEEN: the last cycle read
LONG = 2                # a record's flag: the message was longer than three bytes (SysEx)


@dataclass(frozen=True)
class Route:
    """One parameter a MIDI control drives, with its value for every raw control value.

    ``status``: the message's status byte (kind and channel: ``0xB0 | channel``
    for a CC, ``0xE0 | channel`` for pitch bend, ``0x90 | channel`` for a note,
    whose note-off and velocity 0 read as raw value 0).  ``number``: the
    controller or note number (ignored for pitch bend, whose raw value is the
    14-bit bend).  ``table[raw]``: the value to store; 128 or 16384 entries.
    """

    status: int
    number: int
    param: Parameter
    table: np.ndarray


class _Tables(NamedTuple):
    first: np.ndarray      # key -> first route, -1: none
    chain: np.ndarray      # route -> the next route of the same key, -1: last
    slots: np.ndarray      # route -> the registry slot it writes
    offsets: np.ndarray    # route -> where its table starts in ``values``
    sizes: np.ndarray      # route -> its table's length
    values: np.ndarray     # every table, one after another
    params: dict[int, Parameter]


@njit(inline="always")
def _key(status: int, number: int) -> int:
    """A control's index in the routes: status byte and controller or note (pitch bend has none)."""
    return status * 128 + (0 if status >= 0xE0 else number)


@njit(inline="always")
def _after(frame: int, other: int) -> bool:
    """Whether JACK frame counter ``frame`` is later than ``other`` (32 bits, wrapping)."""
    ahead = (frame - other) & 0xFFFFFFFF
    return 0 < ahead < 0x80000000


def compile_routes(routes: Sequence[Route]) -> _Tables:
    """The routes as flat arrays for the compiled pass; refuses a value the registry would."""
    first = np.full(KEYS, -1, dtype=np.int32)
    chain = np.full(max(len(routes), 1), -1, dtype=np.int32)
    slots = np.zeros(max(len(routes), 1), dtype=np.int64)
    offsets = np.zeros_like(slots)
    sizes = np.zeros_like(slots)
    params: dict[int, Parameter] = {}
    start = 0
    for index, route in enumerate(routes):
        if not 0x80 <= route.status < 0xF0 or not 0 <= route.number < 128:
            raise ValueError(f"no channel message: status {route.status:#x}, number {route.number}")
        _check_table(route)
        key = _key.py_func(route.status, route.number)   # the rule _take uses, without a compile here
        chain[index], first[key] = first[key], index
        slots[index] = route.param.slot
        offsets[index], sizes[index] = start, len(route.table)
        params[route.param.slot] = route.param
        start += len(route.table)
    values = np.concatenate([np.asarray(r.table, dtype=np.float64) for r in routes]) if routes else np.zeros(1)
    return _Tables(first, chain, slots, offsets, sizes, values, params)


def _check_table(route: Route) -> None:
    spec = route.param.spec
    table = np.asarray(route.table, dtype=np.float64)
    if len(table) not in (128, 16384):
        raise ValueError(f"{route.param.address}: a route's table has 128 or 16384 values, not {len(table)}")
    if not np.isfinite(table).all() or table.min() < spec.min or table.max() > spec.max:
        bad = table[~np.isfinite(table) | (table < spec.min) | (table > spec.max)][0]
        raise ParameterError(f"{route.param.address}: {bad:g} is out of range; use {spec.describe_range()}")
    if spec.choices and not np.array_equal(table, np.round(table)):
        raise ParameterError(f"{route.param.address}: a choice parameter takes whole values")


@njit(inline="always")
def _apply(status: int, one: int, two: int, size: int, apply: bool, first: np.ndarray, chain: np.ndarray,
           slots: np.ndarray, offsets: np.ndarray, sizes: np.ndarray, tables: np.ndarray, values: np.ndarray,
           records: np.ndarray, state: np.ndarray, touched: np.ndarray, marks: np.ndarray,
           moved: int) -> int:  # pragma: no cover - compiled
    """One event: its routes' values stored, the event into the surface's ring; returns ``moved``."""
    applied = 0
    if apply and size == 3 and 0x80 <= status < 0xF0 and one < 128 and two < 128:
        route = first[_key(status, one)]
        if status >= 0xE0:
            raw = one | (two << 7)
        elif status < 0x90:
            raw = 0                      # a note-off: a release
        else:
            raw = two
        while route >= 0:
            slot = slots[route]
            values[slot] = tables[offsets[route] + min(raw, sizes[route] - 1)]
            if not marks[slot]:
                marks[slot] = True
                touched[moved] = slot
                moved += 1
            route = chain[route]
            applied = 1
    written = state[WRITTEN]
    if written - state[READ] < records.shape[0]:
        record = records[written % records.shape[0]]
        record[0] = status | (one << 8) | (two << 16)
        record[1] = size
        record[2] = applied | (LONG if size > 3 else 0)
        _fence()                         # the record before the count that publishes it
        state[WRITTEN] = written + 1
    else:
        state[LOST] += 1
    state[APPLIED] += applied
    return moved


@njit  # holding the GIL: released, the audio thread would wait to take it back (see engine.GIL_HOLD_S)
def _take(client: int, port: int, frames: int, event: np.ndarray, kept: np.ndarray, gate: np.ndarray,
          apply: bool, first: np.ndarray, chain: np.ndarray, slots: np.ndarray, offsets: np.ndarray,
          sizes: np.ndarray, tables: np.ndarray, values: np.ndarray, records: np.ndarray, state: np.ndarray,
          touched: np.ndarray, marks: np.ndarray) -> int:  # pragma: no cover - compiled, in JACK's thread
    """The events of the cycles missed since the last block (the gate kept them), then this
    cycle's from the port: routed values into ``values``, every event into the surface's ring.
    Returns how many slots were written (their numbers in ``touched``)."""
    frame = np.int64(_last_frame_time(_pointer(client)))
    seen = state[SEEN]
    arrived = gate[_GATE_WRITTEN]
    _fence()
    moved = 0
    for number in range(gate[_GATE_READ], arrived):
        record = kept[number % kept.shape[0]]
        if record[_FRAME] != frame and (seen < 0 or _after(record[_FRAME], seen)):   # a missed cycle's
            word = record[_WORD]
            moved = _apply(word & 0xFF, (word >> 8) & 0xFF, (word >> 16) & 0xFF, record[_SIZE], apply, first,
                           chain, slots, offsets, sizes, tables, values, records, state, touched, marks, moved)
    gate[_GATE_READ] = arrived
    buffer = _port_get_buffer(_pointer(port), frames)
    for index in range(_event_count(buffer)):
        if _event_get(_pointer(event.ctypes.data), buffer, index) != 0 or event[1] == 0:
            continue
        size = event[1]
        data = carray(_pointer(event[2]), (size,), dtype=np.uint8)
        moved = _apply(np.int64(data[0]), np.int64(data[1]) if size > 1 else 0,
                       np.int64(data[2]) if size > 2 else 0, size, apply, first, chain, slots, offsets, sizes,
                       tables, values, records, state, touched, marks, moved)
    state[SEEN] = frame
    for index in range(moved):
        marks[touched[index]] = False
    _fence()
    return moved


@njit(cache=True)
def _read(records: np.ndarray, state: np.ndarray, out: np.ndarray) -> int:  # pragma: no cover - compiled
    """The reader's side of the ring: up to ``len(out)`` records, oldest first."""
    written = state[WRITTEN]
    _fence()
    done = state[READ]
    count = min(written - done, out.shape[0])
    capacity = records.shape[0]
    for index in range(count):
        out[index] = records[(done + index) % capacity]
    _fence()
    state[READ] = done + count
    return count


class MidiInlet:
    """A MIDI input port of the engine's JACK client, its input on the gate (:mod:`.midi_gate`),
    its routes and the surface's ring (see the module docstring)."""

    def __init__(self, client: Any, port: Any, gate: MidiGate, capacity: int = 1 << 16) -> None:
        self.client = client                # the engine's JACK-Client client
        self.port = port
        self._client_address = _address(client._ptr)   # jack_client_t *
        self._port_address = _address(port._ptr)       # jack_port_t *
        self.gate = gate
        self._kept = gate.add(port.shortname)   # the gate's input: what the engine's callback missed
        self.source = "midi"                # who the applied values come from, for the recorder
        self.enabled = True                 # False: nothing applied (MIDI learn); the ring still fills
        self._event = np.zeros(3, dtype=np.uint64)      # a jack_midi_event_t: time, size, buffer
        self._records = np.zeros((RING, 3), dtype=np.int64)
        self._state = np.zeros(5, dtype=np.int64)
        self._state[SEEN] = -1
        self._out = np.zeros((4096, 3), dtype=np.int64)
        self._marks = np.zeros(capacity, dtype=np.bool_)
        self._touched = np.zeros(capacity, dtype=np.int64)
        self._tables = compile_routes([])
        self._wanted: str | None = None
        self._compile()

    def _args(self, frames: int, values: np.ndarray) -> tuple[Any, ...]:
        tables = self._tables   # one read: a set_routes in between takes effect next block
        return (self._client_address, self._port_address, frames, self._event, self._kept.events,
                self._kept.state, self.enabled, tables.first, tables.chain, tables.slots, tables.offsets,
                tables.sizes, tables.values, values, self._records, self._state, self._touched, self._marks)

    def _compile(self) -> None:
        """Compile the audio thread's pass and the reader now (seconds), not while the audio plays."""
        from numba import typeof

        _take.compile(tuple(typeof(arg) for arg in self._args(0, np.zeros(1))))
        # the surface's reader too: compiled lazily, its first call (in the I/O thread, while the
        # audio plays) would hold the GIL for the whole compile, and the callback would wait it out
        _read.compile(tuple(typeof(arg) for arg in (self._records, self._state, self._out[:1])))

    @property
    def name(self) -> str:
        """The port's full JACK name (``mixhost:midi_in``)."""
        return str(self.port.name)

    # -- routes (a control thread) ----------------------------------------------------------------
    def set_routes(self, routes: Sequence[Route]) -> None:
        """Replace every route at once: from the next block on, these controls land in it."""
        self._tables = compile_routes(routes)

    @property
    def routed(self) -> int:
        """Events the engine applied through routes since the port was made."""
        return int(self._state[APPLIED])

    @property
    def gate_received(self) -> int:
        """Events the gate has kept since the port was made (every one its cycles delivered)."""
        return int(self._kept.state[_GATE_WRITTEN])

    @property
    def lost(self) -> int:
        """Events the surface never saw: a ring was full (the surface's, or the gate's while the
        audio was stopped)."""
        return int(self._state[LOST]) + self._kept.lost

    # -- the audio thread -------------------------------------------------------------------------
    def take(self, frames: int, values: np.ndarray) -> np.ndarray:
        """The events since the last block (process thread, at block start): routed values
        stored; returns the slots written, valid until the next call."""
        if values.shape[0] > self._marks.shape[0]:
            return self._touched[:0]          # the registry grew past what was allocated: nothing routed
        return self._touched[:_take(*self._args(frames, values))]

    def param(self, slot: int) -> Parameter:
        return self._tables.params[slot]

    # -- the surface's I/O thread -----------------------------------------------------------------
    def read(self, limit: int = 4096) -> list[tuple[list[int], bool]]:
        """Every event waiting (at most ``limit``), oldest first: (its bytes, applied by a route).
        A message longer than three bytes comes as its first three."""
        out = self._out[:min(limit, len(self._out))]
        count = _read(self._records, self._state, out)
        events = []
        for word, size, flags in out[:count].tolist():
            data = [word & 0xFF, (word >> 8) & 0xFF, (word >> 16) & 0xFF][:min(size, 3)]
            events.append((data, bool(flags & 1)))
        return events

    # -- connections (a control thread) -----------------------------------------------------------
    def sources(self) -> list[str]:
        """The MIDI output ports of the server, ours (the engine's and the gate's) left out."""
        ours = (self.client.name + ":", self.gate.name + ":")
        return [p.name for p in self.client.get_ports(is_midi=True, is_output=True) if not p.name.startswith(ours)]

    def connect(self, source: str | None) -> None:
        """Read from ``source`` (None: from nothing); made now if the client is active, else at activation."""
        self._wanted = source
        self.reconnect()

    def reconnect(self) -> None:
        """Make the wanted connections, to the engine's port and to the gate's, where they are not
        made (the backend calls it when it activates the client)."""
        for port in (self.port, self._kept.source):
            self._link(port)

    def _link(self, port: Any) -> None:
        import jack

        client = self.gate.client   # always active: it may connect anything
        if self._wanted is None or not self._linked(port, self._wanted):
            for other in client.get_all_connections(port):
                if other.name != self._wanted:
                    client.disconnect(other, port)
        if self._wanted is None or self._linked(port, self._wanted):
            return
        # not active yet, or the source went away: the surface's check() says so
        with contextlib.suppress(jack.JackError):
            client.connect(self._wanted, port)

    def _linked(self, port: Any, source: str) -> bool:
        try:
            return any(p.name == source for p in self.gate.client.get_all_connections(port))
        except Exception:  # noqa: BLE001 - a client closed under us: not connected
            return False

    def connected_to(self, source: str) -> bool:
        """Whether ``source`` feeds the engine's port (and the gate's)."""
        return self._linked(self.port, source) and self._linked(self._kept.source, source)
