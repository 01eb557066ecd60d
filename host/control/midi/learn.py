"""MIDI learn: move a control, and the mapping it needs is worked out from what it sent.

:func:`detect` looks at the messages of one gesture:

* (N)RPN parameter selects (CC 99/98 or 101/100) -> ``nrpn``/``rpn`` with its
  number; only data increment/decrement -> ``encoding: increment``;
* CC n and n+32 both moving (n < 32) -> ``cc14``;
* pitch bend, a note, channel pressure, a program change -> those sources;
* one CC: absolute if its values wander over a range; relative if it repeats a
  few values around 0/128 or 64, the encoding told by which side of them it
  uses (63/65: binary offset; 1/127: two's complement; 1/65: signed bit).
  A control turned one way only cannot be told apart: then the caller asks.

:func:`add_mapping` writes the entry into the session's ``controllers:`` or a
map file, comments kept, never over a file the session reads.  :class:`ArmedLearn`
is learn inside a running ``mixhost live``: arm, touch a parameter, move a control.  :class:`Learner` collects a gesture from messages
handed to it (``mixhost learn`` feeds it from a port; a running surface from
its input thread, :meth:`~host.control.midi.surface.MidiSurface.learn`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml.comments import CommentedMap

from ...errors import MixhostError
from ...outputs import Output, prepare
from ...registry import Change
from ...session import ENGINE_SOURCES, yaml_doc
from .encoders import (
    DATA_DECREMENT,
    DATA_INCREMENT,
    NRPN_LSB,
    NRPN_MSB,
    RPN_LSB,
    RPN_MSB,
    is_parameter_number_cc,
)
from .maps import append_mapping
from .messages import Message

if TYPE_CHECKING:
    from ..surface import SurfaceContext
    from .surface import MidiSurface

QUIET_S = 0.6            # a gesture ends after this long without a message
RELATIVE_DISTINCT = 4    # a relative encoder repeats at most this many values


@dataclass
class Detected:
    """A mapping entry (as written to YAML) and, when the data cannot tell, the choices to ask about."""

    entry: dict[str, Any]
    choices: list[str] = field(default_factory=list)
    note: str = ""


class Learner:
    """Collects one gesture's messages (any thread feeds, one waits)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._last = 0.0
        self._lock = threading.Lock()
        self._first = threading.Event()

    def feed(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)
            self._last = time.monotonic()
        self._first.set()

    def gesture(self, quiet_s: float = QUIET_S) -> list[Message] | None:
        """The gesture if it has ended (``quiet_s`` without a message), else None: never waits."""
        with self._lock:
            if not self.messages or time.monotonic() - self._last < quiet_s:
                return None
            return list(self.messages)

    def wait(self, timeout_s: float, quiet_s: float = QUIET_S) -> list[Message]:
        """The gesture: from the first message until ``quiet_s`` without one (empty on timeout)."""
        if not self._first.wait(timeout_s):
            return []
        while True:
            with self._lock:
                idle = time.monotonic() - self._last
            if idle >= quiet_s:
                break
            time.sleep(min(0.05, quiet_s - idle))
        with self._lock:
            return list(self.messages)


def detect(messages: list[Message]) -> Detected | None:
    """The mapping entry a gesture asks for (see the module docstring); None for nothing usable."""
    if not messages:
        return None
    channel = Counter(m.channel for m in messages).most_common(1)[0][0]
    ours = [m for m in messages if m.channel == channel]
    base: dict[str, Any] = {"channel": channel + 1}
    kinds = Counter(m.kind for m in ours)
    ccs = [m for m in ours if m.kind == "cc"]
    numbers = {m.number for m in ccs}
    if numbers & {NRPN_MSB, NRPN_LSB, RPN_MSB, RPN_LSB}:
        return _parameter_number(ccs, base)
    if kinds["pitchbend"]:
        return Detected({"source": "pitchbend", **base})
    if kinds["note_on"]:
        number = Counter(m.number for m in ours if m.kind == "note_on").most_common(1)[0][0]
        return Detected({"source": "note", **base, "number": number})
    if kinds["program"]:
        return Detected({"source": "program", **base})
    if kinds["pressure"]:
        return Detected({"source": "pressure", **base})
    if not ccs:
        return None
    pairs = sorted(n for n in numbers if n < 32 and n + 32 in numbers)
    if pairs:
        return Detected({"source": "cc14", **base, "number": pairs[0]})
    number = Counter(m.number for m in ccs).most_common(1)[0][0]
    values = [m.value for m in ccs if m.number == number]
    return _cc(values, {"source": "cc", **base, "number": number})


