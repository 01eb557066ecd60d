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
from numba import njit

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


# the columns of a BandProcessor's band table
_CODE, _ORDER, _LR, _OFFSET, _SECTIONS, _FREQ, _GAIN, _Q, _ON_SLOT, _SWITCHED = range(10)
DEFAULT_Q = 0.7071067811865476


class BandProcessor:
    """A list of bands as one cascade of sections, driven by a stage's glides.

    Each block is one compiled call (:func:`_run_bands`): a band whose values
    have landed is redesigned only when they differ from its last design; a
    gliding band gets a coefficient set per SUB_BLOCK samples; then the whole
    cascade runs with carried state.
    """

    def __init__(self, stage: NativeStage, bands: list[Band], channels: int | None = None) -> None:
        assert stage.p is not None
        self.stage = stage
        self.bands = bands
        self.sample_rate = stage.sample_rate
        params = stage.p.params
        rows, offset = [], 0
        index = stage.smoothed_index
        for band in bands:
            shape = biquad.layout(band.type, band.slope, band.shape)
            p = band.prefix
            rows.append((shape.code, shape.order, int(shape.linkwitz_riley), offset, shape.sections,
                         index(f"{p}_freq_hz"), index(f"{p}_gain_db"), index(f"{p}_q"),
                         params[band.on_name].slot, int(band.type not in _HAS_GAIN)))
            offset += shape.sections
        self._table = np.array(rows, dtype=np.int64).reshape(len(bands), 10)
        self.sos = np.tile(biquad.IDENTITY, (offset, 1))
        self.zi = np.zeros((offset, channels or stage.channels, 2))
        self._keys = np.full((len(bands), 4), np.nan)  # (on, freq, gain, q) of each band's design
        self._active = np.zeros(1, dtype=np.int64)      # sections that are not identity
        block = max(stage.max_block, SUB_BLOCK)
        self._sets = np.empty((-(-block // SUB_BLOCK), offset, 6))
        self._out = np.empty((self.zi.shape[1], block))
        self._registry = stage.p.registry  # its ``values`` read at each block (replaced if the registry grows)

    def clear(self) -> None:
        self.zi[:] = 0.0

    def process(self, x: np.ndarray) -> np.ndarray:
        """This block through every band; ``x`` itself when every band is neutral."""
        stage = self.stage
        frames = x.shape[1]
        if -(-frames // SUB_BLOCK) > len(self._sets):  # longer than prepared for: grows once
            self._sets = np.empty((-(-frames // SUB_BLOCK), *self.sos.shape))
        if frames > self._out.shape[1]:
            self._out = np.empty((self._out.shape[0], frames))
        out = self._out[: x.shape[0], :frames]  # the stage protocol's block lives until the next call
        filtered = _run_bands(self._registry.values, stage.glide_state, self._table, self._keys, self.sos,
                              self._sets, self._active, self.zi, self.sample_rate, x, out)
        return out if filtered else x


@njit(cache=True)
def _glide_value(i: int, settled: np.ndarray, landed: np.ndarray, ramps: np.ndarray, at: int,
                 default: float) -> float:  # pragma: no cover - compiled
    if i < 0:
        return default
    return landed[i] if settled[i] else ramps[i, at]


@njit(cache=True)
def _band_values(row: np.ndarray, settled: np.ndarray, landed: np.ndarray, ramps: np.ndarray,
                 at: int) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """(freq, gain, Q) of band ``row`` at sample ``at`` of this block."""
    return (_glide_value(row[_FREQ], settled, landed, ramps, at, 1000.0),
            _glide_value(row[_GAIN], settled, landed, ramps, at, 0.0),
            _glide_value(row[_Q], settled, landed, ramps, at, DEFAULT_Q))


@njit(cache=True)
def _band_on(row: np.ndarray, values: np.ndarray) -> bool:  # pragma: no cover - compiled
    # a bell or shelf switched off glides its gain to 0 dB (the stage's gate); other types switch at once
    return row[_SWITCHED] == 0 or values[row[_ON_SLOT]] >= 0.5


@njit(cache=True)
def _band_moves(row: np.ndarray, settled: np.ndarray) -> bool:  # pragma: no cover - compiled
    for c in (_FREQ, _GAIN, _Q):  # noqa: SIM110 - numba compiles no generator expressions
        if row[c] >= 0 and not settled[row[c]]:
            return True
    return False


@njit(cache=True)
def _design_band(row: np.ndarray, on: bool, freq: float, gain: float, q: float, sample_rate: float,
                 out: np.ndarray, i: int) -> None:  # pragma: no cover - compiled
    """Band ``row``'s sections into set ``i`` of ``out`` (a view starting at the band's first row)."""
    if on:
        biquad.design_set(row[_CODE], row[_ORDER], row[_LR] == 1, freq, gain, q, sample_rate, out, i)
        return
    for s in range(row[_SECTIONS]):  # a band switched off: identity sections
        out[i, s, 0] = 1.0
        out[i, s, 1] = 0.0
        out[i, s, 2] = 0.0
        out[i, s, 3] = 1.0
        out[i, s, 4] = 0.0
        out[i, s, 5] = 0.0


@njit(cache=True)
def _run_bands(values: np.ndarray, glide: tuple[np.ndarray, np.ndarray, np.ndarray], table: np.ndarray,
               keys: np.ndarray, sos: np.ndarray, sets: np.ndarray, active: np.ndarray, zi: np.ndarray,
               sample_rate: float, x: np.ndarray, out: np.ndarray) -> bool:  # pragma: no cover - compiled
    """One block of a band list; False when every section is identity (``out`` unused)."""
    settled, landed, ramps = glide
    frames = x.shape[1]
    n_sets = (frames + SUB_BLOCK - 1) // SUB_BLOCK
    sos3 = sos.reshape((1, sos.shape[0], 6))
    moving = False
    changed = False
    for b in range(table.shape[0]):
        row = table[b]
        if _band_moves(row, settled):
            moving = True
            continue
        on = _band_on(row, values)
        freq, gain, q = _band_values(row, settled, landed, ramps, 0)
        key = keys[b]
        if key[0] == (1.0 if on else 0.0) and key[1] == freq and key[2] == gain and key[3] == q:
            continue
        key[0], key[1], key[2], key[3] = (1.0 if on else 0.0), freq, gain, q
        off = row[_OFFSET]
        _design_band(row, on, freq, gain, q, sample_rate, sos3[:, off:off + row[_SECTIONS], :], 0)
        changed = True
    if not moving:
        if changed:
            active[0] = settle_identity(sos, zi)
        if active[0] == 0:
            return False
        run_cascade(x, sos3, frames, zi, out)
        return True
    # the gliding bands get a coefficient set per SUB_BLOCK samples, valued at its first sample
    part = sets[:n_sets]
    for k in range(n_sets):
        part[k] = sos
    for b in range(table.shape[0]):
        row = table[b]
        if not _band_moves(row, settled):
            continue
        on = _band_on(row, values)
        off, count = row[_OFFSET], row[_SECTIONS]
        view = part[:, off:off + count, :]
        freq, gain, q = 0.0, 0.0, 0.0
        for k in range(n_sets):
            freq, gain, q = _band_values(row, settled, landed, ramps, k * SUB_BLOCK)
            _design_band(row, on, freq, gain, q, sample_rate, view, k)
        # the band rests on its last sub-block's design until its values land
        keys[b, 0], keys[b, 1] = (1.0 if on else 0.0), freq
        keys[b, 2], keys[b, 3] = gain, q
        sos[off:off + count] = part[n_sets - 1, off:off + count]
    run_cascade(x, part, SUB_BLOCK, zi, out)
    active[0] = settle_identity(sos, zi)
    return True


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
        self._bands.clear()

    def _process(self, block: np.ndarray) -> np.ndarray:
        return self._bands.process(block)
