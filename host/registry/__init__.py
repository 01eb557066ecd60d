"""The parameter registry: every controllable value, registered once.

Addresses look like ``tracks/vocals/comp/threshold_db``.  Automation, the
Python API, the CLI, MIDI and OSC all set values here; the engine reads them.

Real-time design
----------------
Values live in one preallocated ``float64`` array.  A control thread writes
one element (atomic under the GIL); the audio thread reads ``values[slot]``
at block start with no lock and no allocation.  Observers run in the thread
that made the change, except for changes the engine itself makes
(automation, safety mutes: :meth:`Registry.set_deferred`): those are
delivered by :meth:`Registry.dispatch_pending`, called from a control
thread, so the audio thread never runs observer code (which may do MIDI or
network I/O).  An engine write only stores the latest value per slot and
raises the slot's dirty flag, in arrays allocated at registration: it
allocates nothing, and however long a render runs without a dispatch, what
waits is at most one change per parameter (controllers only need the latest).
"""

from __future__ import annotations

import fnmatch
import logging
import math
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import scales
from ..errors import ParameterError
from ..suggest import did_you_mean
from .fades import Fade, Fades

log = logging.getLogger(__name__)

ValueLike = float | int | bool | str


@dataclass(frozen=True)
class ParamSpec:
    """What a stage declares about one parameter (relative name, no address)."""

    name: str
    default: float
    min: float
    max: float
    unit: str = ""
    scale: str = "linear"
    choices: tuple[str, ...] = ()
    doc: str = ""
    smooth: bool = True
    read_only: bool = False     # reported by the engine; no controller sets it

    def __post_init__(self) -> None:
        if self.scale not in scales.SCALES:
            raise ValueError(f"unknown scale {self.scale!r} for parameter {self.name!r}")
        if self.scale == "log" and self.min <= 0:
            raise ValueError(f"log scale needs a positive minimum ({self.name!r})")
        if not self.min <= self.default <= self.max:
            raise ValueError(f"default of {self.name!r} outside its range")

    @property
    def is_boolean(self) -> bool:
        return self.choices == ("off", "on")

    @property
    def is_enum(self) -> bool:
        return bool(self.choices) and not self.is_boolean

    @property
    def kind(self) -> str:
        """``boolean``, ``enum`` or ``number``: which control fits (a button, a menu, a fader)."""
        return "boolean" if self.is_boolean else "enum" if self.choices else "number"

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.min:g} to {self.max:g}{unit}"

    def to_json_schema(self) -> dict[str, Any]:
        """The JSON Schema for this parameter's value in a session file."""
        if self.is_boolean:
            return {"type": "boolean", "default": bool(self.default), "description": self.doc}
        if self.choices:
            return {
                "enum": list(self.choices),
                "default": self.choices[int(self.default)],
                "description": self.doc,
            }
        unit = f" ({self.unit})" if self.unit else ""
        return {
            "type": "number",
            "minimum": self.min,
            "maximum": self.max,
            "default": self.default,
            "description": (self.doc + unit).strip(),
        }


def boolean(name: str, default: bool = False, doc: str = "") -> ParamSpec:
    return ParamSpec(name, float(default), 0.0, 1.0, choices=("off", "on"), doc=doc, smooth=False)


def enum(name: str, choices: Sequence[str], default: str, doc: str = "") -> ParamSpec:
    return ParamSpec(
        name, float(list(choices).index(default)), 0.0, float(len(choices) - 1),
        choices=tuple(choices), doc=doc, smooth=False,
    )


@dataclass(frozen=True)
class Strip:
    """A mixer strip as a surface banks over it: its address prefix, name and a short name."""

    address: str
    name: str
    short: str


def short_name(name: str, width: int = 7) -> str:
    """``name`` in at most ``width`` characters, readable on a scribble strip.

    Word breaks (``_``, ``-``, space) become capitals and inner vowels go
    first, as console labels do: ``backing_vocals_left`` -> ``bckngVL``.
    """
    if len(name) <= width:
        return name
    words = [w for w in re.split(r"[_\-\s.]+", name) if w]
    if not words:
        return name[:width]
    head, tail = words[0], [w[0].upper() + w[1:] for w in words[1:]]
    text = head + "".join(tail)
    if len(text) <= width:
        return text
    squeezed = head[0] + re.sub(r"[aeiou]", "", head[1:])
    initials = "".join(w[0] for w in tail)
    return (squeezed[: max(1, width - len(initials))] + initials)[:width]


@dataclass(frozen=True)
class Change:
    """One parameter change, with who made it (``api``, ``automation``, ``midi:<port>``...)."""

    address: str
    value: float
    source: str


Observer = Callable[[Change], None]


