"""``loudness``: bring a whole render to a loudness target, under a true-peak ceiling.

Loudness is a property of the whole programme (BS.1770-4 integrated
loudness), so this stage needs the render twice or more.  The offline
renderer asks every stage with ``ANALYSIS = True`` to take part in passes:

1. a measuring pass: the integrated loudness of the stage's input;
2. a pass with gain = target - measured, then the true-peak limiter, measuring
   the output; the limiter takes some loudness, so if the output misses the
   target by more than ``TOLERANCE_LU`` the gain is corrected (secant steps)
   and the pass repeats, at most ``MAX_PASSES`` times.

Only a pass that hits the target is written.  When the passes run out
outside R128's ±0.2 LU, the render fails with a :class:`RenderError` that
says why (a target out of reach under the ceiling, or no convergence) and
writes nothing.  ``achieved`` holds the integrated loudness and true peak of
the stage's output in the final pass.  Live, the stage applies the last gain
it found (0 dB before any render) and the limiter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..loudness.conformance import (
    FILE_TOLERANCE_LU,
    MAX_PASSES,
    TOLERANCE_LU,
    missed_target,
    next_gain,
)
from ..loudness.meter import LoudnessMeter
from ..loudness.targets import PRESETS, LoudnessTarget
from ..registry import ParamSpec, Registry
from .base import Stage
from .limiter import make_limiter


class Loudness(Stage):
    """Loudness normalisation to a target (a platform preset or custom), with a true-peak limiter."""

    type_name = "loudness"
    ANALYSIS: ClassVar[bool] = True
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("target_lufs", -14.0, -70.0, 0.0, unit="LUFS", doc="integrated loudness to reach"),
        ParamSpec("ceiling_dbtp", -1.0, -24.0, 0.0, unit="dBTP", doc="true-peak ceiling of the limiter"),
    )
    OPTIONS: ClassVar[Mapping[str, Any]] = {
        "preset": {"enum": sorted(PRESETS), "description": "sets target_lufs and ceiling_dbtp"},
    }

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        self.gain_db = 0.0
        self.achieved_lufs = math.nan
        self.achieved_true_peak_dbtp = math.nan
        self._history: list[tuple[float, float]] = []
        self._measuring = False
        self._passes = 0

    def param_specs(self) -> tuple[ParamSpec, ...]:
        preset = PRESETS.get(str(self.options.get("preset", "")))
        if preset is None:
            return self.PARAMS
        target, ceiling = self.PARAMS
        return (
            ParamSpec(target.name, preset.integrated_lufs, target.min, target.max, unit=target.unit, doc=target.doc),
            ParamSpec(ceiling.name, preset.ceiling_dbtp, ceiling.min, ceiling.max, unit=ceiling.unit, doc=ceiling.doc),
        )

    # -- the protocol -------------------------------------------------------------
    def _prepare(self) -> None:
        assert self.p is not None
        # the inner limiter's own registry: its ceiling follows ours through a registry write
        self._limiter_registry = Registry()
        self._limiter = make_limiter(self.sample_rate, self.channels, self.p["ceiling_dbtp"], self.max_block,
                                     self._limiter_registry)
        self._limiter_ceiling = self._limiter_registry.param("master/limiter/ceiling_dbtp")
        self._meter = LoudnessMeter(self.channels, self.sample_rate, true_peak=False)  # the input
        self._out_meter = LoudnessMeter(self.channels, self.sample_rate)  # the output, with true peak
        self._scaled = np.zeros((self.channels, self.max_block))

    def _reset(self) -> None:
        self._limiter.reset()
        self._meter.reset()
        self._out_meter.reset()

    @property
    def latency(self) -> int:
        return int(self._limiter.latency) if hasattr(self, "_limiter") else 0

    def _process(self, block: np.ndarray) -> np.ndarray:
        assert self.p is not None
        if self._measuring:  # the limiter still runs, so the latency is the same in every pass
            self._meter.process(block)
        else:
            block = np.multiply(block, 10.0 ** (self.gain_db / 20.0), out=self._scaled[:, : block.shape[1]])
        self._limiter_registry.set_deferred(self._limiter_ceiling, self.p["ceiling_dbtp"], "loudness")
        out = self._limiter.process(block)
        if not self._measuring:
            self._out_meter.process(out)
        return out

    # -- analysis passes (driven by the offline renderer) -----------------------
    def start_pass(self) -> bool:
        """Prepare the next pass; True when its output may be the final one."""
        self._measuring = self._passes == 0
        self._passes += 1
        self._meter.reset()
        self._out_meter.reset()
        return not self._measuring

    def end_pass(self) -> bool:
        """Digest the pass; True when its output met the target (or the input is silent).

        Raises :class:`RenderError` when the passes run out outside R128's
        ±0.2 LU (a last pass inside it is accepted).
        """
        assert self.p is not None
        target = self.p["target_lufs"]
        if self._measuring:
            measured = self._meter.integrated()
            self.gain_db = target - measured if math.isfinite(measured) else 0.0
            self._history = []
            return not math.isfinite(measured)  # silence: nothing to normalise
        result = self._out_meter.result()
        measured = result.integrated_lufs
        self.achieved_lufs, self.achieved_true_peak_dbtp = measured, result.true_peak_dbtp
        self._history.append((self.gain_db, measured))
        error = abs(target - measured)
        if not math.isfinite(measured) or error <= TOLERANCE_LU:
            return True
        if self._passes > MAX_PASSES:
            if error <= FILE_TOLERANCE_LU:
                return True
            raise missed_target(f"stage {self.id!r}", self._history, self.target)
        self.gain_db = next_gain(self._history, target)
        return False

    @property
    def target(self) -> LoudnessTarget:
        """The target and ceiling as the parameters now stand."""
        assert self.p is not None
        return LoudnessTarget(self.id, self.p["target_lufs"], self.p["ceiling_dbtp"])

    def restart(self) -> None:
        """Forget earlier passes (a new render measures again)."""
        self._passes = 0
        self._history = []