def _parameter_number(ccs: list[Message], base: dict[str, Any]) -> Detected:
    msb = lsb = 0
    kind = "nrpn"
    data_seen = increment_seen = False
    for m in ccs:
        if m.number in (NRPN_MSB, RPN_MSB):
            kind, msb = ("nrpn" if m.number == NRPN_MSB else "rpn"), m.value
        elif m.number in (NRPN_LSB, RPN_LSB):
            kind, lsb = ("nrpn" if m.number == NRPN_LSB else "rpn"), m.value
        elif m.number in (DATA_INCREMENT, DATA_DECREMENT):
            increment_seen = True
        elif is_parameter_number_cc(m.number):
            data_seen = True
    entry: dict[str, Any] = {"source": kind, **base, "number": (msb << 7) | lsb}
    if increment_seen and not data_seen:
        entry["encoding"] = "increment"
    return Detected(entry)


def _cc(values: list[int], entry: dict[str, Any]) -> Detected:
    distinct = set(values)
    banded = all(v <= 15 or v >= 113 or 49 <= v <= 79 for v in distinct)
    if len(values) >= 3 and len(distinct) <= RELATIVE_DISTINCT and banded:
        return _relative(distinct, entry)
    if len(distinct) >= 2:
        return Detected(entry)
    return Detected(entry, ["absolute", "twos_complement", "signed_bit", "binary_offset"],
                    "one value only: move the control further to tell its kind")


def _relative(distinct: set[int], entry: dict[str, Any]) -> Detected:
    """Which relative encoding a few repeated values are (see the module docstring)."""
    low = any(v <= 15 for v in distinct)
    if any(v >= 113 for v in distinct):
        return Detected({**entry, "encoding": "twos_complement"})          # 127 = -1
    if any(49 <= v <= 63 for v in distinct):
        return Detected({**entry, "encoding": "binary_offset"})            # 63 = -1
    upper_middle = any(65 <= v <= 79 for v in distinct)
    if upper_middle and low:
        return Detected({**entry, "encoding": "signed_bit"})               # 1 = +1, 65 = -1
    if upper_middle:
        return Detected({**entry, "encoding": "binary_offset"}, ["binary_offset", "signed_bit"],
                        "turned one way only: 65 is +1 in binary offset and -1 in signed bit")
    return Detected({**entry, "encoding": "twos_complement"}, ["twos_complement", "signed_bit"],
                    "turned one way only: its encoding cannot be told from the data")


def add_mapping(path: Path, entry: dict[str, Any], *, in_session: bool, inputs: Iterable[Path] = ()) -> None:
    """Append ``entry`` to the ``mappings:`` of a map file, or of a session's ``controllers:``
    (made if missing); comments and order kept, written atomically.  ``inputs``: the files the
    session reads (its sources, chain files...), which this never writes over."""
    prepare([Output(path, "write the mapping into another file (--map FILE)")], inputs)
    document = yaml_doc.load(path) if path.exists() else CommentedMap()
    append_mapping(document, entry, in_session=in_session)
    yaml_doc.save(document, path)


# -- learn inside a running `mixhost live` ---------------------------------------------------------------
#: changes that are no hand on a parameter: the engine's own, a transport key, a recovered autosave
NOT_A_TOUCH = frozenset({*ENGINE_SOURCES, "keys", "recover"})


@dataclass
class Bound:
    """A mapping learnt while live: the entry, the file it was written into (None: not written)."""

    entry: dict[str, Any]
    file: Path | None


