"""Map-file controls: MIDI messages -> mappings -> registry sets, and feedback back out.

Dispatch is a dictionary from (kind, channel, number) to the mappings of
that control.  14-bit pairs (:class:`~.encoders.Pair14`) and (N)RPN
(:class:`~.encoders.ParameterNumber`, per channel) are assembled first.
Feedback goes to a control as the same kind of message it sends (a CC, a
14-bit pair, an NRPN, pitch bend, a note's LED); relative encoders, program
changes and pressure get none.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from ...registry import Change, Parameter, Registry
from .encoders import (
    DATA_LSB,
    DATA_MSB,
    NRPN_LSB,
    NRPN_MSB,
    RPN_LSB,
    RPN_MSB,
    Pair14,
    ParameterNumber,
    is_parameter_number_cc,
)
from .mapping import FULL, Mapping, compile_maps
from .maps import MapDocument, append_mapping
from .messages import Message, build

if TYPE_CHECKING:
    from ..surface import SurfaceContext
    from .surface import MidiSurface

TRANSPORT_STEP_S = 5.0     # rewind / forward: how far a press moves


class MappedControls:
    """The handler for map files (see the module docstring)."""

    def __init__(self, mappings: list[Mapping]) -> None:
        self.mappings = mappings
        self._dispatch: dict[tuple[str, int, int], list[Mapping]] = {}
        self._pairs: dict[tuple[int, int], tuple[Mapping, Pair14, bool]] = {}
        self._numbers: dict[int, ParameterNumber] = {}
        self._pending_pairs: list[tuple[Mapping, Pair14]] = []
        #: absolute moves of this burst, the latest per control: a fader sends many values per
        #: period, and only where it ends up matters (pickup needs each one: not coalesced);
        #: with whether the engine applied it already (see MidiSurface.applied_by_engine)
        self._latest: dict[int, tuple[Mapping, int, bool]] = {}
        for mapping in mappings:
            self._index(mapping)
        self.surface: MidiSurface | None = None

    def _index(self, mapping: Mapping) -> None:
        kind, channel = mapping.source, mapping.channel
        if kind == "cc14":
            pair = Pair14()
            self._pairs[(channel, mapping.number)] = (mapping, pair, True)
            self._pairs[(channel, mapping.lsb)] = (mapping, pair, False)
            return
        if kind in ("nrpn", "rpn"):
            self._numbers.setdefault(channel, ParameterNumber())
        number = mapping.number if kind in ("cc", "note", "nrpn", "rpn") else 0
        self._dispatch.setdefault((kind, channel, number), []).append(mapping)

    def add(self, entry: dict[str, Any], context: SurfaceContext) -> Mapping:
        """A learnt mapping: into the session's ``controllers:`` and live at once."""
        document = context.session.document
        append_mapping(document, entry, in_session=True)
        only = MapDocument(str(context.session.path), document, ("controllers",))
        mapping = compile_maps([only], context.registry, context.snapshots.names())[-1]
        mapping.index = len(self.mappings)
        self.mappings.append(mapping)
        self._index(mapping)
        if self.surface is not None:
            self.surface.reroute()
            self.surface.request_redraw()
        return mapping

    def engine_routes(self) -> tuple[list[Any], set[Hashable]]:
        """The mappings the live engine can apply itself, as its routes (see :mod:`.routes`)."""
        from .routes import engine_routes

        return engine_routes(self.mappings, self._context_registry(), self._intercepted)

    def _intercepted(self, channel: int, number: int) -> bool:
        """Is this CC part of a 14-bit pair or an (N)RPN on its channel (see :meth:`_cc`)?"""
        return (channel, number) in self._pairs or (channel in self._numbers and is_parameter_number_cc(number))

    # -- set-up --------------------------------------------------------------------------------------------
    def attach(self, surface: MidiSurface) -> None:
        self.surface = surface
        assert surface.context is not None
        surface.context.selection.observe(lambda strip, source: surface.request_redraw())

    def redraw(self) -> None:
        """Every control with feedback is told its value."""
        surface = self._surface()
        registry = surface.context.registry  # type: ignore[union-attr]
        for mapping in self.mappings:
            pairs = self._targets(mapping)
            if mapping.feedback and pairs:
                surface.offer(mapping.key, float(registry.values[pairs[0].slot]))

    def _surface(self) -> MidiSurface:
        assert self.surface is not None
        return self.surface

    def _selected(self) -> str:
        context = self._surface().context
        return context.selection.current if context is not None else ""

    def _targets(self, mapping: Mapping) -> list[Parameter]:
        context = self._surface().context
        assert context is not None
        return [param for _, param in mapping.addresses(context.registry, self._selected())]

    # -- input (the I/O thread) ----------------------------------------------------------------------------------
    def message(self, message: Message) -> None:
        kind, channel = message.kind, message.channel
        if kind == "cc":
            if self._cc(message):
                return
            key: tuple[str, int, int] = ("cc", channel, message.number)
        elif kind == "note_on":
            key = ("note", channel, message.number)
        else:
            key = (kind, channel, 0)
        for mapping in self._dispatch.get(key, ()):
            self._apply(mapping, message)

    def _cc(self, message: Message) -> bool:
        """14-bit pairs and (N)RPN; True when the CC was one of theirs."""
        channel, number, value = message.channel, message.number, message.value
        paired = self._pairs.get((channel, number))
        if paired is not None:
            mapping, pair, is_msb = paired
            combined = pair.on_msb(value) if is_msb else pair.on_lsb(value)
            if combined is not None:
                self._absolute(mapping, combined)
            elif pair.held_lsb is not None:
                self._pending_pairs.append((mapping, pair))
            return True
        state = self._numbers.get(channel)
        if state is not None and is_parameter_number_cc(number):
            event = state.on_cc(number, value)
            if event is not None:
                kind, parameter, what, amount = event
                for mapping in self._dispatch.get((kind, channel, parameter), ()):
                    self._number_event(mapping, what, amount)
            return True
        return False

    def batch_end(self) -> None:
        """The burst's absolute moves (the latest of each control), then LSB-first pairs whose MSB
        did not come in the same burst (only the fine part moved)."""
        latest, self._latest = self._latest, {}
        for mapping, raw, applied in latest.values():
            self._absolute(mapping, raw, applied)
        for mapping, pair in self._pending_pairs:
            combined = pair.flush()
            if combined is not None:
                self._absolute(mapping, combined)
        self._pending_pairs.clear()

    def sysex(self, data: list[int]) -> None:
        return None   # a map file has no SysEx controls: counted by the surface already

    def _apply(self, mapping: Mapping, message: Message) -> None:
        if mapping.source == "program":
            self._program(mapping, message.value)
        elif mapping.transport is not None:
            pressed = message.value >= 64 if mapping.source == "cc" else message.value > 0
            if pressed:
                self._transport(mapping)
        elif mapping.button:
            self._button(mapping, message.value > 0 if mapping.source == "note" else message.value >= 64,
                         self._surface().applied_by_engine(mapping.key))
        elif mapping.relative:
            self._relative(mapping, mapping.steps_of(message.value))
        elif mapping.pickup:
            self._absolute(mapping, message.value)
        else:
            self._latest[mapping.index] = (mapping, message.value, self._surface().applied_by_engine(mapping.key))

    def _number_event(self, mapping: Mapping, what: str, amount: int) -> None:
        if what == "value":
            self._absolute(mapping, amount)
        else:
            self._relative(mapping, amount if what == "increment" else -amount)

    # -- applying --------------------------------------------------------------------------------------------
    def _context_registry(self) -> Registry:
        context = self._surface().context
        assert context is not None
        return context.registry

    def _absolute(self, mapping: Mapping, raw: int, applied: bool = False) -> None:
        registry = self._context_registry()
        items = mapping.absolute(registry, self._selected(), self._surface().current, min(max(raw, 0), FULL[mapping.source]))
        if items:
            self._surface().set(mapping.key, items, items[0][1], applied)

    def _relative(self, mapping: Mapping, steps: float) -> None:
        registry = self._context_registry()
        items = mapping.relative_move(registry, self._selected(), self._surface().current, steps)
        if items:
            self._surface().set(mapping.key, items, items[0][1])

    def _button(self, mapping: Mapping, pressed: bool, applied: bool = False) -> None:
        registry = self._context_registry()
        items = mapping.toggled(registry, self._selected(), self._surface().current, pressed)
        if items:
            # a toggle's LED shows the new state: nothing to echo, the LED follows by itself on the device
            self._surface().set(mapping.key, items, None, applied)

    def _program(self, mapping: Mapping, program: int) -> None:
        surface = self._surface()
        assert surface.context is not None
        surface.context.snapshots.recall_index(program, surface.source, mapping.fade_s, mapping.snapshots)

    def _transport(self, mapping: Mapping) -> None:
        surface = self._surface()
        context = surface.context
        assert context is not None and mapping.transport is not None
        action = mapping.transport
        if action in ("rewind", "forward"):
            registry = context.registry
            position = float(registry.get("transport/position_s")) if "transport/position_s" in registry else 0.0
            step = TRANSPORT_STEP_S if action == "forward" else -TRANSPORT_STEP_S
            context.transport("locate", max(0.0, position + step), surface.source)
            return
        context.transport(action, None, surface.source)

    # -- feedback (any thread for change; the I/O thread for render) -----------------------------------------------
    def change(self, change: Change) -> None:
        surface = self._surface()
        for mapping in self.mappings:
            if mapping.source == "program" or mapping.transport is not None:
                continue
            params = self._targets(mapping)
            if not params or params[0].address != change.address:
                continue
            if not surface.own(change, mapping.key):
                mapping.picked = False          # recalled, automated or moved elsewhere: pick up again
                mapping.last_position = None
            if mapping.feedback and not mapping.relative:
                surface.offer(mapping.key, change.value)

    def render(self, key: Hashable, value: float) -> list[list[int]]:
        mapping = self.mappings[key[1]]  # type: ignore[index]
        context = self._surface().context
        assert context is not None
        position = mapping.feedback_position(context.registry, self._selected(), value)
        if position is None:
            return []
        return controller_messages(mapping, position)

    def tick(self, now: float) -> list[list[int]]:
        return []


def controller_messages(mapping: Mapping, position: float) -> list[list[int]]:
    """The messages that put ``mapping``'s control at ``position`` (0..1)."""
    channel, number = mapping.channel, mapping.number
    full = FULL[mapping.source]
    raw = int(round(min(max(position, 0.0), 1.0) * full))
    source = mapping.source
    if source == "cc":
        return [build("cc", channel, number, raw)]
    if source == "note":
        return [build("note_on", channel, number, 127 if position >= 0.5 else 0)]
    if source == "cc14":
        return [build("cc", channel, number, raw >> 7), build("cc", channel, mapping.lsb, raw & 0x7F)]
    if source == "pitchbend":
        return [build("pitchbend", channel, 0, raw)]
    if source in ("nrpn", "rpn"):
        select = (NRPN_MSB, NRPN_LSB) if source == "nrpn" else (RPN_MSB, RPN_LSB)
        return [build("cc", channel, select[0], number >> 7), build("cc", channel, select[1], number & 0x7F),
                build("cc", channel, DATA_MSB, raw >> 7), build("cc", channel, DATA_LSB, raw & 0x7F)]
    return []
