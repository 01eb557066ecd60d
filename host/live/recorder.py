"""Automation recording: parameter moves during a live run become step lanes in the session.

The engine records every change it applies at block start with the
transport position of that block (:class:`host.live.handoff.Carried`) and
marks where rolling runs ("passes") start and stop.  The recorder drains
that record from a control thread and, on :meth:`AutomationRecorder.finish`,
writes ``automation:`` lanes into ``session.document`` with step
interpolation at exactly those sample positions, so an offline render
reproduces what was heard.

Modes (as in DAWs), for each control that moves during the run:

* ``write``: every pass after the control first moved is written over its
  whole span, starting with the value it had when the pass started;
* ``latch``: the same, but the first pass is written from the first move on;
* ``touch``: written from each touch (:meth:`LiveEngine.touch`, as a motor
  fader or touch-sensitive encoder reports it) until its release; then the
  lane it had before takes over again.  A control moved without a touch (a
  source that never sends one) is written from the move until no move for
  ``TOUCH_HOLD_S``.  A control with no lane has nothing to return to: it is
  recorded as latch.

In latch mode a touch starts the recording as a first move would, with the
value the control held.

After a recorded span the lane is what it was before (a step back to the
earlier value where the pass stopped), as in a DAW.

Only changes whose source is not ``automation`` or ``engine`` count as moves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..registry import Parameter
from ..session import ENGINE_SOURCES, Session
from ..session.automation import Lane
from .engine import RECORD_MODES, LiveEngine
from .handoff import Carried, Marker

log = logging.getLogger(__name__)


@dataclass
class _Pass:
    start: int
    end: int = -1
    snapshot: dict[int, float] = field(default_factory=dict)   # carried values when it started
    armed: set[int] = field(default_factory=set)     # moved before this pass started
    touching: set[int] = field(default_factory=set)  # touch mode: held when it started
    #: per control: ("touch" | "move" | "release", position, value) in the order the engine carried them
    events: dict[int, list[tuple[str, int, float]]] = field(default_factory=dict)

    def moves(self, slot: int) -> list[tuple[int, float]]:
        """The control's moves in this pass, one per block (a block carries one value, its last)."""
        found: list[tuple[int, float]] = []
        for kind, position, value in self.events.get(slot, []):
            if kind == "move":
                _add_step(found, position, value)
        return found

    def first_touch(self, slot: int) -> tuple[int, float] | None:
        """Where the control was first touched in this pass, and the value it held then."""
        return next(((position, value) for kind, position, value in self.events.get(slot, []) if kind == "touch"),
                    None)

    def last_move(self) -> int:
        """The position of the last move of any control (the pass's start if none moved)."""
        positions = [position for events in self.events.values() for kind, position, _ in events if kind == "move"]
        return max(positions, default=self.start)


