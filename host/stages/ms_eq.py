"""Mid/side EQ: one parametric EQ on the mid, another on the side.

Options ``mid_bands`` and ``side_bands`` take the same band lists as the
``eq`` stage; their parameters are ``mid_band1_gain_db``,
``side_band2_freq_hz``, and so on.  A mono input has no side: only the mid
EQ applies.  With every band neutral the stage passes its input unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..registry import ParamSpec
from .eq import BAND_SCHEMA, BandProcessor, gate_of, parse_bands
from .native import NativeStage

DEFAULT_MS_BANDS: tuple[dict[str, Any], ...] = (
    {"type": "low_shelf", "freq_hz": 150.0},
    {"type": "bell", "freq_hz": 1000.0},
    {"type": "high_shelf", "freq_hz": 6000.0},
)


class MsEq(NativeStage):
    type_name = "ms_eq"
    # coefficients change every 64 samples while a value glides; a 20 ms glide
    # keeps each step (and the zipper residue) small
    DEFAULT_SMOOTHING_S = 0.02
    OPTIONS: ClassVar[dict[str, Any]] = {
        "mid_bands": {"type": "array", "items": BAND_SCHEMA},
        "side_bands": {"type": "array", "items": BAND_SCHEMA},
    }

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        where = f"stage {stage_id!r}"
        self.mid_bands = parse_bands(self.options.get("mid_bands", DEFAULT_MS_BANDS), f"{where} mid_bands", "mid_band")
        self.side_bands = parse_bands(self.options.get("side_bands", DEFAULT_MS_BANDS), f"{where} side_bands", "side_band")
        self._gain_bands = {f"{b.prefix}_gain_db": b for b in (*self.mid_bands, *self.side_bands)
                            if f"{b.prefix}_gain_db" in {s.name for s in b.specs()}}

    def gate(self, name: str) -> str | None:
        return gate_of(name, self._gain_bands)

    def param_specs(self) -> tuple[ParamSpec, ...]:
        return tuple(s for band in (*self.mid_bands, *self.side_bands) for s in band.specs())

    def _setup(self) -> None:
        self._mid = BandProcessor(self, self.mid_bands, channels=1)
        self._side = BandProcessor(self, self.side_bands, channels=1)

    def _clear(self) -> None:
        self._mid.clear()
        self._side.clear()

    def _process(self, block: np.ndarray) -> np.ndarray:
        if block.shape[0] == 1:
            self._side.process(np.zeros_like(block))  # keep its smoothing in step
            return self._mid.process(block)
        mid = 0.5 * (block[0:1] + block[1:2])
        side = 0.5 * (block[0:1] - block[1:2])
        mid_out = self._mid.process(mid)
        side_out = self._side.process(side)
        if mid_out is mid and side_out is side:  # every band neutral: exact pass-through
            return block
        return np.vstack([mid_out + side_out, mid_out - side_out])
