"""Parametric equaliser: bell, shelves, high/low-pass, notch and band-pass bands.

A band's *type* (and a pass filter's slope and shape) comes from the stage's
options; its continuous values are registry parameters with flat names so
that each has an address::

    - {type: eq, id: tone, bands: [{type: bell, freq_hz: 1000, gain_db: 3, q: 1},
                                   {type: highpass, freq_hz: 80, slope: 24, shape: butterworth}]}

registers ``tone/band1_on``, ``tone/band1_freq_hz``, ``tone/band1_gain_db``,
``tone/band1_q``, ``tone/band2_on``, ``tone/band2_freq_hz``.  Switching a bell
or shelf off glides its gain to 0 dB (no click); other band types switch at
once.  All bands run
as one cascade of second-order sections with carried state
(:func:`host.dsp.sos.run_cascade`); sections that are exactly neutral (a bell
at 0 dB, a band switched off) are skipped.  While a band glides its
coefficients change every SUB_BLOCK samples: all of a block's sets are
designed in one compiled call and filtered in another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from ..dsp import biquad
from ..dsp.sos import run_cascade, settle_identity
from ..errors import SessionError
from ..registry import ParamSpec, boolean
from .native import SUB_BLOCK, NativeStage

FREQ_MIN, FREQ_MAX = 10.0, 24000.0
GAIN_RANGE_DB = 24.0
Q_MIN, Q_MAX = 0.1, 24.0

_TYPE_ALIASES = {
    "bell": biquad.BELL, "peak": biquad.BELL, "peaking": biquad.BELL,
    "low_shelf": biquad.LOW_SHELF, "lowshelf": biquad.LOW_SHELF,
    "high_shelf": biquad.HIGH_SHELF, "highshelf": biquad.HIGH_SHELF,
    "highpass": biquad.HIGH_PASS, "high_pass": biquad.HIGH_PASS, "hp": biquad.HIGH_PASS,
    "lowpass": biquad.LOW_PASS, "low_pass": biquad.LOW_PASS, "lp": biquad.LOW_PASS,
    "notch": biquad.NOTCH,
    "bandpass": biquad.BAND_PASS, "band_pass": biquad.BAND_PASS, "bp": biquad.BAND_PASS,
}
_HAS_GAIN = (biquad.BELL, biquad.LOW_SHELF, biquad.HIGH_SHELF)
_HAS_Q = (biquad.BELL, biquad.LOW_SHELF, biquad.HIGH_SHELF, biquad.NOTCH, biquad.BAND_PASS)

BAND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"enum": sorted(_TYPE_ALIASES)},
        "freq_hz": {"type": "number", "minimum": FREQ_MIN, "maximum": FREQ_MAX},
        "gain_db": {"type": "number", "minimum": -GAIN_RANGE_DB, "maximum": GAIN_RANGE_DB},
        "q": {"type": "number", "minimum": Q_MIN, "maximum": Q_MAX},
        "slope": {"enum": list(biquad.SLOPES_DB)},
        "shape": {"enum": list(biquad.SHAPES)},
        "on": {"type": "boolean"},
    },
    "required": ["type"],
    "additionalProperties": False,
}

DEFAULT_BANDS: tuple[dict[str, Any], ...] = (
    {"type": "low_shelf", "freq_hz": 100.0},
    {"type": "bell", "freq_hz": 500.0},
    {"type": "bell", "freq_hz": 2000.0},
    {"type": "high_shelf", "freq_hz": 8000.0},
)


@dataclass(frozen=True)
class Band:
    """One band: its fixed shape (from options) and the names of its parameters."""

    prefix: str
    type: str
    freq_hz: float
    gain_db: float
    q: float
    slope: int
    shape: str
    on: bool

    @property
    def on_name(self) -> str:
        return f"{self.prefix}_on"

    @cached_property
    def smoothed_names(self) -> tuple[str, ...]:
        names = [f"{self.prefix}_freq_hz"]
        if self.type in _HAS_GAIN:
            names.append(f"{self.prefix}_gain_db")
        if self.type in _HAS_Q:
            names.append(f"{self.prefix}_q")
        return tuple(names)

    @property
    def sections(self) -> int:
        return biquad.section_count(self.type, self.slope, self.shape)

    def specs(self) -> list[ParamSpec]:
        label = f"{self.prefix} ({self.type})"
        specs = [
            boolean(self.on_name, self.on, doc=f"{label} on"),
            ParamSpec(f"{self.prefix}_freq_hz", self.freq_hz, FREQ_MIN, FREQ_MAX, unit="Hz",
                      scale="log", doc=f"{label} frequency"),
        ]
        if self.type in _HAS_GAIN:
            specs.append(ParamSpec(f"{self.prefix}_gain_db", self.gain_db, -GAIN_RANGE_DB,
                                   GAIN_RANGE_DB, unit="dB", doc=f"{label} gain"))
        if self.type in _HAS_Q:
            specs.append(ParamSpec(f"{self.prefix}_q", self.q, Q_MIN, Q_MAX, scale="log",
                                   doc=f"{label} Q"))
        return specs

    def design(self, values: Mapping[str, float], sample_rate: float) -> np.ndarray:
        p = self.prefix
        return biquad.design(
            self.type,
            values[f"{p}_freq_hz"],
            values.get(f"{p}_gain_db", 0.0),
            values.get(f"{p}_q", 0.7071067811865476),
            sample_rate,
            self.slope,
            self.shape,
        )

    def design_many(self, values: Mapping[str, np.ndarray], sample_rate: float) -> np.ndarray:
        """(sets, sections, 6): one design per entry of the value arrays."""
        p = self.prefix
        freq = values[f"{p}_freq_hz"]
        return biquad.design_many(
            self.type,
            freq,
            values.get(f"{p}_gain_db", 0.0),
            values.get(f"{p}_q", 0.7071067811865476),
            sample_rate,
            self.slope,
            self.shape,
        )


def gate_of(name: str, bands: dict[str, Band]) -> str | None:
    """A bell or shelf switched off glides its gain to 0 dB: its ``on`` switch gates the gain."""
    band = bands.get(name)
    return None if band is None else band.on_name


def _bad(where: str, message: str) -> SessionError:
    return SessionError(f"{where}: {message}")


def parse_bands(raw: Any, where: str, prefix: str = "band") -> list[Band]:
    """Validate the ``bands`` option and turn it into :class:`Band` objects."""
    if raw is None:
        raw = DEFAULT_BANDS
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise _bad(where, "`bands` must be a list of bands such as {type: bell, freq_hz: 1000}")
    bands = []
    for i, entry in enumerate(raw, start=1):
        here = f"{where}, band {i}"
        if not isinstance(entry, Mapping):
            raise _bad(here, "each band must be a mapping such as {type: bell, freq_hz: 1000}")
        unknown = set(entry) - set(BAND_SCHEMA["properties"])
        if unknown:
            raise _bad(here, f"unknown key(s) {', '.join(sorted(unknown))}; "
                             f"use {', '.join(BAND_SCHEMA['properties'])}")
        kind = _TYPE_ALIASES.get(str(entry.get("type", "")).lower())
        if kind is None:
            raise _bad(here, f"unknown band type {entry.get('type')!r}; "
                             f"use one of {', '.join(biquad.BAND_TYPES)}")
        slope = int(entry.get("slope", 12))
        shape = str(entry.get("shape", "butterworth")).lower()
        try:
            biquad.slope_sections_order(slope, shape)
        except ValueError as exc:
            raise _bad(here, str(exc)) from None
        band = Band(
            prefix=f"{prefix}{i}",
            type=kind,
            freq_hz=_number(entry, "freq_hz", 1000.0, FREQ_MIN, FREQ_MAX, here),
            gain_db=_number(entry, "gain_db", 0.0, -GAIN_RANGE_DB, GAIN_RANGE_DB, here),
            q=_number(entry, "q", 0.7071067811865476, Q_MIN, Q_MAX, here),
            slope=slope,
            shape=shape,
            on=bool(entry.get("on", True)),
        )
        bands.append(band)
    return bands


def _number(entry: Mapping[str, Any], key: str, default: float, lo: float, hi: float,
            where: str) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise _bad(where, f"{key} must be a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)


class BandCascade:
    """The sections of a list of bands, their carried state and the sub-block update logic."""

    def __init__(self, bands: list[Band], channels: int, sample_rate: float) -> None:
        self.bands = bands
        self.sample_rate = sample_rate
        counts = [b.sections for b in bands]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(int)
        total = int(self._offsets[-1])
        self.sos = np.tile(biquad.IDENTITY, (total, 1))
        self.zi = np.zeros((total, channels, 2))
        self._keys: list[tuple[float, ...] | None] = [None] * len(bands)
        self._active = 0  # sections that are not identity

    def clear(self) -> None:
        self.zi[:] = 0.0

    def span(self, i: int) -> slice:
        """Band ``i``'s rows in the section array."""
        return slice(int(self._offsets[i]), int(self._offsets[i + 1]))

    def set_band(self, i: int, band: Band, values: Mapping[str, float], on: bool) -> None:
        """Redesign band ``i`` if its values changed; off bands become identity sections."""
        key = (float(on), *(values[n] for n in band.smoothed_names))
        if key == self._keys[i]:
            return
        self._keys[i] = key
        if on:
            self.sos[self.span(i)] = band.design(values, self.sample_rate)
        else:
            self.sos[self.span(i)] = biquad.IDENTITY
        self._refresh_active()

    def settle_band(self, i: int, band: Band, sections: np.ndarray, values: Mapping[str, float],
                    on: bool) -> None:
        """After a gliding block: band ``i`` holds the sections of its last sub-block."""
        self._keys[i] = (float(on), *(values[n] for n in band.smoothed_names))
        self.sos[self.span(i)] = sections

    def _refresh_active(self) -> None:
        self._active = settle_identity(self.sos, self.zi)

    def run(self, x: np.ndarray) -> np.ndarray:
        """One coefficient set for the whole block; every band neutral: ``x`` itself."""
        if self._active == 0:
            return x
        out = np.empty_like(x)
        run_cascade(x, self.sos[None], x.shape[1], self.zi, out)
        return out

    def run_varying(self, x: np.ndarray, sos: np.ndarray) -> np.ndarray:
        """A coefficient set per SUB_BLOCK samples (``sos``: sets x sections x 6), one compiled pass."""
        out = np.empty_like(x)
        run_cascade(x, sos, SUB_BLOCK, self.zi, out)
        self._refresh_active()
        return out


