"""Multiband compressor: 2-5 bands split by Linkwitz-Riley (LR4) crossovers.

Option ``phase`` picks how the bands are split:

``linear`` (the default)
    Zero-phase FIR low-passes ``L_1..L_k`` with the LR4 magnitude
    ``|L| = 1 / (1 + (w / w_c)^4)``, where ``w = tan(pi f / fs)`` is the
    bilinear-warped frequency, so the bands have exactly the magnitudes of the
    ``minimum`` mode's filters.  Each is the autocorrelation of the
    2nd-order Butterworth impulse response (the LR4 low-pass is that
    Butterworth squared, and B(z) B(1/z) is its zero-phase form), delayed by
    half its length to be causal.  Band 1 is ``L_1 x``, band ``i`` is
    ``L_i x - L_(i-1) x`` and the top band is the delayed input minus
    ``L_k x``: the bands sum to the delayed input exactly, by construction,
    so with every band neutral the output *is* the input, delayed by
    ``latency``.  Each low-pass's magnitude is the LR4 one, and
    ``|HP| = 1 - |L|``, within ``TAIL`` (3e-6) absolute at every frequency:
    the FIR keeps ``half`` taps each side of its centre, the fewest for which
    the taps it drops sum below ``TAIL``.  The taps decay as
    exp(-4.44 fc n / fs), so ``half`` is about 2.9 fs / fc of the *lowest*
    crossover (695 taps each side for 200 Hz at 48 kHz, 1737 for 80 Hz) and
    the other low-passes share that length.  A band's magnitude is then
    within 0.1 dB of the analytic one wherever the band is above about
    -60 dB: above fc / 6 on a crossover's high side, below 6 fc on its low side.
    The convolution is a uniformly partitioned overlap-save (numpy FFT) with
    frames of ``frame`` = the power of two just above ``half / 2`` (at least
    256) samples; the latency is ``half + frame`` (1207 samples, 25 ms, for
    the default crossovers at 48 kHz), reported through ``latency``.

``minimum``
    The IIR tree: at each crossover ``k`` the remaining signal is divided into
    LR4 low and high parts; the low part is band ``k``.  Band ``k`` then
    passes through the all-passes of the crossovers above it (LR4 low + high
    = the 2nd-order all-pass with Q = 1/sqrt(2)), so the bands sum to the
    input through the product of all crossover all-passes: flat magnitude,
    no latency, and with every band neutral the output equals that all-pass
    chain of the input (``reference_allpass()``), not the input.

Linear is the default because a mastering multiband should be transparent
when it is not working: it nulls against the input and adds no phase shift
around the crossovers, and its latency is compensated by the engine.  Choose
``minimum`` where latency matters more (tracking through the live engine).

Crossovers move live in both modes.  In linear mode a move takes effect at
the next frame boundary, that frame's output crossfading linearly from the
old filters to the new (both filter the same input history), so it does not
click.  The FIR length and so the latency are fixed at prepare time, from
the lowest crossover then: a crossover moved below that still sums flat, but
its low-pass is truncated, so its slopes lose accuracy (moved an octave down,
the high band is 3 dB off at fc / 4; two octaves down, 4 dB off at fc / 2).
Put the lowest crossover you will need in ``crossovers_hz``.

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
from ..dsp.decibels import db_to_amp
from ..errors import SessionError
from ..registry import ParamSpec
from ..suggest import did_you_mean
from .native import NativeStage

SQRT_HALF = 0.7071067811865476
DEFAULT_CROSSOVERS = (200.0, 2000.0)
PHASES = ("linear", "minimum")


def _crossover_filters(freq_hz: float, sample_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lp = biquad.pass_filter(freq_hz, 24, "linkwitz_riley", sample_rate, high=False)
    hp = biquad.pass_filter(freq_hz, 24, "linkwitz_riley", sample_rate, high=True)
    return lp, hp, biquad.all_pass(freq_hz, SQRT_HALF, sample_rate)


# -- linear phase ------------------------------------------------------------------

# Each zero-phase low-pass is truncated where the absolute sum of the taps it drops
# falls below this; that sum bounds its magnitude error at every frequency.
TAIL = 3e-6
MIN_FRAME = 256  # shortest partition of the FIR convolution (samples)


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def zero_phase_lowpass(freq_hz: float, sample_rate: float, half: int) -> np.ndarray:
    """Taps ``l[0..half]`` (the right half; ``l[-n] = l[n]``) of the zero-phase LR4 low-pass.

    The LR4 low-pass is a Butterworth 2nd-order low-pass squared, so the
    zero-phase filter of the same magnitude is B(z) B(1/z): its impulse
    response is the autocorrelation of the Butterworth impulse response ``b``.
    Its magnitude is the bilinear-transformed LR4's,
    1 / (1 + (tan(pi f / fs) / tan(pi fc / fs))^4).
    """
    span = 2 * half + 2
    impulse = np.zeros(span)
    impulse[0] = 1.0
    b = sosfilt(biquad.butterworth(freq_hz, 2, sample_rate, high=False), impulse)
    n_fft = _pow2_at_least(2 * span)
    spectrum = np.fft.rfft(b, n_fft)
    return np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n_fft)[: half + 1]


def half_length(freq_hz: float, sample_rate: float) -> int:
    """The fewest taps each side of the centre for which the dropped taps sum below TAIL."""
    probe = int(6.0 * sample_rate / freq_hz) + 16  # the taps decay as exp(-4.44 fc n / fs)
    taps = np.abs(zero_phase_lowpass(freq_hz, sample_rate, probe))
    dropped = 2.0 * np.cumsum(taps[::-1])[::-1]  # dropped[m]: sum of |l[n]| over |n| >= m
    return int(np.argmax(dropped < TAIL))


class LinearPhaseSplit:
    """Bands of a signal by zero-phase LR4 low-passes, streamed by partitioned FFT convolution.

    The low-passes ``L_1..L_k`` (ascending crossovers) are ``2 half + 1`` taps
    long, delayed by ``half`` to be causal.  Band 1 is ``L_1 x``, band ``i`` is
    ``L_i x - L_(i-1) x`` and the top band is ``x`` delayed by ``half`` minus
    ``L_k x``, so the bands sum to the delayed input exactly.  The convolution
    is uniformly partitioned overlap-save with frames of ``frame`` samples:
    each frame's bands are ready once its last sample is in, and are handed out
    one frame later, so the split delays by ``half + frame`` whatever the host's
    block size, and its output does not depend on the block size.

    A new set of crossovers takes effect at a frame boundary, the frame's
    output crossfading linearly from the old filters to the new (the
    convolution's state is the input history, shared by both).
    """

    def __init__(self, freqs: tuple[float, ...], sample_rate: float, channels: int, max_block: int) -> None:
        self.sample_rate = sample_rate
        self.half = max(half_length(f, sample_rate) for f in freqs)
        self.frame = max(MIN_FRAME, _pow2_at_least(self.half) // 2)
        self.parts = -(-(2 * self.half + 1) // self.frame)
        k, c, n = len(freqs), channels, self.frame
        self._history = np.zeros((c, max(self.half, n) + n))
        self._fill = 0
        self._fdl = np.zeros((self.parts, c, n + 1), dtype=np.complex128)
        self._head = 0
        self._ready = np.zeros((k + 1, c, n))
        self._ramp = np.arange(1, n + 1) / n
        self._bands = np.zeros((k + 1, c, max_block))
        self.freqs: tuple[float, ...] = ()
        self._spectra = self._design(freqs)
        self.freqs = freqs
        self._wanted = freqs

    @property
    def latency(self) -> int:
        return self.half + self.frame

    def _design(self, freqs: tuple[float, ...]) -> np.ndarray:
        """Partition spectra of the causal low-passes, shape ``(k, parts, frame + 1)``.

        A crossover that has not moved keeps its spectra: while one glides, only it is redesigned.
        """
        n = self.frame
        moved = [i for i, f in enumerate(freqs) if i >= len(self.freqs) or self.freqs[i] != f]
        spectra = np.empty((len(freqs), self.parts, n + 1), dtype=np.complex128)
        if len(moved) < len(freqs):
            spectra[:] = self._spectra[: len(freqs)]
        taps = np.zeros((len(moved), self.parts * n))
        for row, i in enumerate(moved):
            right = zero_phase_lowpass(freqs[i], self.sample_rate, self.half)
            taps[row, self.half : 2 * self.half + 1] = right
            taps[row, : self.half] = right[:0:-1]
        padded = np.zeros((len(moved), self.parts, 2 * n))
        padded[:, :, :n] = taps.reshape(len(moved), self.parts, n)
        spectra[moved] = np.fft.rfft(padded, axis=-1)
        return spectra

    def retune(self, freqs: tuple[float, ...]) -> None:
        """Move to these crossovers from the next frame on (with a one-frame crossfade)."""
        self._wanted = freqs

    def clear(self, freqs: tuple[float, ...]) -> None:
        """Forget the input history and take these crossovers at once."""
        self._history[:] = 0.0
        self._fdl[:] = 0.0
        self._ready[:] = 0.0
        self._fill = 0
        self._head = 0
        if freqs != self.freqs:
            self._spectra = self._design(freqs)
            self.freqs = freqs
        self._wanted = freqs

    def split(self, x: np.ndarray) -> np.ndarray:
        """The bands of ``x``, shape ``(bands, channels, frames)``, delayed by ``latency``."""
        c, frames = x.shape
        if frames > self._bands.shape[2]:  # longer than prepared for: grows once
            self._bands = np.zeros((self._bands.shape[0], self._bands.shape[1], frames))
        out = self._bands[:, :c, :frames]
        n, size = self.frame, self._history.shape[1]
        pos = 0
        while pos < frames:
            take = min(frames - pos, n - self._fill)
            at = size - n + self._fill
            self._history[:c, at : at + take] = x[:, pos : pos + take]
            out[:, :, pos : pos + take] = self._ready[:, :c, self._fill : self._fill + take]
            self._fill += take
            pos += take
            if self._fill == n:
                self._run_frame()
                self._fill = 0
        return out

    def _run_frame(self) -> None:
        n, size = self.frame, self._history.shape[1]
        self._fdl[self._head] = np.fft.rfft(self._history[:, size - 2 * n :], axis=-1)
        order = (self._head - np.arange(self.parts)) % self.parts
        recent = self._fdl[order]  # partition p meets the input spectrum of p frames ago
        low = self._lowpassed(self._spectra, recent)
        if self._wanted != self.freqs:
            spectra = self._design(self._wanted)
            low += self._ramp * (self._lowpassed(spectra, recent) - low)
            self._spectra, self.freqs = spectra, self._wanted
        ready = self._ready
        ready[0] = low[0]
        np.subtract(low[1:], low[:-1], out=ready[1:-1])
        np.subtract(self._history[:, size - n - self.half : size - self.half], low[-1], out=ready[-1])
        self._history[:, : size - n] = self._history[:, n:]
        self._head = (self._head + 1) % self.parts

    def _lowpassed(self, spectra: np.ndarray, recent: np.ndarray) -> np.ndarray:
        total = np.einsum("kpf,pcf->kcf", spectra, recent)
        return np.fft.irfft(total, 2 * self.frame, axis=-1)[..., self.frame :]


class MultibandCompressor(NativeStage):
    type_name = "multiband_compressor"
    OPTIONS: ClassVar[dict[str, Any]] = {
        "crossovers_hz": {
            "type": "array", "minItems": 1, "maxItems": 4,
            "items": {"type": "number", "minimum": 20.0, "maximum": 20000.0},
            "default": list(DEFAULT_CROSSOVERS),
            "description": "ascending crossover frequencies (1-4, giving 2-5 bands)",
        },
        "phase": {
            "enum": list(PHASES), "default": "linear",
            "description": "linear: FIR crossovers, exact null, latency; minimum: IIR LR4 tree, no latency",
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
        phase = self.options.get("phase", "linear")
        if phase not in PHASES:
            raise SessionError(f"{where}: phase must be linear or minimum, got {phase!r}; "
                               f"{did_you_mean(str(phase), PHASES)}")
        self.crossovers = [float(f) for f in raw]
        self.bands = len(self.crossovers) + 1
        self.linear = phase == "linear"
        self._linear: LinearPhaseSplit | None = None

    @property
    def latency(self) -> int:
        return self._linear.latency if self._linear is not None else 0

    def param_specs(self) -> tuple[ParamSpec, ...]:
        specs = [
            ParamSpec(f"xover{k + 1}_hz", f, 20.0, 20000.0, unit="Hz", scale="log",
                      doc=f"crossover {k + 1}" + (
                          "; linear phase: the FIR length is set at prepare by the lowest crossover,"
                          " so moving below it loosens the slopes (the sum stays flat)" if self.linear else ""))
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
        self._xover_names = tuple(f"xover{i + 1}_hz" for i in range(k))
        if self.linear:
            self._linear = LinearPhaseSplit(self._registry_crossovers(), self.sample_rate, c, self.max_block)
        else:
            self._design(self._registry_crossovers())
        self._coef_names = tuple(
            ([] if self.linear else list(self._xover_names)) + ["knee_db"]
            + [f"band{b}_{p}" for b in range(1, self.bands + 1)
               for p in ("threshold_db", "ratio", "attack_ms", "release_ms")]
        )

    def _registry_crossovers(self) -> tuple[float, ...]:
        return tuple(self.value(name) for name in self._xover_names)

    def _clear(self) -> None:
        self._lp_zi[:] = 0.0
        self._hp_zi[:] = 0.0
        for zi in self._ap_zi:
            zi[:] = 0.0
        self._state[:] = 0.0
        if self._linear is not None:
            self._linear.clear(self._registry_crossovers())

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

    def _linear_bands(self, block: np.ndarray) -> np.ndarray:
        """The linear-phase bands of a block; the crossovers glide into the split frame by frame."""
        assert self._linear is not None
        frames = block.shape[1]
        ends = []
        for name in self._xover_names:
            v = self.glide(name, frames)
            ends.append(float(v[-1]) if isinstance(v, np.ndarray) else float(v))
        self._linear.retune(tuple(ends))
        return self._linear.split(block)

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        sr = self.sample_rate
        makeups = [
            np.atleast_1d(db_to_amp(self.glide(f"band{b}_makeup_db", frames))).astype(np.float64)
            for b in range(1, self.bands + 1)
        ]
        linear = self._linear_bands(block) if self._linear is not None else None
        out = np.zeros_like(block)
        for start, stop, v in self.segments(self._coef_names, frames):
            if linear is not None:
                parts = [linear[b, :, start:stop] for b in range(self.bands)]
            else:
                self._design(tuple(v[name] for name in self._xover_names))
                parts = self._split(block[:, start:stop])
            for b, part in enumerate(parts, start=1):
                m = makeups[b - 1]
                processed = np.empty_like(part)
                kernels.compressor(
                    part, part, processed, m[start:stop] if len(m) > 1 else m, self._state[b - 1],
                    v[f"band{b}_threshold_db"], v[f"band{b}_ratio"], v["knee_db"],
                    kernels.one_pole_coefficient(v[f"band{b}_attack_ms"], sr),
                    kernels.one_pole_coefficient(v[f"band{b}_release_ms"], sr), False, 0.0, False, 0.0,
                )
                out[:, start:stop] += processed
        return out
