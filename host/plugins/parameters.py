"""A plugin's parameters as registry specs, and registry values back to the plugin.

Names are pedalboard's normalised Python names (``low_db``, ``early_late_mix``).
Values in the registry are in the plugin's own units (what its display shows):

* numeric parameters: ``min``/``max`` from pedalboard's scan of the display
  text, unit from the plugin's label; the default is the value the plugin
  holds once loaded (after any preset), so an untouched parameter is never
  rewritten;
* two-valued numeric parameters spanning 0..1 and pedalboard's booleans
  become registry booleans (``off``/``on``);
* text-valued parameters become enums whose choices are the plugin's texts,
  lower-cased (the registry matches text values case-insensitively).

A plugin's program selector (``current_program``) is an enum like any other;
choosing a program changes the plugin's other parameters inside the plugin,
and the registry does not follow (use ``preset:`` for a starting point instead).

The plugin takes a normalised "raw" value in 0..1.  :class:`RawMapper`
converts a registry value with the plugin's own text parser (exact for most
plugins) and falls back to the table pedalboard measured when the parser
answers outside the expected step (some plugins parse badly).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..registry import ParamSpec, boolean

log = logging.getLogger(__name__)

KIND_NUMBER = "number"
KIND_BOOLEAN = "boolean"
KIND_ENUM = "enum"


@dataclass(frozen=True)
class PluginParam:
    """One plugin parameter: its registry spec and how to reach the plugin."""

    spec: ParamSpec
    kind: str
    mapper: RawMapper

    def current(self) -> float:
        """The value the plugin holds now, in registry terms (after a state load, say)."""
        wrapper = self.mapper.wrapper
        if self.kind == KIND_BOOLEAN:
            return 1.0 if float(wrapper.raw_value) >= 0.5 else 0.0
        if self.kind == KIND_ENUM:
            text = str(wrapper.string_value).strip().lower()
            return float(self.spec.choices.index(text)) if text in self.spec.choices else self.spec.default
        return min(max(_current_number(wrapper), self.spec.min), self.spec.max)


class RawMapper:
    """Registry value -> the plugin's normalised raw value for one parameter."""

    def __init__(self, wrapper: Any, kind: str, choices_raw: tuple[float, ...] = ()) -> None:
        self.wrapper = wrapper
        self.kind = kind
        self.choices_raw = choices_raw
        values: list[float] = []
        lows: list[float] = []
        highs: list[float] = []
        if kind == KIND_NUMBER:
            for (low, high), value in sorted(wrapper.ranges.items(), key=lambda item: float(item[1])):
                values.append(float(value))
                lows.append(float(low))
                highs.append(float(high))
        self._values = np.asarray(values)
        self._lows = np.asarray(lows)
        self._highs = np.asarray(highs)

    def to_raw(self, value: float) -> float:
        if self.kind == KIND_BOOLEAN:
            return 1.0 if value >= 0.5 else 0.0
        if self.kind == KIND_ENUM:
            index = min(max(int(round(value)), 0), len(self.choices_raw) - 1)
            return self.choices_raw[index]
        return self._number_to_raw(value)

    def _number_to_raw(self, value: float) -> float:
        values = self._values
        if values.size == 0:
            return min(max(value, 0.0), 1.0)
        nearest = int(np.clip(np.searchsorted(values, value), 0, values.size - 1))
        if nearest > 0 and abs(values[nearest - 1] - value) <= abs(values[nearest] - value):
            nearest -= 1
        low, high = float(self._lows[nearest]), float(self._highs[nearest])
        try:
            parsed = float(self.wrapper.get_raw_value_for_text(f"{value:.9g}"))
        except (RuntimeError, ValueError):
            parsed = math.nan
        slack = 1e-6
        if math.isfinite(parsed) and low - slack <= parsed <= high + slack:
            return min(max(parsed, 0.0), 1.0)
        # the plugin's parser disagrees with its own display text: interpolate the measured table
        mids = (self._lows + self._highs) / 2.0
        return float(np.interp(value, values, mids))


