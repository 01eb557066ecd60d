"""A streaming loudness meter: ITU-R BS.1770-4 and EBU R128 (Tech 3341, Tech 3342).

What it measures, block by block and in bounded memory:

* momentary loudness (400 ms window) and short-term loudness (3 s window)
  on a 100 ms grid (Tech 3341 §2.1 asks ≥ 10 Hz), their maxima evaluated
  every 5 ms so a burst is caught wherever it starts;
* gated integrated loudness (BS.1770-4 Annex 1: 400 ms blocks with
  75 % overlap, absolute gate Γ_a = −70 LUFS, relative gate Γ_r = −10 LU);
* loudness range LRA (Tech 3342: short-term values at 10 Hz, absolute gate
  −70 LUFS, relative gate −20 LU, spread between the 10th and 95th percentiles);
* sample peak and true peak (BS.1770-4 Annex 2, :mod:`host.dsp.true_peak`).

Signal flow (BS.1770-4 Fig. 1): K-weighting (a high shelf modelling the head,
then the RLB high-pass) per channel, mean square per channel z_i, weighted
sum over channels with G_i, and loudness ``L = −0.691 + 10 log10(Σ G_i z_i)``
(eq. 2).

Everything is built from *sub-blocks* of 1/20 of the 100 ms step (5 ms at
48 kHz): their K-weighted, channel-weighted energy is summed by compiled
loops (the filter recursion is per sample).  A 400 ms gating block is the
80 sub-blocks ending on a 100 ms boundary (hence the 75 % overlap), a 3 s
short-term window 600.  Gating blocks and short-term
values are not stored one by one: they go into fine loudness histograms
(0.01 LU bins from −70 to +30 LUFS holding both a count and the energy sum
of each bin), so memory is constant whatever the length of the programme and
the integrated value is exact except for blocks within 0.01 LU of Γ_r.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from numba import njit

from ..dsp import stream_format
from ..dsp.true_peak import TruePeakDetector
from ..errors import AudioInputError

log = logging.getLogger(__name__)

# BS.1770-4 eq. 2: −0.691 cancels the K-filter's +0.691 dB at 997 Hz (a 0 dBFS sine in one channel reads −3.01 LKFS)
LOUDNESS_OFFSET = -0.691
# BS.1770-4 Annex 1: absolute gate Γ_a and relative gate offset for integrated loudness
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
# Tech 3342: relative gate for the loudness range and its percentiles
LRA_RELATIVE_GATE_LU = -20.0
LRA_LOW_PERCENTILE = 0.10
LRA_HIGH_PERCENTILE = 0.95

SUBBLOCK_S = 0.1  # 100 ms: the gating-block step (75 % overlap of 400 ms)
MOMENTARY_SUBBLOCKS = 4  # 400 ms (Tech 3341 §2.1 "M")
SHORT_TERM_SUBBLOCKS = 30  # 3 s (Tech 3341 §2.1 "S")
# blocks at least this long run the true-peak detector on a second thread
THREADED_MIN_FRAMES = 8192
FINE_STEPS = 20  # M and S are evaluated 20 times per 100 ms (200 Hz at 48 kHz)

# loudness histograms: bins of HIST_STEP LU from HIST_MIN (the absolute gate) up
HIST_MIN = ABSOLUTE_GATE_LUFS
HIST_MAX = 30.0
HIST_STEP = 0.01
HIST_BINS = int(round((HIST_MAX - HIST_MIN) / HIST_STEP))

# K-weighting analog prototypes (the parameters behind BS.1770-4 Table 1 and 2,
# which list the 48 kHz coefficients only).  Stage 1: high shelf, centre f0,
# gain G dB, quality Q; the shelf's band-edge exponent.  Stage 2: the RLB
# high-pass (f0, Q).
SHELF_F0_HZ = 1681.974450955533
SHELF_GAIN_DB = 3.999843853973347
SHELF_Q = 0.7071752369554196
SHELF_BAND_EXPONENT = 0.4996667741545416
HIGHPASS_F0_HZ = 38.13547087602444
HIGHPASS_Q = 0.5003270373238773

# Channel weights G_i, BS.1770-4 Table 3; 5.1 in the order L R C LFE Ls Rs.
SURROUND_WEIGHT = 1.41


def channel_weights(channels: int) -> np.ndarray:
    """G_i for a channel count: mono/stereo/3.0 all 1.0, 5.0 and 5.1 with the surrounds at 1.41.

    5.0 is L R C Ls Rs; 5.1 is L R C LFE Ls Rs with the LFE excluded (weight 0).
    Other layouts weight every channel 1.0.
    """
    if channels == 5:
        return np.array([1.0, 1.0, 1.0, SURROUND_WEIGHT, SURROUND_WEIGHT])
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, SURROUND_WEIGHT, SURROUND_WEIGHT])
    return np.ones(channels)


def k_weighting_sos(sample_rate: float) -> np.ndarray:
    """The two K-weighting biquads as a ``(2, 6)`` SOS array for any sample rate.

    Each analog prototype is mapped with the bilinear transform with
    pre-warping at its own f0 (``K = tan(π f0 / fs)``), which reproduces
    BS.1770-4 Tables 1 and 2 at 48 kHz to ~1e-8.
    """
    fs = float(sample_rate)
    # stage 1: high shelf H(s) = (Vh s² + Vb (ω0/Q) s + ω0²) / (s² + (ω0/Q) s + ω0²)
    k = math.tan(math.pi * SHELF_F0_HZ / fs)
    vh = 10.0 ** (SHELF_GAIN_DB / 20.0)
    vb = vh**SHELF_BAND_EXPONENT
    norm = 1.0 + k / SHELF_Q + k * k
    shelf = [
        (vh + vb * k / SHELF_Q + k * k) / norm,
        2.0 * (k * k - vh) / norm,
        (vh - vb * k / SHELF_Q + k * k) / norm,
        1.0,
        2.0 * (k * k - 1.0) / norm,
        (1.0 - k / SHELF_Q + k * k) / norm,
    ]
    # stage 2: RLB high-pass H(s) = s² / (s² + (ω0/Q) s + ω0²), numerator left at 1, −2, 1
    k = math.tan(math.pi * HIGHPASS_F0_HZ / fs)
    norm = 1.0 + k / HIGHPASS_Q + k * k
    highpass = [
        1.0,
        -2.0,
        1.0,
        1.0,
        2.0 * (k * k - 1.0) / norm,
        (1.0 - k / HIGHPASS_Q + k * k) / norm,
    ]
    return np.array([shelf, highpass])


def subblock_grid(sample_rate: float) -> tuple[int, int]:
    """(frames per fine sub-block, sub-blocks per 100 ms step) at ``sample_rate``.

    The 100 ms step (the gating-block hop, BS.1770-4 Annex 1) split into at
    most ``FINE_STEPS`` equal sub-blocks (5 ms at 48 kHz, 245 frames at
    44.1 kHz): the 400 ms and 3 s windows are whole numbers of them.
    """
    step = max(1, int(round(float(sample_rate) * SUBBLOCK_S)))
    per_step = next(r for r in range(FINE_STEPS, 0, -1) if step % r == 0)
    return step // per_step, per_step


def energy_to_lufs(energy: float) -> float:
    """BS.1770-4 eq. 2: L = −0.691 + 10 log10(Σ G_i z_i)."""
    return LOUDNESS_OFFSET + 10.0 * math.log10(energy) if energy > 0 else -math.inf


def _energies_to_lufs(energy: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET + 10.0 * np.log10(energy)


KState = tuple[float, float, float, float]


@njit(cache=True, nogil=True, inline="always")
def _k_coefficients(sos: np.ndarray) -> tuple[float, ...]:
    """The K-weighting cascade's ten coefficients, as scalars the kernels keep in registers."""
    return (sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5],
            sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5])


