"""The catalogue of stage types.

Stage modules are imported lazily, on first use of their type, so that
``mixhost --help`` does not pay for numba or pedalboard.  Add a built-in
stage by adding a line to ``_BUILTIN``.
"""

from __future__ import annotations

import importlib

from ..errors import SessionError
from ..suggest import did_you_mean
from .base import ParamView, Stage

_BUILTIN: dict[str, str] = {
    "gain": "host.stages.utility:Gain",
    "pan": "host.stages.utility:Pan",
    "mute": "host.stages.utility:Mute",
    "eq": "host.stages.eq:Eq",
    "compressor": "host.stages.dynamics:Compressor",
    "expander": "host.stages.dynamics:Expander",
    "gate": "host.stages.dynamics:Gate",
    "deesser": "host.stages.dynamics:DeEsser",
    "limiter": "host.stages.limiter:Limiter",
    "loudness": "host.stages.loudness:Loudness",
    "saturation": "host.stages.saturation:Saturation",
    "width": "host.stages.width:Width",
    "polarity": "host.stages.width:Polarity",
    "delay": "host.stages.delay:Delay",
    "reverb": "host.stages.reverb:Reverb",
    "multiband_compressor": "host.stages.multiband:MultibandCompressor",
    "ms_eq": "host.stages.ms_eq:MsEq",
    "dither": "host.stages.dither:Dither",
    "python": "host.stages.python_stage:PythonStage",
}

_loaded: dict[str, type[Stage]] = {}


def register_stage(cls: type[Stage]) -> type[Stage]:
    """Make a stage class available under ``cls.type_name`` (usable as a decorator)."""
    _loaded[cls.type_name] = cls
    return cls


def stage_types() -> list[str]:
    return sorted(set(_BUILTIN) | set(_loaded))


def stage_class(type_name: str) -> type[Stage]:
    if type_name in _loaded:
        return _loaded[type_name]
    target = _BUILTIN.get(type_name)
    if target is None:
        raise SessionError(f"unknown stage type {type_name!r}; {did_you_mean(type_name, stage_types())}")
    module_name, _, attr = target.partition(":")
    cls: type[Stage] = getattr(importlib.import_module(module_name), attr)
    _loaded[type_name] = cls
    return cls


def all_stage_classes() -> dict[str, type[Stage]]:
    return {name: stage_class(name) for name in stage_types()}


__all__ = ["ParamView", "Stage", "all_stage_classes", "register_stage", "stage_class", "stage_types"]
