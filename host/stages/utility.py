"""Gain, pan and mute: the stages a channel strip is made of.

Gain and pan accept sample-accurate automation: the engine puts a per-sample
array in ``stage.ramps[name]`` for the block, which replaces smoothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..dsp.decibels import SILENCE_DB, db_to_gain
from ..dsp.pan_law import PAN_LAWS, balance_gains, mono_gains
from ..dsp.smoothing import Smoother
from ..registry import ParamSpec, boolean
from .base import Stage


class _Automatable(Stage):
    """A stage whose parameters may be driven per sample by the engine.

    ``SAMPLE_ACCURATE`` names the parameters the engine may drive with a
    per-sample ramp (``ramps[name]``, in the parameter's own unit);
    ``APPLIED`` maps a parameter to the quantity that is smoothed and applied
    (a dB gain is smoothed as an amplitude, so large moves fade evenly).
    """

    SAMPLE_ACCURATE: ClassVar[frozenset[str]] = frozenset()
    APPLIED: ClassVar[dict[str, Any]] = {}

    def __init__(self, stage_id: str, options: dict[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        self.ramps: dict[str, np.ndarray] = {}
        self._smoothers: dict[str, Smoother] = {}

    def _prepare(self) -> None:
        assert self.p is not None, "bind() before prepare()"
        self._smoothers = {
            spec.name: Smoother(self._applied(spec.name, self.p[spec.name]))
            for spec in self.param_specs() if spec.smooth
        }
        for smoother in self._smoothers.values():
            smoother.prepare(self.sample_rate, self.max_block)

    def _reset(self) -> None:
        assert self.p is not None
        for name, smoother in self._smoothers.items():
            smoother.reset(self._applied(name, self.p[name]))

    def _applied(self, name: str, value: Any) -> Any:
        transform = self.APPLIED.get(name)
        return value if transform is None else transform(value)

    def _value(self, name: str, frames: int) -> float | np.ndarray:
        """The applied value per sample: an automation ramp when present, else smoothed."""
        ramp = self.ramps.pop(name, None)
        smoother = self._smoothers[name]
        if ramp is not None:
            applied = np.asarray(self._applied(name, ramp[:frames]), dtype=np.float64)
            smoother.reset(float(applied[-1]))
            return applied
        assert self.p is not None
        return smoother.next(self._applied(name, self.p[name]), frames)


class Gain(_Automatable):
    """Gain in dB; -120 dB is silence."""

    type_name = "gain"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("gain_db", 0.0, SILENCE_DB, 24.0, unit="dB", scale="db_fader", doc="gain"),
    )
    SAMPLE_ACCURATE = frozenset({"gain_db"})
    APPLIED: ClassVar[dict[str, Any]] = {"gain_db": db_to_gain}

    def _process(self, block: np.ndarray) -> np.ndarray:
        gain = self._value("gain_db", block.shape[1])
        if np.ndim(gain) == 0 and gain == 1.0:
            return block
        block *= gain
        return block


class Pan(_Automatable):
    """Pans a mono source or balances a stereo one; the output is always stereo."""

    type_name = "pan"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("pan", 0.0, -1.0, 1.0, doc="-1 hard left, 0 centre, +1 hard right"),
    )
    SAMPLE_ACCURATE = frozenset({"pan"})
    OPTIONS: ClassVar[dict[str, Any]] = {"law": {"enum": list(PAN_LAWS), "default": "-3db"}}

    def _prepare(self) -> None:
        super()._prepare()
        self.law = str(self.options.get("law", "-3db"))
        if self.law not in PAN_LAWS:
            raise ValueError(f"unknown pan law {self.law!r}")
        self._out = np.zeros((2, self.max_block))

    def output_channels(self, input_channels: int) -> int:
        return 2

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        pan = self._value("pan", frames)
        gains = mono_gains if block.shape[0] == 1 else balance_gains
        left, right = gains(pan, self.law)
        out = self._out[:, :frames] if frames <= self._out.shape[1] else np.zeros((2, frames))
        np.multiply(block[0], left, out=out[0])
        np.multiply(block[-1], right, out=out[1])
        return out


class Mute(_Automatable):
    """Mutes with a short fade, so muting never clicks."""

    type_name = "mute"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (boolean("mute", False, doc="silence the signal"),)

    def _prepare(self) -> None:
        super()._prepare()
        assert self.p is not None
        self._level = Smoother(0.0 if self.p["mute"] >= 0.5 else 1.0)
        self._level.prepare(self.sample_rate, self.max_block)

    def _reset(self) -> None:
        assert self.p is not None
        self._level.reset(0.0 if self.p["mute"] >= 0.5 else 1.0)

    @property
    def silent(self) -> bool:
        """True once fully muted: the engine may skip the work downstream."""
        return self._level.value == 0.0 and self.p is not None and self.p["mute"] >= 0.5

    def gain(self, frames: int, forced_mute: bool = False) -> float | np.ndarray:
        assert self.p is not None
        target = 0.0 if (forced_mute or self.p["mute"] >= 0.5) else 1.0
        return self._level.next(target, frames)

    def _process(self, block: np.ndarray) -> np.ndarray:
        level = self.gain(block.shape[1])
        if np.ndim(level) == 0 and level == 1.0:
            return block
        block *= level
        return block
