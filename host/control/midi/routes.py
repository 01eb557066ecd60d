"""Which map-file controls the live engine applies itself, and their tables.

With the ``jack`` backend the engine reads the surface's MIDI port in its
process callback (:mod:`host.live.midi_inlet`) and applies the plain
controls there, so a move lands in the block of the cycle that delivers it.
A plain control is one whose value follows from its message alone:

* an absolute ``cc`` or ``pitchbend`` without pickup, and
* a ``momentary`` button (a ``note``, or a ``cc`` with ``mode:``),

driving fixed targets (not ``selected/...``, which follows the selection).
Everything else needs the state the surface keeps (pickup, toggles, 14-bit
pairs, (N)RPN, relative encoders, transport and program changes) and stays
on the surface's own path.  A CC a 14-bit pair or an (N)RPN of its channel
uses is theirs, as in :meth:`MappedControls.message`.

A route's table holds the mapping's value for every raw control value,
made with :meth:`Mapping.value_at`: the same range, curve, invert and taper
as the surface's path, so both give the same value for the same message.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from ...registry import Registry
from ..selection import PREFIX as SELECTED
from .mapping import FULL, Mapping

STATUS = {"cc": 0xB0, "pitchbend": 0xE0, "note": 0x90}
NOTE_OFF = 0x80

Intercepted = Callable[[int, int], bool]   # (channel, cc number) taken by a pair or an (N)RPN


def routable(mapping: Mapping, intercepted: Intercepted) -> bool:
    """Can the engine apply this mapping from its message alone (see the module docstring)?"""
    if mapping.transport is not None or mapping.source not in STATUS or mapping.relative or mapping.pickup:
        return False
    if mapping.button and mapping.mode != "momentary":
        return False
    if not mapping.targets or any(t.pattern.startswith(SELECTED) for t in mapping.targets):
        return False
    return not (mapping.source == "cc" and intercepted(mapping.channel, mapping.number))


def _positions(mapping: Mapping) -> np.ndarray:
    """The control position (0..1) for every raw value of the control."""
    raw = np.arange(FULL[mapping.source] + 1)
    if not mapping.button:
        return raw / FULL[mapping.source]
    pressed = raw > 0 if mapping.source == "note" else raw >= 64
    return pressed.astype(np.float64)


def engine_routes(mappings: list[Mapping], registry: Registry,
                  intercepted: Intercepted) -> tuple[list[Any], set[Hashable]]:
    """The engine's routes for the routable ``mappings``, and those mappings' feedback keys."""
    from ...live.midi_inlet import Route  # the live engine's: only with one running

    routes = []
    keys: set[Hashable] = set()
    for mapping in mappings:
        if not routable(mapping, intercepted):
            continue
        pairs = mapping.addresses(registry, "")
        if not pairs:
            continue     # strip/N past the session's last strip: drives nothing
        positions = _positions(mapping)
        status = STATUS[mapping.source] | mapping.channel
        number = mapping.number if mapping.source != "pitchbend" else 0
        for target, param in pairs:
            table = np.array([mapping.value_at(target, param, float(p)) for p in positions])
            routes.append(Route(status, number, param, table))
            if mapping.source == "note":   # a note-off releases as velocity 0 does
                routes.append(Route(NOTE_OFF | mapping.channel, number, param, table))
        keys.add(mapping.key)
    return routes, keys
