"""True-peak brickwall limiter with lookahead.

The output's true peak, as the BS.1770-4 Annex 2 meter of
:mod:`host.dsp.true_peak` measures it (4x oversampled below 96 kHz), stays
at or below ``ceiling_dbtp``.  Detection runs on the same interpolator
(:class:`~host.dsp.true_peak.TruePeakDetector`), but 4x oversampled at every
sample rate (the meter's own factor falls at 96 and 192 kHz), refined by a parabola
through each local maximum of the oversampled values; the gain computer and
its lookahead ramp are one compiled loop (:mod:`host.dsp.limiting`).  Release
is ``release_ms``, or program-dependent with ``auto_release`` on (isolated
peaks release five times faster; sustained reduction of 3 dB or more uses
the full time).  Option ``lookahead_ms`` sets the attack ramp; the latency
is that ramp plus the interpolator's delay.

Meters with other interpolation filters disagree on material with energy
near Nyquist: on full-band noise libebur128 (whose filter follows the
informative example of BS.1770-4 Annex 2) reads up to about 0.25 dB above
our meter and above a 32x-oversampled estimate of the continuous peak.
``margin_db`` aims that far under the ceiling; its default of 0.25 dB keeps
libebur128 under the ceiling on noise, near-Nyquist sines and music, so the
output passes an independent BS.1770 meter, not only ours.  It is needed:
with ``margin_db`` 0, libebur128 read up to 0.06 dB over a -1 dBTP ceiling
on noise, a 19.9 kHz sine and synthesised music (ceilings -0.1 to -2 dBTP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..dsp import limiting
from ..dsp.decibels import db_to_amp
from ..dsp.dynamics import one_pole_coefficient
from ..dsp.limiting import BOX2_SUM, BOX_SUM, RELEASED
from ..dsp.true_peak import TruePeakDetector
from ..errors import SessionError
from ..registry import ParamSpec, Registry, boolean
from .base import ParamView
from .native import NativeStage

DEFAULT_LOOKAHEAD_MS = 1.5
# Detection is 4x oversampled at every rate.  BS.1770-4 Annex 2 lets a *meter* drop
# to 2x from 96 kHz and to none from 192 kHz, but at those rates full-band material
# still peaks between samples (white noise at 192 kHz limited on sample peaks alone
# read +0.4 dBTP against a -1 dBTP ceiling when 16x oversampled).
DETECTOR_OVERSAMPLE = 4
SUSTAIN_MS = 1000.0
# The gain varies between neighbouring samples, so the interpolated output can
# overshoot what the detector saw by a few thousandths of a dB: aim this much lower.
SAFETY_DB = 0.01


def _pow2_at_least(n: int) -> int:
    return 1 << max(1, int(n - 1).bit_length())


class Limiter(NativeStage):
    """True-peak brickwall limiter."""

    type_name = "limiter"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("input_gain_db", 0.0, -12.0, 24.0, unit="dB", doc="gain into the limiter"),
        ParamSpec("ceiling_dbtp", -1.0, -24.0, 0.0, unit="dBTP", doc="largest true peak of the output"),
        ParamSpec("release_ms", 100.0, 1.0, 2000.0, unit="ms", scale="log", doc="release time constant"),
        boolean("auto_release", True, doc="program-dependent release"),
        ParamSpec("margin_db", 0.25, 0.0, 1.0, unit="dB",
                  doc="aim this far under the ceiling, for meters with other interpolation filters"),
    )
    OPTIONS: ClassVar[dict[str, Any]] = {
        "lookahead_ms": {"type": "number", "minimum": 0.5, "maximum": 10.0, "default": DEFAULT_LOOKAHEAD_MS},
    }

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        look = self.options.get("lookahead_ms", DEFAULT_LOOKAHEAD_MS)
        if isinstance(look, bool) or not isinstance(look, (int, float)) or not 0.5 <= look <= 10.0:
            raise SessionError(f"stage {stage_id!r}: lookahead_ms must be a number from 0.5 to 10, got {look!r}")
        self._lookahead_ms = float(look)
        self._window = 1
        self._delay = 0

    @property
    def latency(self) -> int:
        return self._delay + self._window - 1

    def _setup(self) -> None:
        self._detector = TruePeakDetector(self.channels, self.sample_rate, DETECTOR_OVERSAMPLE)
        self._delay = self._detector.latency
        self._window = max(1, int(round(self._lookahead_ms * 1e-3 * self.sample_rate)))
        size = _pow2_at_least(self._delay + self._window + 2)
        self._history = np.zeros((self.channels, size))
        self._last = np.zeros((self.channels, 2))
        qsize = _pow2_at_least(self._window + 2)
        self._dq_val = np.ones(qsize)
        self._dq_idx = np.zeros(qsize, dtype=np.int64)
        # two moving averages whose combined span is the window (see host.dsp.limiting)
        w1 = (self._window + 1) // 2
        self._box = np.ones(w1)
        self._box2 = np.ones(self._window - w1 + 1)
        self._fstate = np.zeros(5)
        self._settings = np.zeros(limiting.SETTINGS)
        # the settings fixed for the life of the stage; _process fills the per-block ones
        self._settings[limiting.ALPHA_SUSTAIN] = one_pole_coefficient(SUSTAIN_MS, self.sample_rate)
        self._settings[limiting.DELAY], self._settings[limiting.WINDOW] = self._delay, self._window
        # per-block work buffers, so that process() allocates nothing
        self._x = np.zeros((self.channels, self.max_block))
        self._over = np.zeros((self.channels, self.max_block * DETECTOR_OVERSAMPLE))
        self._out = np.zeros((self.channels, self.max_block))
        self._istate = np.zeros(5, dtype=np.int64)
        self._clear()

    def _clear(self) -> None:
        self._detector.reset()
        self._history[:] = 0.0
        self._last[:] = 0.0
        self._dq_val[:] = 1.0
        self._dq_idx[:] = 0
        self._box[:] = 1.0
        self._box2[:] = 1.0
        self._istate[:] = 0
        self._fstate[:] = 0.0
        self._fstate[RELEASED] = 1.0
        self._fstate[BOX_SUM] = float(len(self._box))
        self._fstate[BOX2_SUM] = float(len(self._box2))

    def _process(self, block: np.ndarray) -> np.ndarray:
        c, frames = block.shape
        if frames > self._out.shape[1]:  # longer than prepared for: the buffers grow once
            self.max_block = frames
            self._x, self._over, self._out = (np.zeros((self.channels, frames * k)) for k in (1, DETECTOR_OVERSAMPLE, 1))
        gain = self.glide("input_gain_db", frames)
        x = block
        if np.ndim(gain) or gain != 0.0:
            x = np.multiply(block, db_to_amp(gain), out=self._x[:c, :frames])
        over = self._detector.oversampled(x, self._over)
        out = self._out[:c, :frames]
        os_ = self._detector.oversample
        sr = self.sample_rate
        auto = self.switch("auto_release")
        settings = self._settings
        settings[limiting.AUTO] = 1.0 if auto else 0.0
        for start, stop, v in self.segments(("ceiling_dbtp", "release_ms", "margin_db"), frames):
            ceiling = 10.0 ** ((v["ceiling_dbtp"] - v["margin_db"] - SAFETY_DB) / 20.0)
            settings[limiting.CEILING] = ceiling
            settings[limiting.REFINE_LEVEL] = ceiling / limiting.MAX_REFINEMENT
            settings[limiting.ALPHA_FAST] = one_pole_coefficient(v["release_ms"] / 5.0, sr)
            settings[limiting.ALPHA_SLOW] = one_pole_coefficient(v["release_ms"], sr)
            limiting.true_peak_limit(
                x[:, start:stop], over[:, start * os_ : stop * os_], out[:, start:stop], self._history, self._last,
                self._dq_val, self._dq_idx, self._box, self._box2, self._fstate, self._istate, settings,
            )
        return out



def make_limiter(
    sample_rate: float,
    channels: int,
    ceiling_dbtp: float,
    max_block: int,
    registry: Registry | None = None,
) -> Limiter:
    """The ``limiter`` stage, prepared, at ``ceiling_dbtp``.

    Its parameters live at ``master/limiter/*`` in ``registry`` (a private one
    by default); a caller that moves the ceiling passes its own registry.
    """
    registry = Registry() if registry is None else registry
    stage = Limiter("limiter", {})
    params = {
        spec.name: registry.register(
            f"master/limiter/{spec.name}",
            spec,
            value=ceiling_dbtp if spec.name == "ceiling_dbtp" else None,
        )
        for spec in stage.param_specs()
    }
    stage.bind(ParamView(registry, params))
    stage.prepare(sample_rate, max_block, channels)
    return stage


__all__ = ["Limiter", "make_limiter"]
