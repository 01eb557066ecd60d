"""Multiband compressor: 2-5 bands split by Linkwitz-Riley (LR4) crossovers.

The split is a tree: at each crossover ``k`` the remaining signal is divided
into LR4 low and high parts; the low part is band ``k``.  Band ``k`` then
passes through the all-passes of the crossovers above the next one it did not
go through (LR4 low + high = the 2nd-order all-pass with Q = 1/sqrt(2)), so
the bands sum to the input through the product of all crossover all-passes:
flat magnitude, and with every band neutral the output equals that all-pass
chain of the input (``reference_allpass()``).

Each band has its own compressor (the Giannoulis gain computer of
:mod:`host.dsp.dynamics`, linked stereo peak detection, shared knee).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.signal import sosfilt

from ..dsp import biquad
from ..dsp import dynamics as kernels
from ..errors import SessionError
from ..registry import ParamSpec
from .native import NativeStage, db_to_amp, one_pole_coefficient

SQRT_HALF = 0.7071067811865476
DEFAULT_CROSSOVERS = (200.0, 2000.0)


def _crossover_filters(freq_hz: float, sample_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lp = biquad.pass_filter(freq_hz, 24, "linkwitz_riley", sample_rate, high=False)
    hp = biquad.pass_filter(freq_hz, 24, "linkwitz_riley", sample_rate, high=True)
    return lp, hp, biquad.all_pass(freq_hz, SQRT_HALF, sample_rate)


class MultibandCompressor(NativeStage):
    type_name = "multiband_compressor"
    OPTIONS: ClassVar[dict[str, Any]] = {
        "crossovers_hz": {
            "type": "array", "minItems": 1, "maxItems": 4,
            "items": {"type": "number", "minimum": 20.0, "maximum": 20000.0},
            "default": list(DEFAULT_CROSSOVERS),
            "description": "ascending crossover frequencies (1-4, giving 2-5 bands)",
        },
    }

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        raw = self.options.get("crossovers_hz", list(DEFAULT_CROSSOVERS))
        where = f"stage {stage_id!r}"
        if (
            not isinstance(raw, (list, tuple)) or not 1 <= len(raw) <= 4
            or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and 20 <= f <= 20000 for f in raw)
        ):
            raise SessionError(f"{where}: crossovers_hz must be a list of 1 to 4 frequencies from 20 to 20000 Hz, got {raw!r}")
        if any(raw[i + 1] <= raw[i] for i in range(len(raw) - 1)):
            raise SessionError(f"{where}: crossovers_hz must be in ascending order, got {raw!r}")
        self.crossovers = [float(f) for f in raw]
        self.bands = len(self.crossovers) + 1

    def param_specs(self) -> tuple[ParamSpec, ...]:
        specs = [
            ParamSpec(f"xover{k + 1}_hz", f, 20.0, 20000.0, unit="Hz", scale="log",
                      doc=f"crossover {k + 1}")
            for k, f in enumerate(self.crossovers)
        ]
        specs.append(ParamSpec("knee_db", 6.0, 0.0, 24.0, unit="dB", doc="soft-knee width (all bands)"))
        for b in range(1, self.bands + 1):
            specs += [
                ParamSpec(f"band{b}_threshold_db", -20.0, -60.0, 0.0, unit="dB", doc=f"band {b} threshold"),
                ParamSpec(f"band{b}_ratio", 1.0, 1.0, 20.0, scale="log", doc=f"band {b} ratio"),
                ParamSpec(f"band{b}_attack_ms", 10.0, 0.1, 500.0, unit="ms", scale="log", doc=f"band {b} attack"),
                ParamSpec(f"band{b}_release_ms", 150.0, 5.0, 5000.0, unit="ms", scale="log", doc=f"band {b} release"),
                ParamSpec(f"band{b}_makeup_db", 0.0, -24.0, 24.0, unit="dB", doc=f"band {b} makeup gain"),
            ]
        return tuple(specs)

    def reference_allpass(self) -> np.ndarray:
        """The all-pass chain the bands sum to (for null tests)."""
        return np.concatenate([_crossover_filters(f, self.sample_rate)[2] for f in self.crossovers])

    def _setup(self) -> None:
        k = len(self.crossovers)
        c = self.channels
        self._lp_zi = np.zeros((k, 2, c, 2))
        self._hp_zi = np.zeros((k, 2, c, 2))
        # band i is compensated by the all-passes of crossovers i+1 .. k-1
        self._ap_zi = [np.zeros((max(k - 1 - i, 0), c, 2)) for i in range(k)]
        self._state = np.zeros((self.bands, 2))
        self._key: tuple[float, ...] = ()
        self._design(tuple(self.value(f"xover{i + 1}_hz") for i in range(k)))
        self._coef_names = tuple(
            [f"xover{i + 1}_hz" for i in range(k)] + ["knee_db"]
            + [f"band{b}_{p}" for b in range(1, self.bands + 1)
               for p in ("threshold_db", "ratio", "attack_ms", "release_ms")]
        )

    def _clear(self) -> None:
        self._lp_zi[:] = 0.0
        self._hp_zi[:] = 0.0
        for zi in self._ap_zi:
            zi[:] = 0.0
        self._state[:] = 0.0

    def _design(self, freqs: tuple[float, ...]) -> None:
        if freqs == self._key:
            return
        self._key = freqs
        filters = [_crossover_filters(f, self.sample_rate) for f in freqs]
        self._lp = [f[0] for f in filters]
        self._hp = [f[1] for f in filters]
        k = len(freqs)
        self._ap = [
            np.concatenate([filters[j][2] for j in range(i + 1, k)]) if i + 1 < k else None
            for i in range(k)
        ]

    def _split(self, x: np.ndarray) -> list[np.ndarray]:
        bands = []
        rest = x
        for i in range(len(self._lp)):
            low, self._lp_zi[i] = sosfilt(self._lp[i], rest, axis=-1, zi=self._lp_zi[i])
            rest, self._hp_zi[i] = sosfilt(self._hp[i], rest, axis=-1, zi=self._hp_zi[i])
            ap = self._ap[i]
            if ap is not None:
                low, self._ap_zi[i] = sosfilt(ap, low, axis=-1, zi=self._ap_zi[i])
            bands.append(np.asarray(low))
        bands.append(np.asarray(rest))
        return bands

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        sr = self.sample_rate
        makeups = [
            np.atleast_1d(db_to_amp(self.glide(f"band{b}_makeup_db", frames))).astype(np.float64)
            for b in range(1, self.bands + 1)
        ]
        out = np.zeros_like(block)
        k = len(self.crossovers)
        for start, stop, v in self.segments(self._coef_names, frames):
            self._design(tuple(v[f"xover{i + 1}_hz"] for i in range(k)))
            parts = self._split(block[:, start:stop])
            for b, part in enumerate(parts, start=1):
                m = makeups[b - 1]
                processed = np.empty_like(part)
                kernels.compressor(
                    part, part, processed, m[start:stop] if len(m) > 1 else m, self._state[b - 1],
                    v[f"band{b}_threshold_db"], v[f"band{b}_ratio"], v["knee_db"],
                    one_pole_coefficient(v[f"band{b}_attack_ms"], sr),
                    one_pole_coefficient(v[f"band{b}_release_ms"], sr), False, 0.0, False, 0.0,
                )
                out[:, start:stop] += processed
        return out