@njit(cache=True, nogil=True, inline="always")
def _k_step(x: float, k: tuple[float, ...], s: KState) -> tuple[float, KState]:
    """One sample through the K-weighting: the high shelf (stage 1), then the RLB high-pass (stage 2).

    Each stage is a transposed direct-form II biquad; ``s`` is the state
    ``(stage 1 s1, s2, stage 2 s1, s2)``.  Returns the output and the new state.
    """
    b0, b1, b2, a1, a2, c0, c1, c2, d1, d2 = k
    p1, p2, q1, q2 = s
    y = b0 * x + p1
    z = c0 * y + q1
    return z, (b1 * x - a1 * y + p2, b2 * x - a2 * y, c1 * y - d1 * z + q2, c2 * y - d2 * z)


@njit(cache=True, nogil=True, inline="always")
def _tally(acc: float, count: int, hop: int, out: np.ndarray, done: int) -> tuple[float, int, int]:
    """Count one more frame, its energy already in ``acc``, into the open sub-block.

    A sub-block of ``hop`` frames is complete: its sum goes to ``out[done]``
    and the next one opens empty.  Returns the new ``(acc, count, done)``.
    Inlined into the kernels, as :func:`_k_step` is: their loops stay one compiled body.
    """
    count += 1
    if count == hop:
        out[done] = acc
        done += 1
        acc = 0.0
        count = 0
    return acc, count, done


