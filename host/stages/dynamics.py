"""Dynamics: compressor, downward expander, gate and split-band de-esser.

Sidechain contract (compressor, expander, gate): the class sets
``SIDECHAIN = True``; a session routes a track or bus with the option
``sidechain: <name>``; before each ``process`` call the engine sets
``stage.sidechain`` to that source's ``(channels, frames)`` float64 block, or
to ``None`` when nothing is routed.  It is the key strip's chain output for the
same block: the engine runs every key before the strips it keys
(:mod:`host.engine.order`), and delays the key or the stage's input so that
both carry the same moment (:meth:`host.engine.chain._Slot.align`).  When set it replaces the stage's own
input as the detector signal (a block holding NaN/Inf counts as silence).  The detector may be high-passed
(``sc_hpf_on``/``sc_hpf_hz``) so that bass does not pump the gain.

Lookahead (option ``lookahead_ms``) delays the audio but not the detector;
the delay is fixed when the stage is built and reported as ``latency``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.signal import sosfilt

from ..dsp import biquad
from ..dsp import dynamics as kernels
from ..dsp.delay_line import FixedDelay
from ..dsp.finite import is_finite
from ..errors import SessionError
from ..registry import ParamSpec, boolean, enum
from .native import SUB_BLOCK, NativeStage

MAX_LOOKAHEAD_MS = 20.0


def _attack(default: float) -> ParamSpec:
    return ParamSpec("attack_ms", default, 0.05, 500.0, unit="ms", scale="log", doc="attack time constant")


def _release(default: float) -> ParamSpec:
    return ParamSpec("release_ms", default, 1.0, 5000.0, unit="ms", scale="log", doc="release time constant")


_SIDECHAIN_SPECS = (
    boolean("sc_hpf_on", False, doc="high-pass the detector signal"),
    ParamSpec("sc_hpf_hz", 100.0, 20.0, 1000.0, unit="Hz", scale="log", doc="detector high-pass frequency"),
)


class _Dynamics(NativeStage):
    """Detector routing, sidechain high-pass and lookahead delay shared by the processors."""

    SIDECHAIN: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Any]] = {
        "sidechain": {"type": "string", "description": "track or bus feeding the detector"},
        "lookahead_ms": {"type": "number", "minimum": 0.0, "maximum": MAX_LOOKAHEAD_MS, "default": 0.0},
    }
    #: parameters that set coefficients (updated per sub-block while moving)
    COEFFICIENTS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        self.sidechain: np.ndarray | None = None
        look = self.options.get("lookahead_ms", 0.0)
        if isinstance(look, bool) or not isinstance(look, (int, float)) or not 0 <= look <= MAX_LOOKAHEAD_MS:
            raise SessionError(
                f"stage {stage_id!r}: lookahead_ms must be a number from 0 to {MAX_LOOKAHEAD_MS:g}, got {look!r}"
            )
        self._lookahead_ms = float(look)
        self._lookahead = 0

    @property
    def latency(self) -> int:
        return self._lookahead

    def _setup(self) -> None:
        self._lookahead = int(round(self._lookahead_ms * 1e-3 * self.sample_rate))
        self._delay = FixedDelay(self.channels, self._lookahead, self.max_block)
        self._hpf_zi = np.zeros((1, max(self.channels, 2), 2))
        self._hpf_key = -1.0
        self._hpf_sos = biquad.IDENTITY[np.newaxis, :].copy()
        self._state = np.zeros(4)
        self._has_hpf = self.smoothed("sc_hpf_hz")
        assert self.p is not None
        self._hpf_on_slot = self.p.params["sc_hpf_on"].slot if self._has_hpf else -1
        self._alphas_by_ms: dict[float, float] = {}
        self._init_state()

    def _init_state(self) -> None:
        self._state[:] = 0.0

    def _clear(self) -> None:
        self._delay.reset()
        self._hpf_zi[:] = 0.0
        self._init_state()

    # -- pieces ------------------------------------------------------------------
    def _detector_source(self, block: np.ndarray) -> np.ndarray:
        sc = self.sidechain
        if sc is None:
            return block
        frames = block.shape[1]
        if not is_finite(sc):
            # a NaN/Inf sidechain block is ignored: the detector hears silence
            return np.zeros((sc.shape[0], frames))
        if sc.shape[1] >= frames:
            return np.asarray(sc[:, :frames], dtype=np.float64)
        padded = np.zeros((sc.shape[0], frames))
        padded[:, : sc.shape[1]] = sc
        return padded

    def _high_pass(self, det: np.ndarray, freq_hz: float) -> np.ndarray:
        if freq_hz != self._hpf_key:
            self._hpf_key = freq_hz
            self._hpf_sos = biquad.butterworth(freq_hz, 2, self.sample_rate, high=True)
        c = det.shape[0]
        y, self._hpf_zi[:, :c] = sosfilt(self._hpf_sos, det, axis=-1, zi=self._hpf_zi[:, :c])
        return np.asarray(y)

    def _high_passed(self, source: np.ndarray, frames: int) -> np.ndarray:
        """The detector signal through the sidechain high-pass (redesigned per sub-block while it glides)."""
        if not self.moving(("sc_hpf_hz",)):
            return self._high_pass(source, float(self.glide("sc_hpf_hz", frames)))
        det = np.empty_like(source)
        for start, stop, v in self.segments(("sc_hpf_hz",), frames):
            det[:, start:stop] = self._high_pass(source[:, start:stop], v["sc_hpf_hz"])
        return det

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        det = self._detector_source(block)
        if self._has_hpf and self._registry.values[self._hpf_on_slot] >= 0.5:
            det = self._high_passed(det, frames)
        audio = self._delay.process(block)  # the block itself without lookahead
        self._run(det, audio, frames)  # in place: the input block, or the lookahead's own buffer
        return audio

    def _coefficient(self, time_ms: float) -> float:
        """one_pole_coefficient at this rate, remembered: a landed time costs a dict lookup."""
        alpha = self._alphas_by_ms.get(time_ms)
        if alpha is None:
            if len(self._alphas_by_ms) > 256:  # a long glide through many times: start again
                self._alphas_by_ms.clear()
            alpha = self._alphas_by_ms[time_ms] = kernels.one_pole_coefficient(time_ms, self.sample_rate)
        return alpha

    def _run(self, det: np.ndarray, audio: np.ndarray, frames: int) -> None:
        """Detect on ``det`` and apply the gain to ``audio`` in place."""
        raise NotImplementedError


class _Compressing(_Dynamics):
    """Compressor and expander: one compiled call per block follows every glide."""

    #: the glides ``kernels.compressor_glide`` reads, in its order (None: no such parameter)
    GLIDE_ROWS: ClassVar[tuple[str | None, ...]] = ()
    EXPANDER: ClassVar[bool] = False

    def _setup(self) -> None:
        super()._setup()
        rows = [self.smoothed_index(name) if name else -1 for name in self.GLIDE_ROWS]
        assert all(i >= 0 for i, name in zip(rows, self.GLIDE_ROWS, strict=True) if name), "every row must glide"
        self._rows = np.array(rows, dtype=np.intp)
        self._makeup = np.empty(max(self.max_block, SUB_BLOCK))
        assert self.p is not None
        self._detection_slot = -1 if self.EXPANDER else self.p.params["detection"].slot

    def _run(self, det: np.ndarray, audio: np.ndarray, frames: int) -> None:
        if frames > self._makeup.shape[0]:
            self._makeup = np.empty(frames)
        rms = self._detection_slot >= 0 and self._registry.values[self._detection_slot] >= 0.5  # 1: rms
        kernels.compressor_glide(det, audio, audio, self._state, self._settled, self._landed, self._ramps, self._rows,
                                 self._makeup, self.sample_rate, rms, self.EXPANDER, SUB_BLOCK)


class Compressor(_Compressing):
    """Feed-forward compressor: soft knee, peak or RMS detection, makeup, sidechain, lookahead."""

    type_name = "compressor"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("threshold_db", -20.0, -80.0, 0.0, unit="dB", doc="threshold"),
        ParamSpec("ratio", 4.0, 1.0, 100.0, scale="log", doc="compression ratio (100 = limiting)"),
        ParamSpec("knee_db", 6.0, 0.0, 24.0, unit="dB", doc="soft-knee width"),
        _attack(10.0),
        _release(100.0),
        ParamSpec("makeup_db", 0.0, -24.0, 24.0, unit="dB", doc="makeup gain"),
        enum("detection", ("peak", "rms"), "peak", doc="level detector"),
        ParamSpec("rms_ms", 10.0, 1.0, 300.0, unit="ms", scale="log", doc="RMS averaging time"),
        *_SIDECHAIN_SPECS,
    )
    GLIDE_ROWS = ("threshold_db", "ratio", "knee_db", "attack_ms", "release_ms", "rms_ms", "makeup_db")


class Expander(_Compressing):
    """Downward expander: below the threshold the level falls ``ratio`` times faster."""

    type_name = "expander"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("threshold_db", -40.0, -100.0, 0.0, unit="dB", doc="threshold"),
        ParamSpec("ratio", 2.0, 1.0, 20.0, scale="log", doc="expansion ratio"),
        ParamSpec("knee_db", 6.0, 0.0, 24.0, unit="dB", doc="soft-knee width"),
        ParamSpec("range_db", 40.0, 0.0, 100.0, unit="dB", doc="largest gain reduction"),
        _attack(1.0),
        _release(100.0),
        *_SIDECHAIN_SPECS,
    )
    GLIDE_ROWS = ("threshold_db", "ratio", "knee_db", "attack_ms", "release_ms", "range_db", None)
    EXPANDER = True


class Gate(_Dynamics):
    """Noise gate with hysteresis, hold and a floor (``range_db``)."""

    type_name = "gate"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("threshold_db", -50.0, -120.0, 0.0, unit="dB", doc="opening level"),
        ParamSpec("hysteresis_db", 3.0, 0.0, 20.0, unit="dB", doc="closing level below the threshold"),
        ParamSpec("range_db", -80.0, -120.0, 0.0, unit="dB", doc="gain when closed"),
        _attack(1.0),
        ParamSpec("hold_ms", 20.0, 0.0, 2000.0, unit="ms", doc="time held open after the level falls"),
        _release(100.0),
        *_SIDECHAIN_SPECS,
    )
    COEFFICIENTS = ("threshold_db", "hysteresis_db", "range_db", "attack_ms", "hold_ms", "release_ms")

    def _init_state(self) -> None:
        self._state[:] = 0.0
        self._state[0] = 1.0  # start open, so a neutral gate is an exact pass-through
        self._state[2] = 1.0

    def _run(self, det: np.ndarray, audio: np.ndarray, frames: int) -> None:
        sr = self.sample_rate
        for start, stop, v in self.segments(self.COEFFICIENTS, frames):
            open_level = 10.0 ** (v["threshold_db"] / 20.0)
            part = audio[:, start:stop]
            kernels.gate(
                det[:, start:stop], part, part, self._state, open_level,
                open_level * 10.0 ** (-v["hysteresis_db"] / 20.0),
                10.0 ** (v["range_db"] / 20.0) if v["range_db"] > -120.0 else 0.0,
                int(round(v["hold_ms"] * 1e-3 * sr)),
                self._coefficient(v["attack_ms"]), self._coefficient(v["release_ms"]),
            )


class DeEsser(NativeStage):
    """Split-band de-esser: only the band above ``freq_hz`` is compressed.

    The audio split is complementary: low = 4th-order Butterworth low-pass,
    high = input - low, so with no gain reduction the bands sum back to the
    input exactly.  The detector listens through a 4th-order Butterworth
    high-pass at the same frequency, so energy below the split does not
    trigger it.
    """

    type_name = "deesser"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("freq_hz", 6000.0, 1000.0, 16000.0, unit="Hz", scale="log", doc="split frequency"),
        ParamSpec("threshold_db", -30.0, -60.0, 0.0, unit="dB", doc="threshold of the high band"),
        ParamSpec("ratio", 4.0, 1.0, 20.0, scale="log", doc="compression ratio of the high band"),
        _attack(0.5),
        _release(60.0),
        boolean("listen", False, doc="output only the (processed) high band"),
    )
    COEFFICIENTS = ("freq_hz", "threshold_db", "ratio", "attack_ms", "release_ms")
    ORDER = 4

    def _setup(self) -> None:
        self._zi_split = np.zeros((self.ORDER // 2, self.channels, 2))
        self._zi_det = np.zeros((self.ORDER // 2, self.channels, 2))
        self._key = -1.0
        self._lp = np.tile(biquad.IDENTITY, (self.ORDER // 2, 1))
        self._hp = self._lp.copy()
        self._state = np.zeros(2)
        self._unity = np.ones(1)

    def _clear(self) -> None:
        self._zi_split[:] = 0.0
        self._zi_det[:] = 0.0
        self._state[:] = 0.0

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames, c = block.shape[1], block.shape[0]
        out = np.empty_like(block)
        sr = self.sample_rate
        for start, stop, v in self.segments(self.COEFFICIENTS, frames):
            if v["freq_hz"] != self._key:
                self._key = v["freq_hz"]
                self._lp = biquad.butterworth(v["freq_hz"], self.ORDER, sr, high=False)
                self._hp = biquad.butterworth(v["freq_hz"], self.ORDER, sr, high=True)
            x = block[:, start:stop]
            low, self._zi_split[:, :c] = sosfilt(self._lp, x, axis=-1, zi=self._zi_split[:, :c])
            det, self._zi_det[:, :c] = sosfilt(self._hp, x, axis=-1, zi=self._zi_det[:, :c])
            high = x - np.asarray(low)
            processed = np.empty_like(high)
            kernels.compressor(
                np.asarray(det), high, processed, self._unity, self._state, v["threshold_db"],
                v["ratio"], 0.0, kernels.one_pole_coefficient(v["attack_ms"], sr),
                kernels.one_pole_coefficient(v["release_ms"], sr), False, 0.0, False, 0.0,
            )
            out[:, start:stop] = processed if self.switch("listen") else low + processed
        return out


__all__ = ["Compressor", "DeEsser", "Expander", "Gate"]
