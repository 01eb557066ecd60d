"""Which graph objects play which automation lane, so the live engine can hand a lane to a hand.

When a recorded control moves, its lane must stop playing for the rest of
the pass (write, latch) or until the control is released (touch); otherwise
playback would overwrite the move and what is heard would not be what is
recorded.  Strip controls hold one lane each (``_Control.lane``); chains
hold a list (``ChainRunner.lanes``).  Called from the audio thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.graph import Graph


class LanePlayback:
    """slot -> the controls and chains that play a lane for it; suspend and resume."""

    def __init__(self, graph: Graph) -> None:
        self._controls: dict[int, list[Any]] = {}
        self._chains: dict[int, list[tuple[Any, Any]]] = {}
        self._suspended: dict[int, tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]]] = {}
        for node in [*graph.tracks, *graph.buses, graph.master]:
            for control in node.controls():
                if control.lane is not None:
                    self._controls.setdefault(control.param.slot, []).append(control)
            for lane in node.chain.lanes:
                self._chains.setdefault(lane.param.slot, []).append((node.chain, lane))

    def has_lane(self, slot: int) -> bool:
        return slot in self._controls or slot in self._chains

    def suspend(self, slot: int) -> None:
        if slot in self._suspended or not self.has_lane(slot):
            return
        controls = [(c, c.lane) for c in self._controls.get(slot, [])]
        for control, _ in controls:
            control.lane = None
        chains = self._chains.get(slot, [])
        for chain, lane in chains:
            chain.lanes = [other for other in chain.lanes if other is not lane]
        self._suspended[slot] = (controls, chains)

    def resume(self, slot: int) -> None:
        entry = self._suspended.pop(slot, None)
        if entry is None:
            return
        controls, chains = entry
        for control, lane in controls:
            control.lane = lane
        for chain, lane in chains:
            chain.lanes = [*chain.lanes, lane]