def _looks_boolean(wrapper: Any) -> bool:
    if wrapper.type is bool:
        return True
    if wrapper.type is not float:
        return False
    values = sorted(float(v) for v in wrapper.valid_values)
    return values == [0.0, 1.0]


def _number_spec(name: str, wrapper: Any) -> ParamSpec | None:
    lo, hi = wrapper.min_value, wrapper.max_value
    if lo is None or hi is None or not math.isfinite(lo) or not math.isfinite(hi) or lo >= hi:
        return None
    current = _current_number(wrapper)
    unit = (wrapper.label or "").strip()
    return ParamSpec(
        name, min(max(current, float(lo)), float(hi)), float(lo), float(hi),
        unit=unit, doc=str(wrapper.name), smooth=False,
    )


def _current_number(wrapper: Any) -> float:
    """The plugin's current value in its units: its display text, else the measured table."""
    unit = (wrapper.label or "").strip()
    text = str(wrapper.string_value).strip()
    if unit and text.endswith(unit):
        text = text[: -len(unit)].strip()
    try:
        value = float(text)
        if math.isfinite(value):
            return value
    except ValueError:
        pass
    raw = float(wrapper.raw_value)
    for (low, high), value in wrapper.ranges.items():
        if low <= raw <= high:
            return float(value)
    return float(wrapper.min_value)


def _enum(name: str, wrapper: Any) -> tuple[ParamSpec, tuple[float, ...]] | None:
    texts = [str(v) for v in wrapper.valid_values]
    lowered = [t.strip().lower() for t in texts]
    if len(texts) < 2 or len(set(lowered)) != len(lowered):
        return None
    raws: list[float] = []
    ranges = {str(value): (low, high) for (low, high), value in wrapper.ranges.items()}
    for text in texts:
        low, high = ranges[text]
        raws.append((float(low) + float(high)) / 2.0)
    current = str(wrapper.string_value)
    default = lowered.index(current.strip().lower()) if current.strip().lower() in lowered else 0
    spec = ParamSpec(
        name, float(default), 0.0, float(len(texts) - 1), choices=tuple(lowered),
        doc=str(wrapper.name), smooth=False,
    )
    return spec, tuple(raws)


def plugin_params(plugin: Any, skip: Iterable[str] = ()) -> dict[str, PluginParam]:
    """Every usable parameter of a loaded plugin, keyed by pedalboard's name."""
    skipped = set(skip)
    out: dict[str, PluginParam] = {}
    for name, wrapper in plugin.parameters.items():
        if name in skipped:
            continue
        param = describe(name, wrapper)
        if param is None:
            log.info("plugin %s: parameter %r has no usable range; not exposed", plugin.name, name)
            continue
        out[name] = param
    return out


def describe(name: str, wrapper: Any) -> PluginParam | None:
    if _looks_boolean(wrapper):
        spec = boolean(name, float(wrapper.raw_value) >= 0.5, doc=str(wrapper.name))
        return PluginParam(spec, KIND_BOOLEAN, RawMapper(wrapper, KIND_BOOLEAN))
    if wrapper.type is float:
        number = _number_spec(name, wrapper)
        if number is None:
            return None
        return PluginParam(number, KIND_NUMBER, RawMapper(wrapper, KIND_NUMBER))
    enum = _enum(name, wrapper)
    if enum is None:
        return None
    spec, raws = enum
    return PluginParam(spec, KIND_ENUM, RawMapper(wrapper, KIND_ENUM, raws))


def spec_to_json(spec: ParamSpec) -> dict[str, Any]:
    """What the scan cache stores about a parameter (and `plugins params` shows)."""
    row: dict[str, Any] = {"name": spec.name, "label": spec.doc, "default": spec.default}
    if spec.is_boolean:
        row.update(kind=KIND_BOOLEAN, choices=list(spec.choices))
    elif spec.choices:
        row.update(kind=KIND_ENUM, choices=list(spec.choices), default=spec.choices[int(spec.default)])
    else:
        row.update(kind=KIND_NUMBER, min=spec.min, max=spec.max, unit=spec.unit)
    return row