@dataclass
class Parameter:
    """A registered parameter: its address, spec and slot in the value array."""

    address: str
    spec: ParamSpec
    slot: int
    doc_path: tuple[str | int, ...] | None = None
    owner: str = ""

    def parse(self, value: ValueLike) -> float:
        """A user value (number, bool or text value) -> stored float, validated."""
        spec = self.spec
        if spec.choices:
            return self._parse_choice(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(
                f"{self.address}: expected a number ({spec.describe_range()}), got {value!r}"
            )
        number = float(value)
        if not math.isfinite(number) or not spec.min <= number <= spec.max:
            raise ParameterError(
                f"{self.address}: {number:g} is out of range; use {spec.describe_range()}"
            )
        return number

    def _parse_choice(self, value: ValueLike) -> float:
        spec = self.spec
        if spec.is_boolean and isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if spec.is_boolean and text in ("true", "yes", "1"):
                text = "on"
            if spec.is_boolean and text in ("false", "no", "0"):
                text = "off"
            if text in spec.choices:
                return float(spec.choices.index(text))
            raise ParameterError(
                f"{self.address}: unknown value {value!r}; {did_you_mean(text, spec.choices)}"
            )
        if isinstance(value, (int, float)) and float(value).is_integer() and 0 <= value < len(spec.choices):
            return float(value)
        raise ParameterError(f"{self.address}: expected {spec.describe_range()}, got {value!r}")

    def display(self, stored: float, width: int = 7) -> str:
        """The value as a surface shows it in at most ``width`` characters: ``-3.0 dB``,
        ``1.2 kHz``, ``L30``, ``on``.  Less precision and then no unit before cutting."""
        spec = self.spec
        if spec.choices:
            return spec.choices[min(max(int(round(stored)), 0), len(spec.choices) - 1)][:width]
        if spec.name == "pan":
            percent = int(round(stored * 100))
            return ("C" if percent == 0 else f"L{-percent}" if percent < 0 else f"R{percent}")[:width]
        forms = _display_forms(stored, spec)
        # the unit is worth more than a decimal; a number without its unit comes last
        for text in [*(f"{n} {u}" for n, u in forms), *(f"{n}{u}" for n, u in forms), *(n for n, _ in forms)]:
            if len(text.strip()) <= width:
                return text.strip()
        return forms[-1][0][:width]

    def present(self, stored: float) -> ValueLike:
        """Stored float -> the value a user sees (bool, text value or number)."""
        if self.spec.is_boolean:
            return stored >= 0.5
        if self.spec.choices:
            return self.spec.choices[int(round(stored))]
        return float(stored)


def _display_forms(value: float, spec: ParamSpec) -> list[tuple[str, str]]:
    """(number, unit) texts for a value, most precise first."""
    unit = spec.unit
    if unit == "dB" and spec.scale == "db_fader" and value <= spec.min:
        return [("-inf", "dB")]
    if unit == "Hz" and abs(value) >= 1000:
        return [(f"{value / 1000:.1f}", "kHz"), (f"{value / 1000:.0f}", "kHz")]
    if not math.isfinite(value):
        return [(str(value), unit)]
    digits = 1 if abs(value) < 100 else 0
    forms = [(f"{value:.{digits}f}", unit)]
    if digits:
        forms.append((f"{value:.0f}", unit))
    return forms


@dataclass
class _ObserverEntry:
    callback: Observer
    pattern: str | None
    skip_source: str | None = None


@dataclass
class Registry:
    """All parameters of one session, addressed by path."""

    capacity: int = 256
    _params: dict[str, Parameter] = field(default_factory=dict)
    _observers: tuple[_ObserverEntry, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.values = np.zeros(self.capacity, dtype=np.float64)
        # engine-side changes not yet delivered: the latest value and source per slot, and a flag
        self._pending_values = np.zeros(self.capacity, dtype=np.float64)
        self._pending_dirty = np.zeros(self.capacity, dtype=np.bool_)
        self._pending_sources: list[str] = [""] * self.capacity
        self._by_slot: list[Parameter] = []
        self._writer: Callable[[Parameter, float, str], None] | None = None
        self._batch_writer: Callable[[Sequence[tuple[Parameter, float]], str], None] | None = None
        self._strips: list[Strip] = []
        #: fades the block engine applies (:meth:`fade`)
        self.fades = Fades(self)

    # -- registration (build time, never from the audio thread) ------------
    def register(
        self,
        address: str,
        spec: ParamSpec,
        *,
        value: float | None = None,
        doc_path: Sequence[str | int] | None = None,
        owner: str = "",
    ) -> Parameter:
        if address in self._params:
            raise ParameterError(f"{address}: registered twice; give the stages distinct ids")
        slot = len(self._params)
        if slot >= len(self.values):
            self._grow(2 * len(self.values))
        param = Parameter(address, spec, slot, tuple(doc_path) if doc_path is not None else None, owner)
        self._params[address] = param
        self._by_slot.append(param)
        self.values[slot] = spec.default if value is None else value
        return param

    def add_strip(self, address: str, name: str) -> Strip:
        """Declare a mixer strip (``tracks/vox``), in the order surfaces bank over them."""
        strip = Strip(address, name, short_name(name))
        self._strips.append(strip)
        return strip

    def strips(self) -> list[Strip]:
        """The mixer strips in mixer order: tracks, buses, then the master."""
        return list(self._strips)

    def _grow(self, size: int) -> None:
        def grown(old: np.ndarray) -> np.ndarray:
            new = np.zeros(size, dtype=old.dtype)
            new[: len(old)] = old
            return new

        self.values = grown(self.values)
        self._pending_values = grown(self._pending_values)
        self._pending_dirty = grown(self._pending_dirty)
        self._pending_sources += [""] * (size - len(self._pending_sources))

    # -- lookup --------------------------------------------------------------
    def __contains__(self, address: object) -> bool:
        return address in self._params

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._params.values())

    def __len__(self) -> int:
        return len(self._params)

    def param(self, address: str) -> Parameter:
        try:
            return self._params[address]
        except KeyError:
            raise ParameterError(
                f"no parameter at {address!r}; {did_you_mean(address, self._params)}",
                hint="`mixhost params SESSION` lists every address",
            ) from None

    def find(self, pattern: str) -> list[Parameter]:
        """Parameters whose address matches a glob such as ``tracks/*/gain_db``."""
        return [p for a, p in self._params.items() if fnmatch.fnmatchcase(a, pattern)]

    # -- values --------------------------------------------------------------
    def get(self, address: str) -> ValueLike:
        param = self.param(address)
        return param.present(float(self.values[param.slot]))

    def get_normalized(self, address: str) -> float:
        param = self.param(address)
        spec = param.spec
        return scales.to_normalized(float(self.values[param.slot]), spec.min, spec.max, spec.scale)

    def set(self, address: str, value: ValueLike, source: str = "api") -> None:
        """Validate and set a value; out-of-range values are refused, not clamped."""
        param = self._writable(address)
        self._store(param, param.parse(value), source)

    def set_normalized(self, address: str, position: float, source: str = "api") -> None:
        """Set from a controller position in 0..1 (clamped, mapped through the scale).

        A NaN or infinite position is refused: clamping cannot place it, and
        stored it would silence the strip (a NaN gain is a NaN block).
        """
        param = self._writable(address)
        self._store(param, self.position_value(param, position), source)

    @staticmethod
    def position_value(param: Parameter, position: float) -> float:
        """The value at a controller position (clamped to 0..1); NaN or Inf is refused."""
        position = float(position)
        if not math.isfinite(position):
            raise ParameterError(f"{param.address}: position {position} is not a finite number; "
                                 "a controller position is 0..1")
        spec = param.spec
        value = scales.from_normalized(position, spec.min, spec.max, spec.scale)
        return float(round(value)) if spec.choices else value

    def set_many(self, items: Sequence[tuple[str, ValueLike]], source: str = "api", *,
                 normalized: bool = False) -> None:
        """Set several values that land in the same block (a macro, an OSC bundle, a recall).

        Every value is validated first: if one is refused, none is set.
        ``normalized``: the values are controller positions in 0..1.
        """
        stored: list[tuple[Parameter, float]] = []
        for address, value in items:
            param = self._writable(address)
            number = self.position_value(param, float(value)) if normalized else param.parse(value)
            stored.append((param, number))
        if not stored:
            return
        if self._batch_writer is not None:
            self._batch_writer(stored, source)
        elif self._writer is not None:
            for param, number in stored:
                self._writer(param, number, source)
        else:
            for param, number in stored:
                self.values[param.slot] = number
        for param, number in stored:
            self._notify(Change(param.address, number, source))

    def announce(self, items: Sequence[tuple[str, ValueLike]], source: str) -> None:
        """Tell the observers, now and in this thread, about values the engine has stored already
        on a control's behalf: a MIDI control the engine reads in its audio callback
        (:mod:`host.live.midi_inlet`) lands in the block of the cycle that delivered it, and its
        surface reports the move here, as its own, so feedback knows whose move it was.

        Validated as :meth:`set_many` is (a value the engine could not have stored is refused);
        nothing is written.
        """
        changes = [Change(address, self._writable(address).parse(value), source) for address, value in items]
        for change in changes:
            self._notify(change)

    def fade(self, items: Sequence[tuple[str, ValueLike]], samples: int, source: str = "api") -> None:
        """Move several values to these targets over ``samples`` samples of the block engine
        (a snapshot recall with a fade): see :mod:`host.registry.fades`.

        Every value is validated first: if one is refused, nothing fades.  A
        fade asked for while another runs replaces it from the next block.
        """
        params: list[Parameter] = []
        targets: list[float] = []
        for address, value in items:
            param = self._writable(address)
            targets.append(param.parse(value))
            params.append(param)
        if samples < 1:
            raise ParameterError(f"a fade takes at least one sample, not {samples}")
        self.fades.request(Fade(params, targets, samples, source) if params else None)

    def deferred_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """The value array and the engine-side pending arrays (values, flags, sources) that
        :meth:`set_deferred` writes, for an engine writer of many values at once (a fade)."""
        return self.values, self._pending_values, self._pending_dirty, self._pending_sources

    def _writable(self, address: str) -> Parameter:
        param = self.param(address)
        if param.spec.read_only:
            raise ParameterError(f"{address} is read-only: {param.spec.doc or 'the engine reports it'}")
        return param

    def set_deferred(self, param: Parameter, value: float, source: str = "automation") -> None:
        """Engine-side write: no validation, no allocation; observers get it from `dispatch_pending`.

        A write that does not change the value (a constant automation lane,
        block after block) is stored but not marked: nobody needs to hear it.
        """
        slot = param.slot
        if self.values[slot] == value:
            return
        self.values[slot] = value
        self._pending_values[slot] = value
        self._pending_sources[slot] = source
        self._pending_dirty[slot] = True  # last: a dispatch that sees the flag finds the value in place

    @property
    def pending_count(self) -> int:
        """Engine-side changes waiting for `dispatch_pending` (at most one per parameter)."""
        return int(np.count_nonzero(self._pending_dirty))

    def route_writes(self, writer: Callable[[Parameter, float, str], None] | None,
                     batch: Callable[[Sequence[tuple[Parameter, float]], str], None] | None = None) -> None:
        """Send control writes through ``writer`` instead of storing them at once (None: direct).

        The live engine routes them into a queue it applies at block start, so
        every stage of a block sees the same values; ``batch`` takes a
        :meth:`set_many` as one entry, so it lands whole in one block.
        Observers still run at once, in the setting thread.
        """
        self._writer = writer
        self._batch_writer = batch if writer is not None else None

    def _store(self, param: Parameter, value: float, source: str) -> None:
        if self._writer is None:
            self.values[param.slot] = value
        else:
            self._writer(param, value, source)
        self._notify(Change(param.address, value, source))

    # -- observers -----------------------------------------------------------
    def observe(
        self, callback: Observer, pattern: str | None = None, *, skip_source: str | None = None
    ) -> Callable[[], None]:
        """Call ``callback(change)`` on every change whose address matches ``pattern``.

        ``skip_source`` suppresses echoes to the controller that made the
        change (a motor fader must not be driven by its own move).  Returns a
        function that removes the observer.
        """
        entry = _ObserverEntry(callback, pattern, skip_source)
        with self._lock:
            self._observers = (*self._observers, entry)

        def remove() -> None:
            with self._lock:
                self._observers = tuple(o for o in self._observers if o is not entry)

        return remove

    def dispatch_pending(self, limit: int = 10_000) -> int:
        """Deliver the latest engine-side change of each parameter to observers; returns how many."""
        dirty = self._pending_dirty
        slots = np.flatnonzero(dirty)[:limit]
        for slot in slots:
            # clear the flag before reading the value: a write in between is delivered next time too
            dirty[slot] = False
            change = Change(self._by_slot[slot].address, float(self._pending_values[slot]),
                            self._pending_sources[slot])
            self._notify(change)
        return len(slots)

    def _notify(self, change: Change) -> None:
        for entry in self._observers:
            if entry.skip_source is not None and entry.skip_source == change.source:
                continue
            if entry.pattern is None or fnmatch.fnmatchcase(change.address, entry.pattern):
                try:
                    entry.callback(change)
                except Exception:  # one broken observer (a controller gone away) must not stop the others
                    log.warning("observer %r failed on %s = %g (from %s)", entry.callback, change.address,
                                change.value, change.source, exc_info=log.isEnabledFor(logging.DEBUG))

    # -- export --------------------------------------------------------------
    def table(self) -> list[dict[str, Any]]:
        """One row per parameter: what `mixhost params` shows."""
        rows = []
        for p in self._params.values():
            s = p.spec
            rows.append({
                "address": p.address,
                "value": p.present(float(self.values[p.slot])),
                "default": p.present(s.default),
                "min": s.min,
                "max": s.max,
                "unit": s.unit,
                "scale": s.scale,
                "choices": list(s.choices),
                "normalized": round(self.get_normalized(p.address), 6),
                "kind": s.kind,
                "read_only": s.read_only,
                "doc": s.doc,
                "display": p.display(float(self.values[p.slot])),
            })
        return rows