@njit(cache=True, nogil=True)
def _k_weight_pair(
    u: np.ndarray,
    v: np.ndarray,
    sos: np.ndarray,
    su: np.ndarray,
    sv: np.ndarray,
    gu: float,
    gv: float,
    w: np.ndarray,
) -> None:
    """Add G_u z_u² + G_v z_v² of two K-weighted channels (1-D rows) to ``w``.

    Two channels per pass keep both filter states in registers and give the
    CPU two independent recursions to overlap.  ``su``/``sv`` hold the
    transposed direct-form II state ``[stage 1 s1, s2, stage 2 s1, s2]``.
    """
    k = _k_coefficients(sos)
    s = (su[0], su[1], su[2], su[3])
    t = (sv[0], sv[1], sv[2], sv[3])
    for n in range(u.size):
        z, s = _k_step(u[n], k, s)
        zz, t = _k_step(v[n], k, t)
        w[n] += gu * z * z + gv * zz * zz
    su[0], su[1], su[2], su[3] = s
    sv[0], sv[1], sv[2], sv[3] = t


@njit(cache=True, nogil=True)
def _k_weight_one(u: np.ndarray, sos: np.ndarray, su: np.ndarray, gu: float, w: np.ndarray) -> None:
    """Add G_u z_u² of one K-weighted channel to ``w`` (the odd channel out)."""
    k = _k_coefficients(sos)
    s = (su[0], su[1], su[2], su[3])
    for n in range(u.size):
        z, s = _k_step(u[n], k, s)
        w[n] += gu * z * z
    su[0], su[1], su[2], su[3] = s


@njit(cache=True, nogil=True, inline="always")
def _k_weight_pass(
    u: np.ndarray,
    v: np.ndarray,
    sos: np.ndarray,
    su: np.ndarray,
    sv: np.ndarray,
    gu: float,
    gv: float,
    carry: np.ndarray,
    hop: int,
    out: np.ndarray,
    fold_out: np.ndarray,
    peaks: np.ndarray,
    with_fold: bool,
) -> int:
    """The one stereo pass behind :func:`k_weight_stereo` and :func:`_k_weight_stereo_fold`.

    Inlined into both with ``with_fold`` a constant, so each compiles to its own
    loop with the fold's lines there or gone: the mono fold costs the plain
    meter nothing.  ``fold_out`` and ``carry[2]`` are touched only with the fold.
    """
    k = _k_coefficients(sos)
    s = (su[0], su[1], su[2], su[3])
    t = (sv[0], sv[1], sv[2], sv[3])
    pu, pv = peaks[0], peaks[1]
    acc = carry[0]
    count = int(carry[1])
    fold = carry[2] if with_fold else 0.0
    done = 0
    for n in range(u.size):
        x = u[n]
        xx = v[n]
        pu = max(pu, abs(x))
        pv = max(pv, abs(xx))
        z, s = _k_step(x, k, s)
        zz, t = _k_step(xx, k, t)
        acc += gu * z * z + gv * zz * zz
        if with_fold:
            both = z + zz
            fold += 0.5 * both * both
        count += 1
        if count == hop:
            out[done] = acc
            if with_fold:
                fold_out[done] = fold
            done += 1
            acc = 0.0
            fold = 0.0
            count = 0
    su[0], su[1], su[2], su[3] = s
    sv[0], sv[1], sv[2], sv[3] = t
    peaks[0], peaks[1] = pu, pv
    carry[0] = acc
    carry[1] = count
    if with_fold:
        carry[2] = fold
    return done


@njit(cache=True, nogil=True)
def k_weight_stereo(
    u: np.ndarray,
    v: np.ndarray,
    sos: np.ndarray,
    su: np.ndarray,
    sv: np.ndarray,
    gu: float,
    gv: float,
    carry: np.ndarray,
    hop: int,
    out: np.ndarray,
    peaks: np.ndarray,
) -> int:
    """The stereo (or mono, with ``gv = 0`` and ``v is u``) fast path in one pass.

    K-weighting, channel weights, sample peaks and the sub-block sums fused:
    the filter recursion is latency-bound, so the extra work rides along for
    free and no per-sample buffer is written.  Returns the sub-blocks done.

    Public for streaming meters elsewhere (the live engine's master,
    :mod:`host.live.metering`): ``u``, ``v`` 1-D rows; ``su``, ``sv`` the
    filter states (4 each, zeros to start); ``carry = [partial energy,
    frames in it]``; each completed sub-block of ``hop`` frames writes
    Σ_i G_i Σ_n z_i[n]² to ``out`` (room for ``frames // hop + 1``);
    ``peaks`` (2) keeps the running sample peaks.  Allocates nothing.
    """
    return _k_weight_pass(u, v, sos, su, sv, gu, gv, carry, hop, out, out, peaks, False)


