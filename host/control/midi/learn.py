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
map file, comments kept.  :class:`Learner` collects a gesture from messages
handed to it (``mixhost learn`` feeds it from a port; a running surface from
its input thread, :meth:`~host.control.midi.surface.MidiSurface.learn`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ...session import yaml_doc
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


def add_mapping(path: Path, entry: dict[str, Any], *, in_session: bool) -> None:
    """Append ``entry`` to the ``mappings:`` of a map file, or of a session's ``controllers:``
    (made if missing); comments and order kept, written atomically."""
    document = yaml_doc.load(path) if path.exists() else CommentedMap()
    append_mapping(document, entry, in_session=in_session)
    yaml_doc.save(document, path)
