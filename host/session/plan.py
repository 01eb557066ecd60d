"""From a validated session document to a plan: strips, stages, routing, sources.

The plan is plain data (no DSP objects), so worker processes can rebuild the
same graph from it.  Every problem found here is reported with the
file:line of the key that causes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SessionError
from ..suggest import did_you_mean
from . import chains, yaml_doc
from .schema import RESERVED_STAGE_IDS

Key = tuple[str | int, ...]
STAGE_KEYS = ("type", "id", "bypass", "params", "notes")


@dataclass
class Located:
    """Something that can point at its place in a file."""

    file: str
    document: Any
    key_path: Key

    def error(self, message: str, *, at: Sequence[str | int] = (), hint: str | None = None,
              cls: type[SessionError] = SessionError) -> SessionError:
        path = (*self.key_path, *at)
        line, column = yaml_doc.locate(self.document, path)
        return cls(message, file=self.file, line=line, column=column, key_path=path, hint=hint)

    def at(self, *keys: str | int) -> Located:
        return Located(self.file, self.document, (*self.key_path, *keys))

    @property
    def location(self) -> str:
        """``file:line``, for a warning that is no error."""
        line, _column = yaml_doc.locate(self.document, self.key_path)
        return self.file if line is None else f"{self.file}:{line}"


@dataclass
class StagePlan:
    owner: str                   # "tracks/vocals", "buses/verb", "master"
    stage_id: str
    entry: dict[str, Any]        # type or plugin/path, options, params
    where: Located               # the entry in its file
    params_doc_path: Key         # where Session.save writes changed values (in the session doc)

    @property
    def address(self) -> str:
        return f"{self.owner}/{self.stage_id}"

    @property
    def options(self) -> dict[str, Any]:
        return {k: v for k, v in self.entry.items() if k not in STAGE_KEYS}


@dataclass
class SendPlan:
    bus: str
    level_db: float
    pre_fader: bool


@dataclass
class StripPlan:
    kind: str                    # "track" | "bus" | "master"
    name: str
    settings: dict[str, Any]
    where: Located
    stages: list[StagePlan] = field(default_factory=list)
    sends: list[SendPlan] = field(default_factory=list)
    output: str | None = "master"
    pan_law: str = "-3db"

    @property
    def address(self) -> str:
        return {"master": "master", "track": f"tracks/{self.name}", "bus": f"buses/{self.name}"}[self.kind]


@dataclass
class Plan:
    file: str
    base_dir: Path
    sample_rate: int
    block_size: int
    tracks: list[StripPlan]
    buses: list[StripPlan]      # in processing order (sources before destinations)
    master: StripPlan


def build_plan(config: dict[str, Any], document: Any, file: str, base_dir: Path) -> Plan:
    meta = config.get("session", {})
    pan_law = meta.get("pan_law", "-3db")
    session_at = Located(file, document, ())
    buses = {
        name: _strip("bus", name, settings, session_at, base_dir, pan_law)
        for name, settings in config.get("buses", {}).items()
    }
    tracks = [
        _strip("track", name, settings, session_at, base_dir, settings.get("pan_law", pan_law))
        for name, settings in config["tracks"].items()
    ]
    if not tracks:
        raise session_at.error("the session has no tracks", at=("tracks",), hint="add at least one track")
    master = _strip("master", "master", config.get("master", {}), session_at, base_dir, pan_law)
    master.output = None
    for strip in [*tracks, *buses.values()]:
        _check_routing(strip, buses)
    return Plan(
        file=file,
        base_dir=base_dir,
        sample_rate=int(meta.get("sample_rate", 48000)),
        block_size=int(meta.get("block_size", 8192)),
        tracks=tracks,
        buses=_bus_order(buses, session_at),
        master=master,
    )


def _strip(kind: str, name: str, settings: dict[str, Any], session_at: Located,
           base_dir: Path, pan_law: str) -> StripPlan:
    key: Key = ("master",) if kind == "master" else (f"{kind}es" if kind == "bus" else "tracks", name)
    where = Located(session_at.file, session_at.document, key)
    strip = StripPlan(kind, name, settings, where, output=settings.get("output", "master"), pan_law=pan_law)
    strip.sends = [
        SendPlan(bus, float(send.get("level_db", 0.0)), bool(send.get("pre_fader", False)))
        for bus, send in settings.get("sends", {}).items()
    ]
    strip.stages = _stages(strip, settings.get("chain", []), where, base_dir)
    return strip


def _stages(strip: StripPlan, chain: Any, where: Located, base_dir: Path) -> list[StagePlan]:
    if isinstance(chain, str):  # `chain: vocal-strip`: shorthand for `chain: [{chain: vocal-strip}]`
        ref_at = Located(where.file, where.document, (*where.key_path, "chain"))
        return _expand_ref(strip, {"chain": chain}, ref_at, (*where.key_path, "chain", 0), base_dir, {})
    plans: list[StagePlan] = []
    for index, entry in enumerate(chain):
        entry_at = Located(where.file, where.document, (*where.key_path, "chain", index))
        if "chain" in entry and "type" not in entry:
            plans += _expand_ref(strip, entry, entry_at, entry_at.key_path, base_dir, entry.get("params", {}))
        else:
            plans.append(StagePlan(strip.address, "", dict(entry), entry_at, (*entry_at.key_path, "params")))
    _assign_ids(plans)
    return plans


def _expand_ref(strip: StripPlan, ref: dict[str, Any], ref_at: Located, ref_key: Key,
                base_dir: Path, overrides: dict[str, Any]) -> list[StagePlan]:
    try:
        path, document = chains.load(ref["chain"], base_dir)
    except SessionError as error:
        if error.file is None:  # not found: point at the reference
            raise ref_at.error(error.message, hint=error.hint) from None
        raise
    config = yaml_doc.to_plain(document)
    plans = []
    for index, entry in enumerate(config["chain"]):
        entry_at = Located(str(path), document, ("chain", index))
        plans.append(StagePlan(strip.address, "", dict(entry), entry_at, ()))
    _assign_ids(plans)
    known = {p.stage_id for p in plans}
    for stage_id in overrides:
        if stage_id not in known:
            raise ref_at.error(
                f"chain {ref['chain']!r} has no stage {stage_id!r}; {did_you_mean(stage_id, known)}",
                at=("params", stage_id),
            )
    for plan in plans:
        override = dict(overrides.get(plan.stage_id, {}))
        if "type" not in plan.entry and "state" in override:  # a plugin's saved state (Session.save)
            plan.entry["state"] = override.pop("state")
        plan.entry["params"] = {**plan.entry.get("params", {}), **override}
        plan.params_doc_path = (*ref_key, "params", plan.stage_id)
    return plans


def _default_id(entry: dict[str, Any]) -> str:
    if "type" in entry:
        return str(entry["type"])
    name = str(entry.get("plugin") or Path(str(entry.get("path", "plugin"))).stem)
    slug = "".join(c.lower() if c.isalnum() else "_" for c in name).strip("_")
    return slug or "plugin"


def _assign_ids(plans: list[StagePlan]) -> None:
    seen: dict[str, StagePlan] = {}
    for plan in plans:
        explicit = plan.entry.get("id")
        stage_id = explicit or plan.stage_id or _default_id(plan.entry)
        if not explicit and stage_id in seen:
            n = 2
            while f"{stage_id}_{n}" in seen:
                n += 1
            stage_id = f"{stage_id}_{n}"
        if stage_id in seen:
            raise plan.where.error(f"two stages share the id {stage_id!r}", at=("id",),
                                   hint="give each stage in a chain its own id")
        if stage_id in RESERVED_STAGE_IDS:
            raise plan.where.error(f"{stage_id!r} is reserved for the strip's own controls",
                                   at=("id",), hint=f"use another id, such as {stage_id}_stage")
        plan.stage_id = stage_id
        seen[stage_id] = plan


def _check_routing(strip: StripPlan, buses: dict[str, StripPlan]) -> None:
    targets = set(buses) | {"master"}
    if strip.output not in targets:
        raise strip.where.error(
            f"output {strip.output!r} is not a bus; {did_you_mean(str(strip.output), targets)}", at=("output",)
        )
    if strip.kind == "bus" and strip.output == strip.name:
        raise strip.where.error("a bus cannot output to itself", at=("output",))
    for send in strip.sends:
        if send.bus not in buses:
            raise strip.where.error(
                f"send to unknown bus {send.bus!r}; {did_you_mean(send.bus, buses)}", at=("sends", send.bus)
            )
        if strip.kind == "bus" and send.bus == strip.name:
            raise strip.where.error("a bus cannot send to itself", at=("sends", send.bus))


def _bus_order(buses: dict[str, StripPlan], session_at: Located) -> list[StripPlan]:
    """Topological order: every bus after the buses that feed it; a loop is an error."""
    feeds: dict[str, set[str]] = {name: set() for name in buses}
    for bus in buses.values():
        for dest in [bus.output, *(s.bus for s in bus.sends)]:
            if dest in feeds:
                feeds[dest].add(bus.name)
    ordered: list[StripPlan] = []
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            loop = " -> ".join([*trail[trail.index(name):], name])
            raise session_at.error(f"bus routing loop: {loop}", at=("buses", name),
                                   hint="a bus may not feed, directly or through others, a bus it is fed by")
        state[name] = 1
        for source in sorted(feeds[name]):
            visit(source, [*trail, name])
        state[name] = 2
        ordered.append(buses[name])

    for name in buses:
        visit(name, [])
    return ordered
