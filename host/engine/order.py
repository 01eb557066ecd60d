"""The order strips run in within a block: a strip after everything it hears.

A strip hears the strips routed into it (outputs and sends) and the strips
that key its sidechains.  A sidechain delivers the key strip's chain output of
the *same* block, so the key must have run first; the order here is a
topological sort of both kinds of edge.  Routing alone is acyclic (checked in
:mod:`host.session.plan`), so any loop closes through a sidechain and is reported at
that stage's ``sidechain:`` key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import SessionError
from ..suggest import did_you_mean

if TYPE_CHECKING:
    from ..session.plan import Plan, StagePlan, StripPlan


@dataclass(frozen=True)
class SidechainKey:
    """One keyed stage: the strip it sits on, its plan and the strip that keys it."""

    strip: StripPlan
    stage: StagePlan
    key: StripPlan


def key_strips(plan: Plan) -> dict[str, StripPlan]:
    """Strips a sidechain may name, by name (a bus wins over a track of the same name, as in the graph)."""
    return {s.name: s for s in [*plan.tracks, *plan.buses]}


def sidechain_keys(plan: Plan) -> list[SidechainKey]:
    """Every ``sidechain:`` in the session, resolved; an unknown name is a SessionError at its key."""
    names = key_strips(plan)
    found = []
    for strip in [*plan.tracks, *plan.buses, plan.master]:
        for stage in strip.stages:
            name = stage.entry.get("sidechain") if "type" in stage.entry else None
            if not name:
                continue
            key = names.get(str(name))
            if key is None:
                raise stage.where.error(
                    f"stage {stage.stage_id!r} on {strip.address}: sidechain {name!r} is not a track or bus; "
                    f"{did_you_mean(str(name), names)}",
                    at=("sidechain",), hint="name the track or bus whose signal drives the detector")
            found.append(SidechainKey(strip, stage, key))
    return found


def strip_order(plan: Plan) -> list[StripPlan]:
    """Tracks and buses in run order (file order where nothing constrains it); master runs last.

    Raises SessionError when sidechains and routing form a loop.
    """
    strips = [*plan.tracks, *plan.buses]
    index = {s.address: i for i, s in enumerate(strips)}
    by_name = {s.name: s for s in plan.buses}
    after: list[set[int]] = [set() for _ in strips]   # after[i]: strips that must run after strip i
    for i, strip in enumerate(strips):
        for dest in [strip.output, *(send.bus for send in strip.sends)]:
            if dest in by_name:
                after[i].add(index[by_name[dest].address])
    keys = sidechain_keys(plan)
    for k in keys:
        if k.strip.kind != "master":
            after[index[k.key.address]].add(index[k.strip.address])
    waiting = [0] * len(strips)
    for targets in after:
        for j in targets:
            waiting[j] += 1
    order: list[int] = []
    ready = sorted(i for i, n in enumerate(waiting) if n == 0)
    while ready:
        i = ready.pop(0)  # the earliest listed strip that may run: a stable order
        order.append(i)
        for j in after[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
        ready.sort()
    if len(order) < len(strips):
        raise _loop_error(strips, after, set(range(len(strips))) - set(order), keys)
    return [strips[i] for i in order]


def _loop_error(strips: list[StripPlan], after: list[set[int]], stuck: set[int],
                keys: list[SidechainKey]) -> SessionError:
    """Name one loop among the strips that could not be ordered, at the sidechain that closes it."""
    start = min(stuck)
    trail = [start]
    while True:  # every stuck strip has a stuck successor: walk until a strip repeats
        nxt = min(j for j in after[trail[-1]] if j in stuck)
        if nxt in trail:
            trail = [*trail[trail.index(nxt):], nxt]
            break
        trail.append(nxt)
    loop = " -> ".join(strips[i].address for i in trail)
    for src, dst in zip(trail, trail[1:], strict=False):
        for k in keys:
            if k.key is strips[src] and k.strip is strips[dst]:
                return k.stage.where.error(
                    f"sidechain loop: {loop} (each needs the one before it in the same block)",
                    at=("sidechain",),
                    hint="key the stage from a strip that does not, through routing or sidechains, hear it")
    raise AssertionError("a loop without a sidechain edge: routing was not checked")  # pragma: no cover