@njit(cache=True, nogil=True)
def _k_weight_stereo_fold(
    u: np.ndarray,
    v: np.ndarray,
    sos: np.ndarray,
    su: np.ndarray,
    sv: np.ndarray,
    gu: float,
    gv: float,
    carry: np.ndarray,
    hop: int,
    out: np.ndarray,
    fold_out: np.ndarray,
    peaks: np.ndarray,
) -> int:
    """:func:`k_weight_stereo`, and the mono fold's sub-block energies from the same filtering.

    The fold is (L + R) / 2 in both speakers: one channel of weight 2.  The
    K-weighting is linear, so its filtered fold is (z_L + z_R) / 2 and its
    weighted energy 2 ((z_L + z_R) / 2)² = (z_L + z_R)² / 2: no second
    filter runs.  ``carry = [energy, frames, fold energy]`` of the open sub-block.
    """
    return _k_weight_pass(u, v, sos, su, sv, gu, gv, carry, hop, out, fold_out, peaks, True)


@njit(cache=True, nogil=True, fastmath=True)
def _abs_max(u: np.ndarray, floor: float) -> float:
    peak = floor
    for n in range(u.size):
        peak = max(peak, abs(u[n]))
    return peak


@njit(cache=True, nogil=True)
def _subblock_sums(w: np.ndarray, frames: int, carry: np.ndarray, hop: int, out: np.ndarray) -> int:
    """Sum ``w[:frames]`` over sub-blocks of ``hop`` frames, carrying the unfinished one.

    ``carry = [partial energy, frames in it]``.  Writes the completed sums to
    ``out`` and returns how many.
    """
    acc = carry[0]
    count = int(carry[1])
    done = 0
    for n in range(frames):
        acc += w[n]
        acc, count, done = _tally(acc, count, hop, out, done)
    carry[0] = acc
    carry[1] = count
    return done