class AutomationRecorder:
    """Collects the moves of one live run and writes them as lanes."""

    def __init__(self, engine: LiveEngine, mode: str) -> None:
        if mode not in RECORD_MODES:
            raise ValueError(mode)
        self.engine = engine
        self.session: Session = engine.session
        self.mode = mode
        engine.handoff.keep_carried = True
        registry = self.session.registry
        self._current = {p.slot: float(registry.values[p.slot]) for p in registry}
        self._params = {p.slot: p for p in registry}
        self._old = {lane.param.slot: lane for lane in self.session.lanes}
        self._before: dict[int, float] = {}   # the value a control had before its first move
        self._armed: set[int] = set()        # moved at least once (write/latch: written from then on)
        self._touching: set[int] = set()     # touch mode: held right now
        self._passes: list[_Pass] = []
        self._open: _Pass | None = None

    # -- collecting (a control thread, e.g. the status loop) ------------------------------------
    def poll(self) -> int:
        """Take what the engine carried since the last poll; returns how many entries."""
        carried = self.engine.handoff.carried
        count = 0
        while carried:
            entry = carried.popleft()
            if isinstance(entry, Marker):
                self._marker(entry)
            else:
                self._change(entry)
            count += 1
        return count

    def _marker(self, marker: Marker) -> None:
        if marker.kind == "pass":
            self._close(marker.previous_end)
            self._open = _Pass(marker.position, snapshot=dict(self._current), armed=set(self._armed),
                               touching=set(self._touching))
        elif marker.kind == "stop":
            self._close(marker.position)
        elif marker.kind == "touch":
            self._touch(marker)
        elif marker.kind == "release" and marker.slot in self._touching:
            self._touching.discard(marker.slot)
            if self._open is not None:
                self._open.events.setdefault(marker.slot, []).append(("release", marker.position, 0.0))

    def _touch(self, marker: Marker) -> None:
        slot = marker.slot
        self._before.setdefault(slot, marker.value)
        self._armed.add(slot)
        if self.mode == "touch":
            self._touching.add(slot)
        if self._open is not None:
            self._open.events.setdefault(slot, []).append(("touch", marker.position, marker.value))

    def _close(self, end: int) -> None:
        if self._open is not None:
            self._open.end = end if end >= 0 else self._open.last_move()
            self._passes.append(self._open)
            self._open = None

    def _change(self, change: Carried) -> None:
        slot = change.param.slot
        if change.source not in ENGINE_SOURCES:
            self._before.setdefault(slot, self._current[slot])
        self._current[slot] = change.value
        if change.source in ENGINE_SOURCES:
            return
        self._armed.add(slot)
        if self.mode == "touch":
            self._touching.add(slot)
        if change.rolling and self._open is not None:
            self._open.events.setdefault(slot, []).append(("move", change.position, change.value))

    # -- writing ---------------------------------------------------------------------------------
    def finish(self) -> list[str]:
        """Write the recorded lanes into the session document; returns their addresses."""
        self.poll()
        self._close(self.engine.transport.position)
        written = []
        for slot in sorted(self._armed):
            points = self._points(slot)
            if points is None:
                continue
            param = self._params[slot]
            self._write_lane(param, points)
            written.append(param.address)
        return written

    def _points(self, slot: int) -> list[tuple[int, float]] | None:
        """The lane for one control: its old points with each recorded span laid over them."""
        old = self._old.get(slot)
        sample_rate = self.session.sample_rate
        points: list[tuple[int, float]] = []
        if old is not None:
            points = [(int(round(t * sample_rate)), float(v)) for t, v in zip(old.times_s, old.values, strict=True)]
            if old.interpolation == "linear" and len(points) > 1:
                log.warning("%s: a linear lane becomes a step lane where it was recorded over", old.address)
        elif slot in self._before:  # a new lane: before the first recorded span it holds the old value
            points = [(0, self._before[slot])]
        touched = False
        for run in self._passes:
            for start, end, span in self._spans(run, slot):
                touched = True
                points = _overlay(points, start, end, span)
        return points if touched else None

    def _mode(self, slot: int) -> str:
        """Touch needs a lane to return to on release; without one a control is recorded as latch."""
        return "latch" if self.mode == "touch" and slot not in self._old else self.mode

    def _spans(self, run: _Pass, slot: int) -> list[tuple[int, int, list[tuple[int, float]]]]:
        moves = run.moves(slot)
        mode = self._mode(slot)
        held = slot in (run.touching if mode == "touch" else run.armed)
        if mode in ("write", "latch"):
            if held:  # armed before this pass: the whole pass
                return [(run.start, run.end, [(run.start, run.snapshot[slot]), *moves])]
            if mode == "latch":
                return self._latch_span(run, slot, moves)
            if not moves:
                return []
            return [(run.start, run.end, [(run.start, self._value_at_start(run, slot)), *moves])]
        return self._touch_spans(run, slot, held)

    @staticmethod
    def _latch_span(run: _Pass, slot: int, moves: list[tuple[int, float]]) -> list[tuple[int, int, list[tuple[int, float]]]]:
        """From the first touch or move to the end of the pass."""
        touch = run.first_touch(slot)
        if touch is not None and (not moves or touch[0] < moves[0][0]):
            return [(touch[0], run.end, [touch, *moves])]
        return [(moves[0][0], run.end, moves)] if moves else []

    @staticmethod
    def _touch_spans(run: _Pass, slot: int, held: bool) -> list[tuple[int, int, list[tuple[int, float]]]]:
        """From each touch (or first untouched move) to its release (or the end of the pass)."""
        spans = []
        pending: list[tuple[int, float]] = [(run.start, run.snapshot[slot])] if held else []
        for kind, position, value in run.events.get(slot, []):
            if kind == "release":
                if pending:
                    spans.append((pending[0][0], position, pending))
                    pending = []
            elif not pending:
                pending = [(position, value)]
            elif kind == "move":
                _add_step(pending, position, value)
        if pending:
            spans.append((pending[0][0], run.end, pending))
        return spans

    def _value_at_start(self, run: _Pass, slot: int) -> float:
        """What a control held when a pass began in which it then first moved."""
        old = self._old_value(slot, run.start)
        return run.snapshot[slot] if old is None else old

    def _old_value(self, slot: int, position: int) -> float | None:
        old = self._old.get(slot)
        if old is None:
            return None
        return float(old.at_samples(np.array([float(position)]), self.session.sample_rate)[0])

    def _set_static(self, param: Parameter, value: float) -> None:
        """The stored value becomes the lane's first value: a render then starts where the run did.

        (Graph.reset starts every smoother from the stored value; a different
        one would glide for the first few milliseconds of the render.)
        """
        path = param.doc_path
        node = self.session.document
        if path is None:
            return
        for key in path[:-1]:
            try:
                node = node[int(key)] if isinstance(node, list) else node[key]
            except (KeyError, IndexError, TypeError):
                return  # the value lives in a chain file or a default: nothing stored to adjust
        node[path[-1]] = param.present(value)

    def _write_lane(self, param: Parameter, points: list[tuple[int, float]]) -> None:
        sample_rate = self.session.sample_rate
        document = self.session.document
        if "automation" not in document or document["automation"] is None:
            document["automation"] = CommentedMap()
        rows = CommentedSeq()
        for position, value in points:
            pair = CommentedSeq([position / sample_rate, param.present(value)])
            pair.fa.set_flow_style()
            rows.append(pair)
        lane = CommentedMap([("interpolation", "step"), ("points", rows)])
        document["automation"][param.address] = lane
        self._set_static(param, points[0][1])
        times = np.array([p / sample_rate for p, _ in points])
        values = np.array([v for _, v in points])
        self.session.lanes = [existing for existing in self.session.lanes if existing.param is not param]
        self.session.lanes.append(Lane(param, times, values, "step"))


def _add_step(points: list[tuple[int, float]], position: int, value: float) -> None:
    """Append a step; one block carries one value, so a second one at the same position replaces it."""
    if points and points[-1][0] == position:
        points[-1] = (position, value)
    else:
        points.append((position, value))


def _overlay(points: list[tuple[int, float]], start: int, end: int,
             span: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Lay a recorded span over [start, end) of a step lane; from ``end`` on the lane is as before."""
    before = [p for p in points if p[0] < start]
    after = [p for p in points if p[0] >= end]
    inside = [p for p in span if start <= p[0] < end]
    tail: list[tuple[int, float]] = []
    if points and not (after and after[0][0] == end):
        tail = [(end, _step_value(points, end))]
    return [*before, *inside, *tail, *after]


def _step_value(points: list[tuple[int, float]], position: int) -> float:
    """A step lane's value at ``position`` (before its first point: the first value)."""
    value = points[0][1]
    for at, point_value in points:
        if at > position:
            break
        value = point_value
    return value