class ArmedLearn:
    """MIDI learn while ``mixhost live`` plays, as in Ardour or REAPER: arm, touch, move, done.

    :meth:`arm` (the terminal's ``m`` key, or any control thread: OSC, the API)
    diverts the input of every map-driven MIDI surface into a gesture
    collector.  The target is the last parameter touched: moved by another
    surface, the API or a mapped control before arming (REAPER's "last
    touched"), or while armed; a select button picks that strip's fader; with
    nothing touched it is the selected strip's fader.  The next control moved
    (a gesture: until :data:`QUIET_S` without a message) is detected as
    ``mixhost learn`` does and bound to the target: live at once, into the
    session's ``controllers:`` in memory and, atomically, in the session file
    (never a file the session reads).  :meth:`cancel` (Escape) gives the
    controls back unchanged.  :meth:`poll` (the live control loop) does the
    work and returns what to tell the user.
    """

    def __init__(self, context: SurfaceContext, surfaces: list[MidiSurface]) -> None:
        self.context = context
        self.surfaces = surfaces
        self.learnt: list[Bound] = []
        self._lock = threading.Lock()
        self._armed: dict[MidiSurface, Learner] = {}
        self._touched: tuple[str, str] | None = None   # (address, source) of the last hand on a parameter
        self._target: tuple[str, str] | None = None
        self._told_target: tuple[str, str] | None = None
        self._remove: list[Callable[[], None]] = []

    @classmethod
    def for_surfaces(cls, context: SurfaceContext, surfaces: list[Any]) -> ArmedLearn | None:
        """Learn over the map-driven MIDI surfaces among ``surfaces`` (None if there is none)."""
        from .surface import MidiSurface

        midi = [s for s in surfaces if isinstance(s, MidiSurface) and s.can_learn]
        return cls(context, midi) if midi else None

    def open(self) -> None:
        self._remove = [self.context.registry.observe(self._changed),
                        self.context.selection.observe(self._selected)]

    def close(self) -> None:
        self.cancel()
        for remove in self._remove:
            remove()
        self._remove = []

    @property
    def armed(self) -> bool:
        return bool(self._armed)

    @property
    def target(self) -> str | None:
        return self._target[0] if self._target is not None else None

    # -- what the user does (any thread) --------------------------------------------------------------
    def toggle(self) -> str:
        """Arm, or cancel when armed (a learn button)."""
        return self.cancel() or "" if self.armed else self.arm()

    def arm(self) -> str:
        with self._lock:
            for surface in self.surfaces:
                self._armed[surface] = surface.arm_learn()
            self._target = self._touched or self._fader(self.context.selection.current, "the selected strip")
            self._told_target = self._target
        where = self._describe(self._target) if self._target else "none yet: touch a parameter"
        return (f"MIDI learn armed: target {where}; touch another parameter to change it, then move a MIDI "
                "control to map it (Esc cancels)")

    def cancel(self) -> str | None:
        """Disarm without mapping anything; what to tell the user (None when not armed)."""
        with self._lock:
            if not self._armed:
                return None
            self._disarm()
        return "MIDI learn cancelled: the controls map what they mapped before"

    def _disarm(self) -> None:
        for surface in self._armed:
            surface.disarm_learn()
        self._armed.clear()
        self._target = self._told_target = None

    # -- observers (any thread) ---------------------------------------------------------------------------
    def _changed(self, change: Change) -> None:
        if change.source in NOT_A_TOUCH or change.address.startswith("transport/"):
            return
        param = self.context.registry.param(change.address)
        if param.spec.read_only:
            return
        self._touch((change.address, change.source))

    def _selected(self, strip: str, source: str) -> None:
        fader = self._fader(strip, source)
        if fader is not None:
            self._touch(fader)

    def _touch(self, touched: tuple[str, str]) -> None:
        with self._lock:
            self._touched = touched
            if self._armed:
                self._target = touched

    def _fader(self, strip: str, source: str) -> tuple[str, str] | None:
        address = f"{strip}/gain_db"
        return (address, source) if address in self.context.registry else None

    @staticmethod
    def _describe(target: tuple[str, str]) -> str:
        address, source = target
        return f"{address} ({source})" if source.startswith("the ") else f"{address} (moved by {source})"

    # -- the live control loop ------------------------------------------------------------------------------
    def poll(self) -> list[str]:
        """Bind when a target and a gesture are there; returns what to tell the user."""
        told: list[str] = []
        with self._lock:
            if not self._armed:
                return told
            if self._target is not None and self._target != self._told_target:
                self._told_target = self._target
                told.append(f"MIDI learn: target {self._describe(self._target)}; now move a MIDI control")
            heard = self._heard(told)
            if heard is None or self._target is None:
                return told
            surface, detected = heard
            entry = {**detected.entry, "target": self._target[0]}
            self._disarm()
        told.append(self._bind(surface, entry, detected))
        return told

    def _heard(self, told: list[str]) -> tuple[MidiSurface, Detected] | None:
        """The first surface whose gesture has ended and tells a kind; others listen on."""
        for surface, learner in list(self._armed.items()):
            gesture = learner.gesture()
            if gesture is None:
                continue
            detected = detect(gesture)
            if detected is None or (detected.choices and "absolute" in detected.choices):
                self._armed[surface] = surface.arm_learn()    # listen again
                told.append("MIDI learn: " + (detected.note if detected else "nothing usable heard") +
                            "; move the control again")
                continue
            return surface, detected
        return None

    def _bind(self, surface: MidiSurface, entry: dict[str, Any], detected: Detected) -> str:
        shown = "{" + ", ".join(f"{k}: {v}" for k, v in entry.items()) + "}"
        guess = f" ({detected.note}: {entry.get('encoding')} assumed, edit the entry if wrong)" \
            if detected.choices else ""
        try:
            surface.bind(entry)
        except MixhostError as error:      # a mapping the registry cannot take: nothing is written
            return f"MIDI learn: {shown} cannot be mapped: {error.message}"
        try:
            written = self._write(entry)
        except MixhostError as error:      # refused (an input) or unwritable: it works live still
            self.learnt.append(Bound(entry, None))
            return f"MIDI learn: mapped {shown}, live now but not written: {error.message}"
        self.learnt.append(Bound(entry, written))
        where = f"written into {written}" if written is not None else "live now; the session has no file to keep it"
        return f"MIDI learn: mapped {shown}, {where}{guess}"

    def _write(self, entry: dict[str, Any]) -> Path | None:
        session = self.context.session
        path = getattr(session, "path", None)
        if path is None or session.document is None:
            return None
        add_mapping(Path(path), entry, in_session=True, inputs=session.referenced_files())
        return Path(path)