@dataclass
class LoudnessResult:
    """The summary of a metered programme (loudness in LUFS, peaks in dBFS/dBTP)."""

    integrated_lufs: float
    max_momentary_lufs: float
    max_short_term_lufs: float
    lra_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    true_peak_per_channel_dbtp: list[float] = field(default_factory=list)
    sample_peak_per_channel_dbfs: list[float] = field(default_factory=list)
    duration_s: float = 0.0
    sample_rate: float = 0.0
    channels: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _LoudnessHistogram:
    """Counts and energy sums of blocks by loudness, 0.01 LU bins above −70 LUFS."""

    def __init__(self) -> None:
        self.count = np.zeros(HIST_BINS, dtype=np.int64)
        self.energy = np.zeros(HIST_BINS)

    def reset(self) -> None:
        self.count[:] = 0
        self.energy[:] = 0.0

    def add(self, z_j: np.ndarray) -> None:
        """Add blocks j given by their channel-weighted mean square Σ_i G_i z_ij."""
        l_j = _energies_to_lufs(
            z_j
        )  # BS.1770-4 Annex 1 (gating): l_j = −0.691 + 10 log10(Σ_i G_i z_ij)
        keep = l_j > HIST_MIN  # absolute gate Γ_a: only l_j > −70 LUFS are kept
        if not np.any(keep):
            return
        index = np.minimum(((l_j[keep] - HIST_MIN) / HIST_STEP).astype(np.int64), HIST_BINS - 1)
        # a block brings a handful of values: scatter-add them (no 10 000-bin temporaries)
        np.add.at(self.count, index, 1)
        np.add.at(self.energy, index, z_j[keep])

    def bin_loudness(self) -> np.ndarray:
        """Mean loudness of the blocks in each bin (from the bin's mean energy)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return _energies_to_lufs(self.energy / np.maximum(self.count, 1))

    def relative_gate(self, offset_lu: float) -> float:
        """Γ_r: loudness of the power mean of all blocks above Γ_a, plus ``offset_lu``."""
        total = int(self.count.sum())
        if total == 0:
            return math.inf
        return energy_to_lufs(float(self.energy.sum()) / total) + offset_lu

    def gated_mean(self, gate: float) -> float:
        """Loudness of the power mean of the blocks louder than ``gate`` (l_j > Γ)."""
        above = (self.count > 0) & (self.bin_loudness() > gate)
        n = int(self.count[above].sum())
        if n == 0:
            return -math.inf
        return energy_to_lufs(float(self.energy[above].sum()) / n)

    def percentiles(self, gate: float, quantiles: Sequence[float]) -> list[float]:
        """Quantiles of the loudness of blocks above ``gate`` (nearest rank on 0.01 LU bins)."""
        loud = self.bin_loudness()
        above = (self.count > 0) & (loud > gate)
        counts = self.count[above]
        n = int(counts.sum())
        if n == 0:
            return [-math.inf for _ in quantiles]
        cumulative = np.cumsum(counts)
        values = loud[above]
        out = []
        for q in quantiles:
            rank = int(round(q * (n - 1)))  # 0-based rank in the sorted values
            out.append(float(values[int(np.searchsorted(cumulative, rank + 1))]))
        return out


class LoudnessMeter:
    """Streaming BS.1770-4 / EBU R128 meter over blocks of shape ``(channels, frames)``.

    ``process(block)`` as often as needed, then read :meth:`integrated`,
    :meth:`loudness_range`, the maxima and peaks, or :meth:`result`.  With
    ``history=True`` it also keeps the momentary and short-term loudness of
    every 100 ms step (for plots; that list grows with the length).  With
    ``mono_fold=True`` (stereo only) :attr:`mono_fold` meters (L + R) / 2 in
    both speakers as well, from the same K-weighting pass.
    """

    def __init__(
        self,
        channels: int,
        sample_rate: float,
        weights: Sequence[float] | None = None,
        true_peak: bool = True,
        history: bool = False,
        mono_fold: bool = False,
    ) -> None:
        self.channels, self.sample_rate = stream_format(channels, sample_rate)
        if mono_fold and self.channels != 2:
            raise ValueError(f"the mono fold needs 2 channels, not {self.channels}")
        # (L + R) / 2 in both speakers: one channel weighted 2 (BS.1770 sums the channels' energy)
        self._fold = LoudnessMeter(1, sample_rate, weights=[2.0], true_peak=False) if mono_fold else None
        self.G = np.asarray(weights if weights is not None else channel_weights(channels), float)
        if self.G.shape != (self.channels,):
            raise ValueError(f"need {self.channels} channel weights, got {self.G.shape}")
        self._sos = k_weighting_sos(sample_rate)
        # 100 ms gating step; energies are summed over `rate` finer sub-blocks per step
        # (5 ms at 48 kHz) so that max M and max S do not depend on block alignment
        self.fine_hop, self.rate = subblock_grid(self.sample_rate)
        self.hop = self.fine_hop * self.rate
        self._true_peak = TruePeakDetector(channels, sample_rate) if true_peak else None
        self._keep_history = history
        self._executor: ThreadPoolExecutor | None = None
        self._scratch = np.empty(0)
        self._gating = _LoudnessHistogram()  # 400 ms blocks, for the integrated loudness
        self._short = _LoudnessHistogram()  # 3 s short-term values, for LRA
        self._reset_state()

    # -- public API --------------------------------------------------------------
    def process(self, block: np.ndarray) -> None:
        """Meter one block ``(channels, frames)`` (a mono block may be 1-D)."""
        x = np.asarray(block, dtype=np.float64)
        if x.ndim == 1 and self.channels == 1:
            x = x[np.newaxis, :]
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ValueError(f"expected a block of shape ({self.channels}, frames), got {x.shape}")
        if x.shape[1]:
            self._process(x)

    def reset(self) -> None:
        self._reset_state()
        if self._true_peak is not None:
            self._true_peak.reset()
        if self._fold is not None:
            self._fold.reset()

    @property
    def mono_fold(self) -> LoudnessMeter | None:
        """The meter of the mono fold (with ``mono_fold=True``): read it, do not feed it."""
        return self._fold

    def momentary(self) -> float:
        """Momentary loudness M of the last 400 ms (−inf before 400 ms of signal)."""
        return self._window_lufs(MOMENTARY_SUBBLOCKS)

    def short_term(self) -> float:
        """Short-term loudness S of the last 3 s (−inf before 3 s of signal)."""
        return self._window_lufs(SHORT_TERM_SUBBLOCKS)

    def integrated(self) -> float:
        """Gated integrated loudness I (BS.1770-4 Annex 1, gating; EBU Tech 3341 §2.3), LUFS."""
        gamma_a = ABSOLUTE_GATE_LUFS  # the histogram holds only blocks with l_j > Γ_a
        # relative gate: Γ_r = loudness of the blocks above Γ_a, minus 10 LU
        gamma_r = self._gating.relative_gate(RELATIVE_GATE_LU)
        # gated loudness: the power mean of the blocks with l_j > Γ_r (and > Γ_a)
        return self._gating.gated_mean(max(gamma_r, gamma_a))

    def relative_gate(self) -> float:
        """Γ_r of the integrated measurement (LUFS)."""
        return self._gating.relative_gate(RELATIVE_GATE_LU)

    def gating_histogram(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The gating blocks above Γ_a as ``(bin index, count, energy sum)`` of the non-empty bins.

        Enough to gate a union of programmes (an album) exactly as one: add the
        counts and energies of equal bins and pass them to :func:`gated_loudness`.
        """
        used = np.flatnonzero(self._gating.count)
        return used, self._gating.count[used].copy(), self._gating.energy[used].copy()

    def loudness_range(self) -> float:
        """LRA per EBU Tech 3342 (LU): L95 − L10 of the relative-gated short-term values."""
        gamma_r = self._short.relative_gate(LRA_RELATIVE_GATE_LU)
        if not math.isfinite(gamma_r):
            return 0.0
        low, high = self._short.percentiles(
            max(gamma_r, ABSOLUTE_GATE_LUFS), (LRA_LOW_PERCENTILE, LRA_HIGH_PERCENTILE)
        )
        return max(0.0, high - low) if math.isfinite(low) else 0.0

    @property
    def max_momentary(self) -> float:
        return self._max_momentary

    @property
    def max_short_term(self) -> float:
        return self._max_short_term

    def sample_peak(self) -> np.ndarray:
        """Per-channel sample peak (linear)."""
        return self._sample_peak.copy()

    def true_peak(self) -> np.ndarray:
        """Per-channel true peak (linear), including the interpolator's tail."""
        if self._true_peak is None:
            return self._sample_peak.copy()
        return np.maximum(self._tp, self._true_peak.flush_peak())

    @property
    def frames(self) -> int:
        return self._frames

    def history(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(time in s at the end of each 100 ms step, momentary LUFS, short-term LUFS)."""
        m = np.concatenate(self._hist_m) if self._hist_m else np.empty(0)
        s = np.concatenate(self._hist_s) if self._hist_s else np.empty(0)
        t = (np.arange(m.size) + 1) * self.hop / self.sample_rate
        return t, m, s

    def result(self) -> LoudnessResult:
        tp = self.true_peak()
        sp = self._sample_peak
        return LoudnessResult(
            integrated_lufs=self.integrated(),
            max_momentary_lufs=self._max_momentary,
            max_short_term_lufs=self._max_short_term,
            lra_lu=self.loudness_range(),
            true_peak_dbtp=_db(float(tp.max())),
            sample_peak_dbfs=_db(float(sp.max())),
            true_peak_per_channel_dbtp=[_db(float(v)) for v in tp],
            sample_peak_per_channel_dbfs=[_db(float(v)) for v in sp],
            duration_s=self._frames / self.sample_rate,
            sample_rate=self.sample_rate,
            channels=self.channels,
        )

    # -- private -----------------------------------------------------------------
    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="true-peak")
        return self._executor

    def __del__(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False)

    def _reset_state(self) -> None:
        self._filter_state = np.zeros((self.channels, 4))
        self._spare_state = np.zeros(4)  # the mono fast path's unused partner
        self._carry = np.zeros(3)  # the open sub-block: [energy, frames, mono-fold energy]
        # the last 30 sub-block energies (oldest first) feed M and S
        self._recent = np.zeros(0)
        self._gating.reset()
        self._short.reset()
        self._max_momentary = -math.inf
        self._max_short_term = -math.inf
        self._sample_peak = np.zeros(self.channels)
        self._tp = np.zeros(self.channels)
        self._frames = 0
        self._subblocks = 0  # 100 ms sub-blocks completed so far
        self._hist_m: list[np.ndarray] = []
        self._hist_s: list[np.ndarray] = []

    def _process(self, x: np.ndarray) -> None:
        frames = x.shape[1]
        out = np.empty(frames // self.fine_hop + 2)
        # the true-peak interpolator and the K-weighting are independent and
        # both release the GIL: run them on two cores
        pending = None
        if self._true_peak is not None and frames >= THREADED_MIN_FRAMES:
            pending = self._pool().submit(self._true_peak.accumulate, x)
        elif self._true_peak is not None:
            self._tp = self._true_peak.accumulate(x)  # small blocks: a hand-off costs more
        # 1-D contiguous rows (no copy when the rows already are) let the kernels vectorise
        rows = [np.ascontiguousarray(x[c]) for c in range(self.channels)]
        if self._fold is not None:
            done = self._process_fold(rows, out)
        elif self.channels <= 2:
            done = self._process_stereo(rows, out)
        else:
            done = self._process_any(rows, frames, out)
        self._frames += frames
        if pending is not None:
            self._tp = pending.result()
        if done:
            self._add_subblocks(out[:done])

    def _process_fold(self, rows: list[np.ndarray], out: np.ndarray) -> int:
        assert self._fold is not None
        fold_out = np.empty_like(out)
        state, g = self._filter_state, self.G
        done = int(_k_weight_stereo_fold(rows[0], rows[1], self._sos, state[0], state[1], g[0], g[1],
                                         self._carry, self.fine_hop, out, fold_out, self._sample_peak))
        self._fold._frames += rows[0].size
        if done:
            self._fold._add_subblocks(fold_out[:done])
        return done

    def _process_stereo(self, rows: list[np.ndarray], out: np.ndarray) -> int:
        state, g = self._filter_state, self.G
        if self.channels == 2:
            return k_weight_stereo(
                rows[0],
                rows[1],
                self._sos,
                state[0],
                state[1],
                g[0],
                g[1],
                self._carry,
                self.fine_hop,
                out,
                self._sample_peak,
            )
        # mono: the same pass with a silent, unweighted partner (its state and peak unused)
        peaks = np.array([self._sample_peak[0], 0.0])
        done = k_weight_stereo(
            rows[0],
            rows[0],
            self._sos,
            state[0],
            self._spare_state,
            g[0],
            0.0,
            self._carry,
            self.fine_hop,
            out,
            peaks,
        )
        self._sample_peak[0] = peaks[0]
        return done

    def _process_any(self, rows: list[np.ndarray], frames: int, out: np.ndarray) -> int:
        if self._scratch.size < frames:
            self._scratch = np.empty(frames)
        w = self._scratch[:frames]
        w[:] = 0.0
        state, g, sos = self._filter_state, self.G, self._sos
        for c in range(0, self.channels - 1, 2):
            _k_weight_pair(rows[c], rows[c + 1], sos, state[c], state[c + 1], g[c], g[c + 1], w)
        if self.channels % 2:
            c = self.channels - 1
            _k_weight_one(rows[c], sos, state[c], g[c], w)
        for c in range(self.channels):
            self._sample_peak[c] = _abs_max(rows[c], self._sample_peak[c])
        return int(_subblock_sums(w, frames, self._carry, self.fine_hop, out))

    def _add_subblocks(self, energy: np.ndarray) -> None:
        """Fold new fine sub-block energies into M, S, the histograms and the maxima."""
        r = self.rate
        seq = np.concatenate((self._recent, energy))
        csum = np.concatenate(([0.0], np.cumsum(seq)))
        ends = np.arange(self._recent.size, seq.size) + 1  # window end (exclusive) per new one
        done = self._subblocks - self._recent.size + ends  # sub-blocks since the start
        m = self._windows(csum, ends, done, MOMENTARY_SUBBLOCKS * r)
        s = self._windows(csum, ends, done, SHORT_TERM_SUBBLOCKS * r)
        # the 100 ms grid: gating blocks and LRA values are taken every 100 ms
        grid = done % r == 0
        m_grid = m[grid]
        s_grid = s[grid]
        # BS.1770-4 Annex 1: each complete 400 ms gating block j (step 100 ms, 75 %
        # overlap) gives Σ_i G_i z_ij, the momentary energy on the 100 ms grid
        self._gating.add(m_grid[np.isfinite(m_grid)])
        # Tech 3342: short-term values at a 10 Hz rate feed the LRA
        self._short.add(s_grid[np.isfinite(s_grid)])
        # maxima use every fine step, so they do not depend on where the 100 ms grid falls
        if np.isfinite(m).any():
            peak = float(m[np.isfinite(m)].max())
            self._max_momentary = max(self._max_momentary, energy_to_lufs(peak))
        if np.isfinite(s).any():
            peak = float(s[np.isfinite(s)].max())
            self._max_short_term = max(self._max_short_term, energy_to_lufs(peak))
        if self._keep_history:
            self._hist_m.append(_energies_to_lufs(np.where(np.isfinite(m_grid), m_grid, 0.0)))
            self._hist_s.append(_energies_to_lufs(np.where(np.isfinite(s_grid), s_grid, 0.0)))
        self._recent = seq[-SHORT_TERM_SUBBLOCKS * r :].copy()
        self._subblocks += energy.size

    def _windows(
        self, csum: np.ndarray, ends: np.ndarray, done: np.ndarray, width: int
    ) -> np.ndarray:
        """Mean energy of the ``width`` sub-blocks ending at each of ``ends`` (inf if incomplete)."""
        out = np.full(ends.size, np.inf)
        ok = done >= width
        starts = ends[ok] - width
        out[ok] = (csum[ends[ok]] - csum[starts]) / (width * self.fine_hop)
        return out

    def _window_lufs(self, width: int) -> float:
        n = width * self.rate
        if self._recent.size < n:
            return -math.inf
        return energy_to_lufs(float(self._recent[-n:].sum()) / (n * self.fine_hop))


def gated_loudness(bins: np.ndarray, counts: np.ndarray, energies: np.ndarray) -> float:
    """Integrated loudness (LUFS) of gating blocks given as :meth:`LoudnessMeter.gating_histogram` bins.

    BS.1770-4 Annex 1 gating on the union of the blocks: Γ_r from all blocks
    above Γ_a, then the power mean of those above max(Γ_a, Γ_r).  Repeated
    bin indices (from several programmes) are summed.
    """
    histogram = _LoudnessHistogram()
    np.add.at(histogram.count, np.asarray(bins, dtype=np.int64), np.asarray(counts, dtype=np.int64))
    np.add.at(histogram.energy, np.asarray(bins, dtype=np.int64), np.asarray(energies, dtype=float))
    gamma_r = histogram.relative_gate(RELATIVE_GATE_LU)
    return histogram.gated_mean(max(gamma_r, ABSOLUTE_GATE_LUFS))


def _db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


DEFAULT_FILE_BLOCK = 65536


def open_audio(path: str | Path) -> sf.SoundFile:
    """Open an audio file for streaming, or raise :class:`AudioInputError` saying why not."""
    p = Path(path)
    if not p.exists():
        raise AudioInputError("no such file", file=str(p), hint="check the path")
    if p.is_dir():
        raise AudioInputError("is a directory, not an audio file", file=str(p))
    try:
        handle = sf.SoundFile(str(p))
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioInputError(
            f"cannot read as audio ({error})",
            file=str(p),
            hint="use WAV, FLAC, AIFF or another format libsndfile reads",
        ) from error
    if handle.frames == 0:
        handle.close()
        raise AudioInputError("the file holds no audio frames", file=str(p))
    return handle


# Containers whose integer PCM libsndfile hands out as float64 by an exact power-of-two scale
# (16-bit as int16 / 2^15; 24- and 32-bit as left-justified int32 / 2^31): reading the integers
# and scaling them here gives the same values, without libsndfile's float conversion buffer.
PLAIN_PCM_FORMATS = frozenset({"WAV", "WAVEX", "AIFF", "W64", "RF64", "CAF"})
NATIVE_PCM = {"PCM_16": ("int16", 2.0**-15), "PCM_24": ("int32", 2.0**-31), "PCM_32": ("int32", 2.0**-31)}


def iter_blocks(handle: sf.SoundFile, block: int, path: str | Path) -> Iterator[np.ndarray]:
    """Contiguous ``(channels, frames)`` float64 blocks from an open file; rejects NaN/Inf.

    Each block is a new array (callers may keep it).  Plain integer PCM is
    read as its integers into one reused buffer and scaled while it is
    de-interleaved: one pass, and integers cannot hold NaN or Inf.
    """
    native = NATIVE_PCM.get(handle.subtype) if handle.format in PLAIN_PCM_FORMATS else None
    if native is None:
        for chunk in handle.blocks(blocksize=block, dtype="float64", always_2d=True):
            # one pass: any NaN or Inf makes the sum non-finite (audio never sums to 1e308)
            if not math.isfinite(float(chunk.sum())):
                raise AudioInputError("the audio holds NaN or infinite samples", file=str(path))
            yield np.ascontiguousarray(chunk.T)  # rows contiguous: every later pass is faster
        return
    dtype, scale = native
    interleaved = np.empty((block, handle.channels), dtype=dtype)
    while True:
        got = handle.buffer_read_into(interleaved, dtype)
        if got == 0:
            return
        out = np.empty((handle.channels, got))
        np.multiply(interleaved[:got].T, scale, out=out)
        yield out


def measure_file(
    path: str | Path, block: int = DEFAULT_FILE_BLOCK, weights: Sequence[float] | None = None
) -> LoudnessResult:
    """Meter a whole file, streaming it ``block`` frames at a time (bounded memory)."""
    with open_audio(path) as handle:
        meter = LoudnessMeter(handle.channels, handle.samplerate, weights=weights)
        for x in iter_blocks(handle, block, path):
            meter.process(x)
    return meter.result()
