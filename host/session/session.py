"""The Python API: load a session, read and set parameters, render, save.

>>> s = host.load_session("examples/demo/session.yaml")
>>> s.set("tracks/vocal/gain_db", -3)
>>> s.render()
>>> s.save("examples/demo/session-louder-vocal.yaml")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..engine.order import strip_order
from ..errors import ParameterError, SessionError, UserInputError
from ..outputs import Output, prepare
from ..registry import Change, Parameter, ParamSpec, Registry, ValueLike, boolean
from ..stages import ParamView, Stage, stage_class
from ..suggest import did_you_mean
from . import relocation, schema_check, yaml_doc
from .automation import Lane, lanes_data, lanes_from, soften_jumps
from .plan import Located, Plan, StagePlan, StripPlan, build_plan
from .schema import GAIN_DB, PAN, session_schema

if TYPE_CHECKING:
    from ..engine.render import RenderResult

log = logging.getLogger(__name__)

STRIP_PARAMS = {
    "gain_db": ParamSpec("gain_db", 0.0, GAIN_DB["minimum"], GAIN_DB["maximum"], unit="dB",
                         scale="db_fader", doc="fader"),
    "pan": ParamSpec("pan", 0.0, PAN["minimum"], PAN["maximum"], doc=PAN["description"]),
    "mute": boolean("mute"),
    "solo": boolean("solo"),
}
SEND_LEVEL = ParamSpec("level_db", 0.0, GAIN_DB["minimum"], GAIN_DB["maximum"], unit="dB",
                       scale="db_fader", doc="send level")
BYPASS = boolean("bypass", doc="bypass the stage")


@dataclass
class BuiltStage:
    plan: StagePlan
    stage: Stage
    bypass: Parameter


@dataclass
class Session:
    """A loaded session: its document, plan, registry and stages."""

    path: Path
    document: Any
    plan: Plan
    registry: Registry = field(default_factory=Registry)
    stages: dict[str, list[BuiltStage]] = field(default_factory=dict)
    lanes: list[Lane] = field(default_factory=list)
    instruments: dict[str, Any] = field(default_factory=dict)   # track address -> InstrumentSource

    # -- parameters -----------------------------------------------------------
    def get(self, address: str) -> ValueLike:
        """The current value of a parameter (number, bool or text value)."""
        return self.registry.get(address)

    def set(self, address: str, value: ValueLike, source: str = "api") -> None:
        """Set a parameter; `save` then writes it back into the session file."""
        self.registry.set(address, value, source)

    def params(self) -> list[dict[str, Any]]:
        return self.registry.table()

    def observe(self, callback: Callable[[Change], None], pattern: str | None = None, *,
                skip_source: str | None = None) -> Callable[[], None]:
        """Call ``callback(change)`` on changes matching ``pattern``, except those from ``skip_source``."""
        return self.registry.observe(callback, pattern, skip_source=skip_source)

    @property
    def config(self) -> dict[str, Any]:
        return yaml_doc.to_plain(self.document)

    @property
    def sample_rate(self) -> int:
        return self.plan.sample_rate

    @property
    def title(self) -> str:
        """The session's name (``session: name:``), else its file's stem: what a tablet or page shows."""
        meta: Any = self.document.get("session") if hasattr(self.document, "get") else None
        name = meta.get("name") if hasattr(meta, "get") else None
        return str(name) if name else self.path.stem

    # -- persistence ------------------------------------------------------------
    def save(self, path: str | Path | None = None) -> Path:
        """Write the session (comments and key order kept) to ``path`` or its own file.

        Plugin states are written to files beside it (``<name>.plugins/``) and
        referenced from each plugin entry's ``state:`` key.  Saved into another
        folder, its relative paths (sources, chain files, plugins, MIDI files,
        references) are rewritten to point at the same files from there;
        ``outputs:`` stays relative, so the copy renders beside itself.
        """
        target = Path(path) if path is not None else self.path
        # its own file it may replace; a file it names (a source, a chain file) never
        prepare([Output(target, "save the session under another name")],
                relocation.referenced_files(self.document, self.plan.base_dir))
        undo = relocation.relocate(self.document, self.plan.base_dir, target.absolute().parent)
        try:
            self._save_plugin_states(target)
            yaml_doc.save(self.document, target)
        finally:
            relocation.restore(undo)  # this session still lives in its own folder
        return target

    def referenced_files(self) -> list[Path]:
        """Every file the document names (sources, chains, plugins, MIDI, ...), resolved against its folder."""
        return relocation.referenced_files(self.document, self.plan.base_dir)

    def _save_plugin_states(self, target: Path) -> None:
        holders = self._plugin_state_holders()
        if not holders:
            return
        from ..plugins.stage import save_states

        written = save_states({address: holder for address, (holder, _) in holders.items()}, target)
        for address, relative in written.items():
            _set_in(self.document, holders[address][1], relative)

    def _plugin_state_holders(self) -> dict[str, tuple[Any, tuple[str | int, ...]]]:
        """Address -> (plugin stage or instrument, where its ``state:`` key goes in this document).

        A plugin from a chain file gets its state reference in the session's override for
        that stage (``params: {stage: {state: ...}}``): the chain file is shared, so it is
        never written.
        """
        holders: dict[str, tuple[Any, tuple[str | int, ...]]] = {}
        for built in self.stages.values():
            for b in built:
                if "type" in b.plan.entry:
                    continue
                inline = b.plan.where.document is self.document
                key = b.plan.where.key_path if inline else b.plan.params_doc_path
                holders[b.plan.address] = (b.stage, (*key, "state"))
        for track in self.plan.tracks:
            if track.address in self.instruments:
                key = (*track.where.key_path, "instrument", "state")
                holders[f"{track.address}/instrument"] = (self.instruments[track.address], key)
        return holders

    # -- rendering --------------------------------------------------------------
    def render(self, out_dir: str | Path | None = None, *, workers: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> RenderResult:
        """Render the mix (and stems if configured); returns what was written and measured."""
        from ..engine.render import render_session

        return render_session(self, Path(out_dir) if out_dir is not None else None,
                              workers=workers, progress=progress)

    def values_snapshot(self) -> dict[str, float]:
        return {p.address: float(self.registry.values[p.slot]) for p in self.registry}

    def apply_snapshot(self, values: Mapping[str, float]) -> None:
        for address, value in values.items():
            if address in self.registry:
                self.registry.values[self.registry.param(address).slot] = value

    def worker_state(self) -> dict[str, Any]:
        """This session as it is in memory, as picklable data for a spawned render worker:
        its file, the values set through the API, and the lanes as edited."""
        return {"path": str(self.path.resolve()), "values": self.values_snapshot(),
                "lanes": lanes_data(self.lanes)}

    @classmethod
    def from_worker_state(cls, state: Mapping[str, Any]) -> Session:
        """The session :meth:`worker_state` described: the file loaded anew, then the values and lanes."""
        session = load_session(state["path"])
        session.apply_snapshot(state["values"])
        session.lanes = lanes_from(session.registry, state["lanes"])
        return session


def load_session(path: str | Path, *, build_stages: bool = True) -> Session:
    """Load and validate a session file; raises a UserInputError subclass on bad input.

    ``build_stages=False`` (for commands that only read the session, such as
    ``analyze --session``) builds no stage, plugin or instrument, so their
    parameters are not registered: automation lanes of those parameters are
    left unloaded instead of being refused as unknown addresses.
    """
    file_path = Path(path)
    document = yaml_doc.load(file_path)
    schema_check.validate(document, session_schema(), str(file_path))
    config = yaml_doc.to_plain(document)
    plan = build_plan(config, document, str(file_path), file_path.resolve().parent)
    strip_order(plan)  # an unknown sidechain name or a sidechain loop is refused here, at load
    session = Session(file_path, document, plan)
    _register_strips(session)
    if build_stages:
        for track in plan.tracks:
            if "instrument" in track.settings:
                session.instruments[track.address] = _build_instrument(session, track)
        for strip in [*plan.tracks, *plan.buses, plan.master]:
            session.stages[strip.address] = [_build_stage(session, p) for p in strip.stages]
    unbuilt = () if build_stages else _unbuilt_owners(plan)
    session.lanes = _lanes(session, config.get("automation", {}), unbuilt)
    session.registry.observe(_DocumentSync(session))
    return session


# -- registry construction ----------------------------------------------------------
def _register_strips(session: Session) -> None:
    plan = session.plan
    for strip in [*plan.tracks, *plan.buses, plan.master]:
        session.registry.add_strip(strip.address, strip.name)
        names = {"master": ("gain_db",), "track": ("gain_db", "pan", "mute", "solo"),
                 "bus": ("gain_db", "pan", "mute")}[strip.kind]
        for name in names:
            key = (*strip.where.key_path, name)
            _register(session, f"{strip.address}/{name}", STRIP_PARAMS[name], strip.settings.get(name),
                      key, strip.where.at(name))
        for send in strip.sends:
            key = (*strip.where.key_path, "sends", send.bus, "level_db")
            _register(session, f"{strip.address}/sends/{send.bus}/level_db", SEND_LEVEL, send.level_db,
                      key, strip.where.at("sends", send.bus))


def _register(session: Session, address: str, spec: ParamSpec, value: Any,
              doc_path: tuple[str | int, ...], error_at: Located) -> Parameter:
    param = session.registry.register(address, spec, doc_path=doc_path)
    if value is not None:
        try:
            session.registry.values[param.slot] = param.parse(value)
        except ParameterError as error:
            raise error_at.error(error.message) from None
    return param


def _build_stage(session: Session, plan: StagePlan) -> BuiltStage:
    stage = create_stage(plan, session.plan.base_dir, session.plan.sample_rate)
    specs = {spec.name: spec for spec in stage.param_specs()}
    values = dict(plan.entry.get("params", {}))
    bypass_value = values.pop("bypass", plan.entry.get("bypass"))  # chain-file overrides carry it here
    for name in values:
        if name not in specs:
            raise plan.where.error(
                f"stage {plan.stage_id!r} has no parameter {name!r}; {did_you_mean(name, specs)}",
                at=("params", name), hint=f"`mixhost params` lists the parameters of {plan.address}",
            )
    params = {
        name: _register(session, f"{plan.address}/{name}", spec, values.get(name),
                        (*plan.params_doc_path, name), plan.where.at("params", name))
        for name, spec in specs.items()
    }
    bypass_path = (*plan.params_doc_path[:-1], "bypass") if plan.where.document is session.document else None
    bypass = _register(session, f"{plan.address}/bypass", BYPASS, bypass_value,
                       bypass_path or (*plan.params_doc_path, "bypass"), plan.where.at("bypass"))
    stage.bind(ParamView(session.registry, params))
    return BuiltStage(plan, stage, bypass)


def _build_instrument(session: Session, track: StripPlan) -> Any:
    """The MIDI-file-through-instrument source of a track; its parameters at tracks/<t>/instrument/."""
    spec = track.settings["instrument"]
    where = track.where.at("instrument")
    try:
        from ..plugins.instrument import make_instrument_source

        source = make_instrument_source(spec, session.plan.base_dir, session.plan.sample_rate,
                                        address=f"{track.address}/instrument")
    except SessionError as error:
        if error.line is None:
            raise where.error(error.message, hint=error.hint, cls=type(error)) from None
        raise
    except UserInputError as error:
        raise where.error(error.message, hint=error.hint) from None
    values = spec.get("params", {})
    params = {
        p.name: _register(session, f"{track.address}/instrument/{p.name}", p, values.get(p.name),
                          (*where.key_path, "params", p.name), where.at("params", p.name))
        for p in source.param_specs()
    }
    source.bind(ParamView(session.registry, params))
    return source


def create_stage(plan: StagePlan, base_dir: Path, sample_rate: int) -> Stage:
    """A stage instance for a chain entry: a native/user stage type or a plugin."""
    options = {**plan.options, "base_dir": base_dir, "session_sample_rate": sample_rate}
    try:
        if "type" in plan.entry:
            return stage_class(str(plan.entry["type"]))(plan.stage_id, options)
        from ..plugins.stage import make_plugin_stage

        return make_plugin_stage(plan.stage_id, options, base_dir)
    except SessionError as error:
        if error.line is None:
            raise plan.where.error(error.message, hint=error.hint, cls=type(error)) from None
        raise
    except UserInputError as error:
        raise plan.where.error(error.message, hint=error.hint) from None
    except ImportError as error:
        raise plan.where.error(f"this stage needs a part of mixhost that is not available: {error}") from None


# -- automation ----------------------------------------------------------------------
def _unbuilt_owners(plan: Plan) -> tuple[str, ...]:
    """The address prefixes (``tracks/v/comp/``) of every stage and instrument a session has."""
    owners = [f"{stage.address}/" for strip in [*plan.tracks, *plan.buses, plan.master] for stage in strip.stages]
    owners += [f"{track.address}/instrument/" for track in plan.tracks if "instrument" in track.settings]
    return tuple(owners)


def _lanes(session: Session, automation: Mapping[str, Any], unbuilt: tuple[str, ...] = ()) -> list[Lane]:
    """The automation lanes; lanes of parameters under the ``unbuilt`` prefixes are not loaded."""
    lanes = []
    for address, lane in automation.items():
        at = Located(str(session.path), session.document, ("automation", address))
        if address not in session.registry and address.startswith(unbuilt):
            continue  # a stage or instrument parameter, and the stages were not built
        if address not in session.registry:
            raise at.error(f"no parameter at {address!r}; {did_you_mean(address, [p.address for p in session.registry])}",
                           hint="`mixhost params SESSION` lists every address")
        param = session.registry.param(address)
        times: list[float] = []
        values: list[float] = []
        for index, (time_s, value) in enumerate(lane["points"]):
            try:
                values.append(param.parse(value))
            except ParameterError as error:
                raise at.error(error.message, at=("points", index)) from None
            if times and time_s < times[-1]:
                raise at.error(f"point times must not go backwards ({time_s} s after {times[-1]} s)",
                               at=("points", index))
            times.append(float(time_s))
        interpolation = lane.get("interpolation", "linear")
        points = (np.array(times), np.array(values))
        if interpolation == "linear":
            points = soften_jumps(*points)
        lanes.append(Lane(param, *points, interpolation))
    return lanes


# Changes the engine makes by itself (automation playback, a safety mute of a failing track): the
# mix as the user set it, which `save` writes, does not include them.
ENGINE_SOURCES = frozenset({"automation", "engine"})


class _DocumentSync:
    """Keeps the YAML document in step with parameter changes, so `save` writes them."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __call__(self, change: Change) -> None:
        if change.source in ENGINE_SOURCES:
            return
        param = self.session.registry.param(change.address)
        if param.doc_path is None:
            return
        _set_in(self.session.document, param.doc_path, param.present(change.value))


def _set_in(document: Any, path: tuple[str | int, ...], value: Any) -> None:
    node = document
    for depth, key in enumerate(path[:-1]):
        if isinstance(node, dict) and isinstance(node.get(key), str) and path[depth + 1] == 0:
            # `chain: name` shorthand gains an override: write it out as `chain: [{chain: name, params: ...}]`
            node[key] = CommentedSeq([CommentedMap(chain=node[key])])
        if isinstance(node, list):
            node = node[int(key)]
            continue
        if key not in node or node[key] is None:
            node[key] = CommentedMap()
        node = node[key]
    node[path[-1]] = value


def strip_stages(session: Session, strip: StripPlan) -> list[BuiltStage]:
    return session.stages.get(strip.address, [])
