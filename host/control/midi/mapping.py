"""Mappings: MIDI controls driving registry parameters, and their feedback.

One :class:`Mapping` per entry of a map's ``mappings:`` list.  Its control
gives a position in 0..1 (absolute sources) or steps (relative encoders);
the mapping turns that into values for its targets through

* ``min`` / ``max`` (in the parameter's units; default its range),
* a curve: ``scale`` (the parameter's own taper: log frequency, dB fader),
  ``linear`` (in its units) or ``exponent``,
* ``invert``,

and sets them all with one :meth:`Registry.set_many`, so a macro lands in one
block.  Targets are addresses, patterns (``tracks/*/gain_db``), the Nth strip
in mixer order (``strip/3/gain_db``) or ``selected/...``.

Soft takeover (``pickup``): a control without a motor moves nothing until it
meets the parameter's value (comes within ``PICKUP_TOLERANCE`` or crosses it).
A change from anywhere else (a recall, automation, another control) drops the
pickup again.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...errors import ParameterError, SessionError
from ...registry import Parameter, Registry
from ...scales import to_normalized
from ...session import yaml_doc
from ...suggest import did_you_mean
from ..selection import PREFIX as SELECTED
from .encoders import accelerated, relative_steps
from .maps import MapDocument

Current = Callable[[Parameter], float]   # a parameter's value as last heard (a set a moment ago included)
PICKUP_TOLERANCE = 1.5 / 127       # within one and a half 7-bit steps counts as met
STRIP = "strip/"
FULL = {"cc": 127, "cc14": 16383, "nrpn": 16383, "rpn": 16383, "pitchbend": 16383, "note": 127,
        "pressure": 127, "program": 127}
NUMBER_LIMIT = {"cc": 127, "cc14": 31, "note": 127, "nrpn": 16383, "rpn": 16383}


@dataclass
class Target:
    """One target of a mapping: a pattern and an optional range (parameter units)."""

    pattern: str
    low: Any = None
    high: Any = None
    addresses: list[str] = field(default_factory=list)   # resolved (empty for selected/...)


@dataclass
class Mapping:
    """One compiled mapping entry (see the module docstring)."""

    index: int
    source: str
    channel: int                # 0-15
    number: int = 0
    lsb: int = 0
    targets: list[Target] = field(default_factory=list)
    transport: str | None = None
    snapshots: list[str] | None = None
    fade_s: float = 0.0
    curve: str = "scale"
    exponent: float = 2.0
    invert: bool = False
    encoding: str = "absolute"
    step: float = 0.01
    acceleration: float = 0.0
    pickup: bool = False
    mode: str = "toggle"
    button: bool = False        # a cc with `mode:` is a button (press >= 64) like a note
    feedback: bool = True
    where: str = ""             # file:line, for messages
    # state (the surface's input thread)
    picked: bool = False
    last_position: float | None = None
    pressed: bool = False

    @property
    def relative(self) -> bool:
        return self.encoding != "absolute"

    @property
    def key(self) -> tuple[str, int]:
        """The feedback key of this control."""
        return ("map", self.index)

    # -- addresses ----------------------------------------------------------------------------------
    def addresses(self, registry: Registry, selected: str) -> list[tuple[Target, Parameter]]:
        """Every (target, parameter) this mapping drives now (``selected/...`` resolved now)."""
        found = []
        for target in self.targets:
            if target.pattern.startswith(SELECTED):
                pattern = f"{selected}/{target.pattern[len(SELECTED):]}"
                found += [(target, p) for p in registry.find(pattern) if not p.spec.read_only]
            else:
                found += [(target, registry.param(a)) for a in target.addresses]
        return found

    # -- position <-> value ---------------------------------------------------------------------------
    def value_at(self, target: Target, param: Parameter, position: float) -> float:
        """The value for a control position in 0..1 (clamped into the parameter's range)."""
        spec = param.spec
        position = min(max(position, 0.0), 1.0)
        if self.invert:
            position = 1.0 - position
        low, high = self._range(target, param)
        if self.curve == "scale":
            n_low = to_normalized(low, spec.min, spec.max, spec.scale)
            n_high = to_normalized(high, spec.min, spec.max, spec.scale)
            value = Registry.position_value(param, n_low + position * (n_high - n_low))
        else:
            shaped = position ** self.exponent if self.curve == "exponent" else position
            value = low + shaped * (high - low)
        value = min(max(value, spec.min), spec.max)
        return float(round(value)) if spec.choices else value

    def position_of(self, target: Target, param: Parameter, value: float) -> float:
        """Where the control stands for a parameter value (the inverse of :meth:`value_at`)."""
        spec = param.spec
        low, high = self._range(target, param)
        if self.curve == "scale":
            n_low = to_normalized(low, spec.min, spec.max, spec.scale)
            n_high = to_normalized(high, spec.min, spec.max, spec.scale)
            n = to_normalized(value, spec.min, spec.max, spec.scale)
            position = (n - n_low) / (n_high - n_low) if n_high != n_low else 0.0
        else:
            linear = (value - low) / (high - low) if high != low else 0.0
            linear = min(max(linear, 0.0), 1.0)
            position = linear ** (1.0 / self.exponent) if self.curve == "exponent" else linear
        position = min(max(position, 0.0), 1.0)
        return 1.0 - position if self.invert else position

    @staticmethod
    def _range(target: Target, param: Parameter) -> tuple[float, float]:
        low = param.parse(target.low) if target.low is not None else param.spec.min
        high = param.parse(target.high) if target.high is not None else param.spec.max
        return low, high

    # -- moves (the surface's input thread) ------------------------------------------------------------
    def absolute(self, registry: Registry, selected: str, current: Current, raw: int) -> list[tuple[str, float]] | None:
        """Values for an absolute control value ``raw``; None while pickup waits."""
        position = raw / FULL[self.source]
        pairs = self.addresses(registry, selected)
        if not pairs:
            return None
        if self.pickup and not self.picked:
            target, param = pairs[0]
            here = self.position_of(target, param, current(param))
            last, self.last_position = self.last_position, position
            crossed = last is not None and (last - here) * (position - here) <= 0
            if abs(position - here) > PICKUP_TOLERANCE and not crossed:
                return None
            self.picked = True
        return [(p.address, self.value_at(t, p, position)) for t, p in pairs]

    def relative_move(self, registry: Registry, selected: str, current: Current, steps: float) -> list[tuple[str, float]] | None:
        """Values after ``steps`` ticks of a relative encoder (each its own parameter's position)."""
        pairs = self.addresses(registry, selected)
        if not pairs:
            return None
        moved = []
        for target, param in pairs:
            here = self.position_of(target, param, current(param))
            delta = accelerated(int(steps), self.acceleration) * self.step
            moved.append((param.address, self.value_at(target, param, here + (-delta if self.invert else delta))))
        return moved

    def steps_of(self, raw: int) -> int:
        return relative_steps(self.encoding, raw)

    def toggled(self, registry: Registry, selected: str, current: Current, pressed: bool) -> list[tuple[str, float]] | None:
        """A button: toggle flips between the ends of the range on each press; momentary
        holds the high end while pressed."""
        pairs = self.addresses(registry, selected)
        if not pairs:
            return None
        if self.mode == "momentary":
            position = 1.0 if pressed else 0.0
        elif not pressed:
            return None
        else:
            target, param = pairs[0]
            here = self.position_of(target, param, current(param))
            position = 0.0 if here >= 0.5 else 1.0
        return [(p.address, self.value_at(t, p, position)) for t, p in pairs]

    def feedback_position(self, registry: Registry, selected: str, value: float) -> float | None:
        """Where the control should stand for its first target's ``value``."""
        pairs = self.addresses(registry, selected)
        if not pairs:
            return None
        target, param = pairs[0]
        return self.position_of(target, param, value)


# -- loading and validation ------------------------------------------------------------------------
def compile_maps(maps: list[MapDocument], registry: Registry, snapshot_names: list[str]) -> list[Mapping]:
    """Every mapping of ``maps``, resolved against the registry; errors name file:line."""
    compiled: list[Mapping] = []
    for map_doc in maps:
        node = map_doc.node
        default_pickup = bool(node.get("pickup", False))
        for index, entry in enumerate(node.get("mappings", []) or []):
            path = (*map_doc.key_path, "mappings", index)
            compiled.append(_compile(yaml_doc.to_plain(entry), len(compiled), default_pickup, registry,
                                     snapshot_names, _Where(map_doc, path)))
    return compiled


@dataclass
class _Where:
    map_doc: MapDocument
    path: tuple[str | int, ...]

    def error(self, message: str, *at: str | int, hint: str | None = None) -> SessionError:
        line, column = yaml_doc.locate(self.map_doc.document, (*self.path, *at))
        return SessionError(message, file=self.map_doc.file, line=line, column=column, hint=hint)

    def text(self) -> str:
        line, _ = yaml_doc.locate(self.map_doc.document, self.path)
        return f"{self.map_doc.file}:{line}"


def _compile(entry: dict[str, Any], index: int, default_pickup: bool, registry: Registry,
             snapshot_names: list[str], where: _Where) -> Mapping:
    source = entry["source"]
    mapping = Mapping(
        index=index, source=source, channel=int(entry.get("channel", 1)) - 1, number=int(entry.get("number", 0)),
        curve=entry.get("curve", "scale"), exponent=float(entry.get("exponent", 2.0)),
        invert=bool(entry.get("invert", False)), encoding=entry.get("encoding", "absolute"),
        step=float(entry.get("step", 0.01)), acceleration=float(entry.get("acceleration", 0.0)),
        pickup=bool(entry.get("pickup", default_pickup)), mode=entry.get("mode", "toggle"),
        button=source == "note" or "mode" in entry,
        feedback=bool(entry.get("feedback", True)), transport=entry.get("transport"),
        fade_s=float(entry.get("fade_s", 0.0)), where=where.text(),
    )
    _check_source(mapping, entry, where)
    if source == "program":
        mapping.snapshots = _snapshots(entry, snapshot_names, where)
        return mapping
    if mapping.transport is not None:
        if source not in ("note", "cc"):
            raise where.error(f"a transport button is a note or a cc, not {source!r}", "source")
        return mapping
    targets = _targets(entry, where)
    for position, target in enumerate(targets):
        at: tuple[str | int, ...] = ("targets", position) if "targets" in entry else ("target",)
        target.addresses = _resolve(target.pattern, registry, where, at)
        _check_range(target, registry, where, at)
    mapping.targets = targets
    if mapping.relative:
        mapping.pickup = False      # an encoder has no position to take over from
    return mapping


def _check_source(mapping: Mapping, entry: dict[str, Any], where: _Where) -> None:
    source = mapping.source
    limit = NUMBER_LIMIT.get(source)
    if limit is not None and "number" not in entry:
        raise where.error(f"a {source} mapping needs `number:` (0-{limit})")
    if limit is not None and mapping.number > limit:
        hint = "a 14-bit pair has its MSB on controller 0-31 and its LSB 32 above" if source == "cc14" else None
        raise where.error(f"{source} number {mapping.number} is out of range 0-{limit}", "number", hint=hint)
    if source == "cc14":
        mapping.lsb = int(entry.get("lsb", mapping.number + 32))
    if mapping.encoding == "increment" and source not in ("nrpn", "rpn"):
        raise where.error("encoding `increment` is NRPN/RPN data increment and decrement; "
                          f"a {source} mapping cannot use it", "encoding")
    if mapping.relative and mapping.encoding != "increment" and source not in ("cc",):
        raise where.error(f"a relative encoder sends cc messages; {source} is absolute", "encoding")


def _snapshots(entry: dict[str, Any], names: list[str], where: _Where) -> list[str]:
    wanted = entry.get("snapshots")
    if wanted is None:
        return list(names)
    for position, name in enumerate(wanted):
        if name not in names:
            raise where.error(f"no snapshot {name!r} in the session; {did_you_mean(name, names)}",
                              "snapshots", position)
    return list(wanted)


def _targets(entry: dict[str, Any], where: _Where) -> list[Target]:
    if "target" in entry and "targets" in entry:
        raise where.error("give `target:` or `targets:` (a macro), not both", "targets")
    if "targets" in entry:
        return [Target(t["target"], t.get("min"), t.get("max")) for t in entry["targets"]]
    if "target" in entry:
        return [Target(entry["target"], entry.get("min"), entry.get("max"))]
    raise where.error("a mapping needs `target:`, `targets:` (a macro), `transport:` or, for program "
                      "changes, snapshots")


def _resolve(pattern: str, registry: Registry, where: _Where, at: tuple[str | int, ...]) -> list[str]:
    """The addresses a target pattern covers now (validated; ``selected/...`` later, at each move)."""
    every = [p.address for p in registry]
    if pattern.startswith(SELECTED):
        rest = pattern[len(SELECTED):]
        if not any(fnmatch.fnmatchcase(a, f"{s.address}/{rest}") for s in registry.strips() for a in every):
            raise where.error(f"no strip has a parameter {rest!r} for {pattern!r}",
                              *at, hint="`mixhost params SESSION` lists every address")
        return []
    if pattern.startswith(STRIP):
        # a reusable map names strips by number: past the session's last strip, or a control a
        # strip lacks (a bus has no solo), the mapping drives nothing
        pattern = _strip_pattern(pattern, registry, where, at)
        return [p.address for p in registry.find(pattern) if not p.spec.read_only] if pattern else []
    found = [p.address for p in registry.find(pattern) if not p.spec.read_only]
    if not found:
        read_only = [p.address for p in registry.find(pattern)]
        if read_only:
            raise where.error(f"{read_only[0]} is read-only: a control cannot set it", *at)
        raise where.error(f"no parameter at {pattern!r}; {did_you_mean(pattern, every)}", *at,
                          hint="`mixhost params SESSION` lists every address")
    return found


def _strip_pattern(pattern: str, registry: Registry, where: _Where, at: tuple[str | int, ...]) -> str:
    """``strip/3/gain_db`` -> the third strip's address pattern ("" past the last strip)."""
    number, _, rest = pattern[len(STRIP):].partition("/")
    strips = registry.strips()
    if not number.isdigit() or int(number) < 1 or not rest:
        raise where.error(f"{pattern!r}: write strip/N/PARAMETER with N from 1 (mixer order)", *at)
    return f"{strips[int(number) - 1].address}/{rest}" if int(number) <= len(strips) else ""


def _check_range(target: Target, registry: Registry, where: _Where, at: tuple[str | int, ...]) -> None:
    for address in target.addresses:
        param = registry.param(address)
        for key in ("low", "high"):
            bound = getattr(target, key)
            if bound is None:
                continue
            try:
                param.parse(bound)
            except ParameterError as error:
                name = "min" if key == "low" else "max"
                raise where.error(error.message, *(at if at[0] == "targets" else ()), name) from None

