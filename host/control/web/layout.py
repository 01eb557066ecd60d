"""What the browser page is built from: the strips, their controls and every parameter, from the registry.

Nothing is written per session: :func:`layout` describes each strip (its
fader, pan, mute, solo, sends, notes and stages) and each parameter (range,
scale, unit, kind, choices, default, display text, position), and the page's
script makes the controls from that.  Positions come from
:mod:`host.scales`, so the page never needs a scale of its own: a dB fader's
scale marks come with their positions.
"""

from __future__ import annotations

import re
from typing import Any

from ...registry import Parameter, Registry
from ...scales import to_normalized
from ...session import Session

FADER_MARKS_DB = (12.0, 6.0, 0.0, -6.0, -12.0, -24.0, -48.0)
STRIP_PARAMS = ("gain_db", "pan", "mute", "solo")
_UNIT_SUFFIX = re.compile(r"_(db|dbtp|hz|ms|s|pct|lufs)$")


def label(strip_name: str, rest: str) -> str:
    """An accessible name: ``soprano`` + ``comp/threshold_db`` -> ``soprano comp threshold``."""
    words = [_UNIT_SUFFIX.sub("", part).replace("_", " ") for part in rest.split("/")]
    return " ".join([strip_name, *(w for w in words if w)])


def param_entry(registry: Registry, param: Parameter, strip_name: str, rest: str) -> dict[str, Any]:
    spec = param.spec
    stored = float(registry.values[param.slot])
    entry: dict[str, Any] = {
        "label": label(strip_name, rest),
        "name": rest,
        "kind": spec.kind,
        "min": spec.min,
        "max": spec.max,
        "unit": spec.unit,
        "scale": spec.scale,
        "choices": list(spec.choices),
        "default": param.present(spec.default),
        "default_norm": to_normalized(spec.default, spec.min, spec.max, spec.scale),
        "read_only": spec.read_only,
        "doc": spec.doc,
        "state": state(param, stored),
    }
    if spec.scale == "db_fader":
        entry["marks"] = [[to_normalized(db, spec.min, spec.max, spec.scale), f"{db:+g}" if db else "0"]
                          for db in FADER_MARKS_DB if spec.min <= db <= spec.max]
    return entry


def state(param: Parameter, stored: float) -> list[Any]:
    """``[position, value, display]`` of a stored value: what a control shows."""
    spec = param.spec
    position = round(to_normalized(stored, spec.min, spec.max, spec.scale), 6)
    value = param.present(stored)
    return [position, round(value, 6) if isinstance(value, float) else value, param.display(stored, width=12)]


def layout(session: Session, selected: str, snapshots: list[str], engine: Any = None) -> dict[str, Any]:
    """Everything the page needs on connect (see the module docstring)."""
    registry = session.registry
    notes = _notes(session)
    params: dict[str, Any] = {}
    strips = []
    for strip in registry.strips():
        prefix = strip.address + "/"
        stages: dict[str, list[str]] = {}
        sends: list[str] = []
        for param in registry.find(prefix + "*"):
            rest = param.address[len(prefix):]
            params[param.address] = param_entry(registry, param, strip.name, rest)
            head = rest.split("/", 1)[0]
            if head == "sends":
                sends.append(param.address)
            elif "/" in rest:
                stages.setdefault(head, []).append(param.address)
        strips.append({
            "address": strip.address,
            "name": strip.name,
            "short": strip.short,
            "kind": strip.address.split("/", 1)[0],
            "notes": notes.get(strip.address, ""),
            "controls": {name: f"{prefix}{name}" for name in STRIP_PARAMS if f"{prefix}{name}" in registry},
            "sends": sends,
            "stages": [{"id": stage, "params": addresses} for stage, addresses in stages.items()],
        })
    transport = {}
    for param in registry.find("transport/*"):
        transport[param.address.split("/", 1)[1]] = param.address
        params[param.address] = param_entry(registry, param, "transport", param.address.split("/", 1)[1])
    length = getattr(engine, "length", None)
    return {
        "session": session.title,
        "sample_rate": session.sample_rate,
        "length_s": length / session.sample_rate if isinstance(length, int) and length > 0 else None,
        "strips": strips,
        "params": params,
        "transport": transport,
        "selected": selected,
        "snapshots": snapshots,
        "buses": [strip.name for strip in registry.strips() if strip.address.startswith("buses/")],
    }


def _notes(session: Session) -> dict[str, str]:
    plan = getattr(session, "plan", None)
    found = {}
    for strip in [*getattr(plan, "tracks", []), *getattr(plan, "buses", [])]:
        text = strip.settings.get("notes")
        if text:
            found[strip.address] = str(text)
    return found