class BandProcessor:
    """Drives a :class:`BandCascade` from a stage's smoothed parameters."""

    def __init__(self, stage: NativeStage, bands: list[Band], channels: int | None = None) -> None:
        self.stage = stage
        self.bands = bands
        self.cascade = BandCascade(bands, channels or stage.channels, stage.sample_rate)
        self._at_rest = False  # the cascade holds the bands' resting coefficients
        self._sets = np.empty((-(-max(stage.max_block, SUB_BLOCK) // SUB_BLOCK), *self.cascade.sos.shape))
        for i, band in enumerate(bands):
            self.cascade.set_band(i, band, self._targets(band), self._on(band))

    def _targets(self, band: Band) -> dict[str, float]:
        return {n: self.stage.target(n) for n in band.smoothed_names}

    def _on(self, band: Band) -> bool:
        # a bell or shelf switched off glides to 0 dB (an exact identity) instead of
        # jumping; other band types switch at once
        return band.type in _HAS_GAIN or self.stage.switch(band.on_name)

    def process(self, x: np.ndarray) -> np.ndarray:
        stage, cascade = self.stage, self.cascade
        frames = x.shape[1]
        if stage.quiet and self._at_rest:  # nothing changed since the last block at rest: same filter
            return cascade.run(x)
        moving = [i for i, b in enumerate(self.bands) if stage.moving(b.smoothed_names)]
        if not moving:
            for i, band in enumerate(self.bands):
                values = {n: float(stage.glide(n, frames)) for n in band.smoothed_names}
                cascade.set_band(i, band, values, self._on(band))
            self._at_rest = True
            return cascade.run(x)
        self._at_rest = False
        for i, band in enumerate(self.bands):
            if i not in moving:
                values = {n: float(stage.glide(n, frames)) for n in band.smoothed_names}
                cascade.set_band(i, band, values, self._on(band))
        # the moving bands get a coefficient set per SUB_BLOCK samples, all designed at once
        n_sets = -(-frames // SUB_BLOCK)
        if n_sets > len(self._sets):
            self._sets = np.empty((n_sets, *cascade.sos.shape))
        sets = self._sets[:n_sets]
        sets[:] = cascade.sos
        for i in moving:
            band = self.bands[i]
            on = self._on(band)
            ramps = {n: _per_set(stage.glide(n, frames), n_sets) for n in band.smoothed_names}
            rows = cascade.span(i)
            if on:
                sets[:, rows] = band.design_many(ramps, cascade.sample_rate)
            else:
                sets[:, rows] = biquad.IDENTITY
            cascade.settle_band(i, band, sets[-1, rows], {n: float(r[-1]) for n, r in ramps.items()}, on)
        return cascade.run_varying(x, sets)


def _per_set(value: float | np.ndarray, sets: int) -> np.ndarray:
    """A glide's value at each sub-block start (a landed value: the same for every set)."""
    return value[::SUB_BLOCK] if isinstance(value, np.ndarray) else np.full(sets, value)


class Eq(NativeStage):
    """Parametric EQ; bands come from the ``bands`` option (default: 4 neutral bands)."""

    type_name = "eq"
    # coefficients change every 64 samples while a value glides; a 20 ms glide
    # keeps each step (and the zipper residue) small
    DEFAULT_SMOOTHING_S = 0.02
    OPTIONS: ClassVar[dict[str, Any]] = {"bands": {"type": "array", "items": BAND_SCHEMA}}

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        self.bands = parse_bands(self.options.get("bands"), f"stage {stage_id!r}")
        self._gain_bands = {f"{b.prefix}_gain_db": b for b in self.bands if b.type in _HAS_GAIN}

    def param_specs(self) -> tuple[ParamSpec, ...]:
        return tuple(spec for band in self.bands for spec in band.specs())

    def gate(self, name: str) -> str | None:
        return gate_of(name, self._gain_bands)

    def _setup(self) -> None:
        self._bands = BandProcessor(self, self.bands)

    def _clear(self) -> None:
        self._bands.cascade.clear()

    def _process(self, block: np.ndarray) -> np.ndarray:
        return self._bands.process(block)
