"""Analysis of finished audio: loudness, peaks, dynamics, stereo image and spectral balance.

One streaming pass per file (bounded memory apart from the 10 Hz loudness
curve kept for plots) gives:

* the loudness meter's values (integrated, max momentary, max short-term,
  LRA, true peak, sample peak; :mod:`host.loudness.meter`);
* PLR, the peak-to-loudness ratio (true peak − integrated loudness, as in
  EBU R128 s1 / AES TD1004), and the crest factor (sample peak − RMS, dB);
* DC offset (mean of each channel);
* stereo correlation of the first two channels: Σ L·R / √(Σ L² · Σ R²), the
  long-term reading of a phase-correlation meter (+1 mono, 0 unrelated,
  −1 out of phase);
* mono compatibility: the loudness lost when L and R are folded to mono
  ((L + R) / 2 in both speakers): 0 LU for a mono-compatible mix, about 3 LU
  for unrelated channels, large for out-of-phase content;
* the long-term average spectrum (Hann-windowed segments, power averaged) and
  the energy in octave bands 31.5 Hz-16 kHz relative to the total (the
  spectral balance).

``write_html`` renders a self-contained report with matplotlib plots
embedded as base64 PNG.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from ..loudness.meter import (
    ABSOLUTE_GATE_LUFS,
    DEFAULT_FILE_BLOCK,
    LRA_HIGH_PERCENTILE,
    LRA_LOW_PERCENTILE,
    LRA_RELATIVE_GATE_LU,
    MOMENTARY_SUBBLOCKS,
    SHORT_TERM_SUBBLOCKS,
    SUBBLOCK_S,
    LoudnessMeter,
    iter_blocks,
    open_audio,
)
from .reportkit import (
    METRICS,
    Plot,
    format_value,
    jsonable,
    page,
    pyplot,
    render,
    table,
    write_report,
)

OCTAVE_CENTRES_HZ = (31.5, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
SPECTRUM_SEGMENT = 8192  # FFT length of the long-term spectrum (5.9 Hz bins at 48 kHz)

# the shortest file with a loudness (one 400 ms gating block), and with a short-term loudness
# and a loudness range (one 3 s window)
MOMENTARY_S = MOMENTARY_SUBBLOCKS * SUBBLOCK_S
SHORT_TERM_S = SHORT_TERM_SUBBLOCKS * SUBBLOCK_S
TOO_SHORT_KEYS = ("integrated_lufs", "max_momentary_lufs", "max_short_term_lufs", "lra_lu", "plr_db")

# the keys `analyze --json` promises to keep stable
JSON_KEYS = (
    "integrated_lufs",
    "max_momentary_lufs",
    "max_short_term_lufs",
    "lra_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "plr_db",
    "dc_offset",
    "correlation",
)


@dataclass
class Analysis:
    """Everything ``mixhost analyze`` reports for one file."""

    file: str
    sample_rate: float
    channels: int
    duration_s: float
    integrated_lufs: float
    max_momentary_lufs: float
    max_short_term_lufs: float
    lra_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    plr_db: float
    crest_factor_db: float
    rms_dbfs: float
    dc_offset: float
    dc_offset_per_channel: list[float]
    correlation: float
    mono_loss_lu: float
    octave_bands_db: dict[str, float]
    # for plots only (not in JSON)
    curve_t: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    curve_m: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    curve_s: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    spectrum_hz: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    spectrum_db: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    spectrum_power: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))

    def unmeasured(self) -> tuple[str, ...]:
        """The loudness keys this file is too short to have (BS.1770 needs whole windows)."""
        if self.duration_s < MOMENTARY_S:
            return TOO_SHORT_KEYS
        if self.duration_s < SHORT_TERM_S:
            return ("max_short_term_lufs", "lra_lu")
        return ()

    def loudness_note(self) -> str | None:
        """Why loudness values are missing, in words; None when all were measured."""
        if self.duration_s < MOMENTARY_S:
            return (
                f"too short to measure: {self.duration_s:.2f} s of audio; loudness needs at "
                f"least {MOMENTARY_S:g} s (one gating block), loudness range {SHORT_TERM_S:g} s"
            )
        if not math.isfinite(self.integrated_lufs):
            return "silent: nothing above the −70 LUFS gate"
        if self.duration_s < SHORT_TERM_S:
            return (
                f"short: {self.duration_s:.1f} s; max short-term loudness and loudness range "
                f"need at least {SHORT_TERM_S:g} s"
            )
        return None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready values (non-finite and unmeasurable ones become null), and the note."""
        data: dict[str, Any] = {"file": self.file, "note": self.loudness_note()}
        for key in (
            *JSON_KEYS,
            "crest_factor_db",
            "rms_dbfs",
            "mono_loss_lu",
            "dc_offset_per_channel",
            "octave_bands_db",
            "sample_rate",
            "channels",
            "duration_s",
        ):
            data[key] = None if key in self.unmeasured() else jsonable(getattr(self, key))
        return data


class _SpectrumAccumulator:
    """Long-term average power spectrum of the channel mean, streamed in fixed segments."""

    def __init__(self, sample_rate: float, segment: int = SPECTRUM_SEGMENT) -> None:
        self.segment = segment
        self.window = np.hanning(segment)
        self.power = np.zeros(segment // 2 + 1)
        self.count = 0
        self.pending = np.empty(0)
        self.freqs = np.fft.rfftfreq(segment, 1.0 / sample_rate)

    def add(self, mono: np.ndarray) -> None:
        # file blocks are whole segments (65536 = 8 x 8192): usually nothing is pending
        data = np.concatenate((self.pending, mono)) if self.pending.size else mono
        whole = data.size // self.segment
        if whole:
            frames = data[: whole * self.segment].reshape(whole, self.segment)
            spectra = np.fft.rfft(np.multiply(frames, self.window), axis=1)
            # |X|² summed over the segments: the interleaved (re, im) pairs squared, then paired up
            parts = np.einsum("ij,ij->j", *(spectra.view(np.float64),) * 2)
            self.power += parts[0::2] + parts[1::2]
            self.count += whole
        self.pending = data[whole * self.segment :].copy()

    def finish(self) -> np.ndarray:
        """Mean power per bin (a short file contributes its zero-padded remainder)."""
        if self.pending.size and self.count == 0:
            padded = np.zeros(self.segment)
            padded[: self.pending.size] = self.pending
            spectrum = np.fft.rfft(padded * self.window)
            self.power += spectrum.real**2 + spectrum.imag**2
            self.count = 1
        return self.power / max(self.count, 1)


def octave_bands(freqs: np.ndarray, power: np.ndarray) -> dict[str, float]:
    """Energy of each octave band (fc/√2 to fc·√2) in dB relative to the total energy."""
    total = float(power[freqs > 0].sum())
    bands: dict[str, float] = {}
    for fc in OCTAVE_CENTRES_HZ:
        inside = (freqs >= fc / math.sqrt(2)) & (freqs < fc * math.sqrt(2))
        energy = float(power[inside].sum())
        label = f"{fc:g}" if fc < 1000 else f"{fc / 1000:g}k"
        bands[label] = 10 * math.log10(energy / total) if energy > 0 and total > 0 else -math.inf
    return bands


def fractional_octave_bands(
    freqs: np.ndarray,
    power: np.ndarray,
    fraction: int = 3,
    low: float = 20.0,
    high: float = 20000.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Centre frequencies (base-2, referenced to 1 kHz) and band energies of 1/``fraction`` octaves."""
    k = np.arange(
        math.ceil(fraction * math.log2(low / 1000.0)),
        math.floor(fraction * math.log2(high / 1000.0)) + 1,
    )
    centres = 1000.0 * 2.0 ** (k / fraction)
    half = 2.0 ** (0.5 / fraction)
    energies = np.array(
        [float(power[(freqs >= fc / half) & (freqs < fc * half)].sum()) for fc in centres]
    )
    return centres, energies


SMOOTHING_FRACTION = 6  # 1/6 octave, as spectrum analysers show a long-term spectrum
SMOOTHING_GRID = 48  # points per octave of the smoothed curve


def smooth_spectrum(
    freqs: np.ndarray,
    power: np.ndarray,
    fraction: int = SMOOTHING_FRACTION,
    low: float = 20.0,
    high: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fractional-octave smoothing: the mean power of the 1/``fraction`` octave around each point.

    The points lie ``SMOOTHING_GRID`` to the octave from ``low`` to ``high``
    (default: the highest bin).  Each is the mean of the bins from f/2^(1/2b)
    to f·2^(1/2b), b = ``fraction``, so a long-term spectrum reads like a
    meter's.  Where a band holds fewer than two bins (the lowest octaves), the
    spectrum is interpolated between its bins instead.
    """
    top = float(freqs[-1]) if high is None else min(high, float(freqs[-1]))
    octaves = math.log2(top / low)
    centres = low * 2.0 ** (np.arange(int(octaves * SMOOTHING_GRID) + 1) / SMOOTHING_GRID)
    half = 2.0 ** (0.5 / fraction)
    cumulative = np.concatenate(([0.0], np.cumsum(power)))
    lo = np.searchsorted(freqs, centres / half, side="left")
    hi = np.searchsorted(freqs, centres * half, side="right")
    wide = hi - lo >= 2
    smoothed = np.interp(centres, freqs, power)
    smoothed[wide] = (cumulative[hi[wide]] - cumulative[lo[wide]]) / (hi[wide] - lo[wide])
    return centres, smoothed


def _db(value: float, power: bool = False) -> float:
    if value <= 0:
        return -math.inf
    return (10.0 if power else 20.0) * math.log10(value)


class _Pass:
    """What one streaming pass over a file accumulates.

    The moments and the spectrum of a block run on a worker thread while the
    meter K-weights it (both release the GIL); one block at most is in
    flight, so memory stays bounded and the sums keep their order.
    """

    def __init__(self, channels: int, fs: float) -> None:
        self.channels = channels
        # a stereo meter also meters the mono fold, from its own K-weighting pass
        self.meter = LoudnessMeter(channels, fs, history=True, mono_fold=channels == 2)
        # wider layouts fold their first two channels in a meter of its own
        self.fold = self.meter.mono_fold or (
            LoudnessMeter(1, fs, weights=[2.0], true_peak=False) if channels > 2 else None
        )
        self.spectrum = _SpectrumAccumulator(fs)
        self.sums = np.zeros(channels)
        self.squares = np.zeros(channels)
        self.cross = 0.0
        self.frames = 0
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyze")
        self._pending: Future[None] | None = None

    def add(self, x: np.ndarray) -> None:
        self._wait()
        self._pending = self._worker.submit(self._moments, x)
        self.meter.process(x)
        self.frames += x.shape[1]

    def finish(self) -> None:
        """Wait for the last block's moments and stop the worker (also after a failed read)."""
        try:
            self._wait()
        finally:
            self._worker.shutdown()

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _moments(self, x: np.ndarray) -> None:
        if self.channels == 2:
            # one compiled pass: sums, squares, L·R and the mid (L + R) / 2 for the spectrum.
            # (Not np.dot: a BLAS dot wakes OpenBLAS's threads, which then spin on the other
            # cores for the rest of the run, doubling the CPU time of `analyze`.)
            mid = np.empty(x.shape[1])
            self.cross += _stereo_moments(x[0], x[1], mid, self.sums, self.squares)
        else:
            self.sums += x.sum(axis=1)
            self.squares += np.einsum("ij,ij->i", x, x)
            mid = x.mean(axis=0)
        if self.channels > 2:
            assert self.fold is not None
            self.cross += float(np.einsum("i,i->", x[0], x[1]))
            self.fold.process(0.5 * (x[0] + x[1]))
        self.spectrum.add(mid)

    def stereo(self, integrated_lufs: float) -> tuple[float, float]:
        """(correlation of the first two channels, loudness lost in the mono fold)."""
        if self.fold is None:
            return 1.0, 0.0
        denom = math.sqrt(float(self.squares[0] * self.squares[1]))
        correlation = self.cross / denom if denom > 0 else 0.0
        mono_loss = integrated_lufs - self.fold.integrated()
        if not math.isfinite(mono_loss):
            mono_loss = math.inf if math.isfinite(integrated_lufs) else 0.0
        return correlation, mono_loss


@njit(cache=True, nogil=True)
def _stereo_moments(
    u: np.ndarray, v: np.ndarray, mid: np.ndarray, sums: np.ndarray, squares: np.ndarray
) -> float:
    """Add Σu, Σv to ``sums`` and Σu², Σv² to ``squares``; write (u + v) / 2 to ``mid``; return Σuv."""
    su = sv = qu = qv = cross = 0.0
    for n in range(u.size):
        a = u[n]
        b = v[n]
        su += a
        sv += b
        qu += a * a
        qv += b * b
        cross += a * b
        mid[n] = 0.5 * (a + b)
    sums[0] += su
    sums[1] += sv
    squares[0] += qu
    squares[1] += qv
    return cross


def analyze_file(path: str | Path, block: int = DEFAULT_FILE_BLOCK) -> Analysis:
    """Measure one file in a single streaming pass."""
    with open_audio(path) as handle:
        fs = float(handle.samplerate)
        acc = _Pass(handle.channels, fs)
        try:
            for x in iter_blocks(handle, block, path):
                acc.add(x)
        finally:
            acc.finish()
    return _analysis(str(path), fs, acc)


def _analysis(path: str, fs: float, acc: _Pass) -> Analysis:
    """The report of one pass: meter values, derived ratios, stereo and spectrum."""
    result = acc.meter.result()
    t, m, s = acc.meter.history()
    dc = (acc.sums / acc.frames).tolist()
    rms = math.sqrt(float(acc.squares.sum()) / (acc.frames * acc.channels))
    correlation, mono_loss = acc.stereo(result.integrated_lufs)
    power = acc.spectrum.finish()
    with np.errstate(divide="ignore"):
        spectrum_db = 10 * np.log10(power / np.max(power)) if power.max() > 0 else power
    return Analysis(
        file=path,
        sample_rate=fs,
        channels=acc.channels,
        duration_s=acc.frames / fs,
        integrated_lufs=result.integrated_lufs,
        max_momentary_lufs=result.max_momentary_lufs,
        max_short_term_lufs=result.max_short_term_lufs,
        lra_lu=result.lra_lu,
        true_peak_dbtp=result.true_peak_dbtp,
        sample_peak_dbfs=result.sample_peak_dbfs,
        plr_db=result.true_peak_dbtp - result.integrated_lufs,
        crest_factor_db=result.sample_peak_dbfs - _db(rms),
        rms_dbfs=_db(rms),
        dc_offset=max(dc, key=abs),
        dc_offset_per_channel=dc,
        correlation=correlation,
        mono_loss_lu=mono_loss,
        octave_bands_db=octave_bands(acc.spectrum.freqs, power),
        curve_t=t,
        curve_m=m,
        curve_s=s,
        spectrum_hz=acc.spectrum.freqs,
        spectrum_db=spectrum_db,
        spectrum_power=power,
    )


def to_json(analyses: Sequence[Analysis], session: dict[str, Any] | None = None) -> str:
    """The ``--json`` output: an array with one object per file.

    With ``session`` (the mixer's notes, references and track notes), each
    object also carries it under ``"session"``; the metric keys stay as they are.
    """
    extra = {"session": session} if session is not None else {}
    return json.dumps([{**a.as_json(), **extra} for a in analyses], indent=2, allow_nan=False)


# --- HTML ------------------------------------------------------------------------


@dataclass
class ShortTermDistribution:
    """The short-term values behind the LRA (EBU Tech 3342), with their 10th/95th percentiles."""

    values: np.ndarray  # LUFS, 10 per second, above both gates
    low_lufs: float  # 10th percentile
    high_lufs: float  # 95th percentile


def short_term_distribution(a: Analysis) -> ShortTermDistribution:
    """The gated short-term values of ``a``: above −70 LUFS and above their power mean − 20 LU.

    These are the values the meter's loudness range is taken from (Tech
    3342 §3: short-term loudness every 100 ms, the absolute then the relative
    gate, LRA = L95 − L10), read back from the analysis's 10 Hz curve.
    """
    s = a.curve_s[np.isfinite(a.curve_s)]
    s = s[s > ABSOLUTE_GATE_LUFS]
    if s.size == 0:
        return ShortTermDistribution(s, -math.inf, -math.inf)
    gate = 10 * math.log10(float(np.mean(10 ** (s / 10)))) + LRA_RELATIVE_GATE_LU
    s = np.sort(s[s > gate])
    quantiles = (LRA_LOW_PERCENTILE, LRA_HIGH_PERCENTILE)
    low, high = (float(s[int(round(q * (s.size - 1)))]) for q in quantiles)  # nearest rank
    return ShortTermDistribution(s, low, high)


# the narrowest loudness axis: a steady programme is not magnified into noise
LOUDNESS_MIN_SPAN_LU = 8.0
LOUDNESS_MARGIN_LU = 3.0


def loudness_axis(a: Analysis) -> tuple[float, float]:
    """The loudness plot's y-range: the programme's own, not −60..0 LUFS.

    From the quiet end of the gated short-term values (their 2nd percentile,
    or L10 of the LRA if lower) to the loudest momentary value, with a margin,
    and at least ``LOUDNESS_MIN_SPAN_LU`` wide: a 1.1 LU loudness range then
    fills a visible part of the plot instead of a flat line at its top.
    """
    spread = short_term_distribution(a)
    if spread.values.size == 0:
        return -60.0, 0.0
    low = min(float(np.percentile(spread.values, 2)), spread.low_lufs)
    m = a.curve_m[np.isfinite(a.curve_m)]
    high = max(float(m.max()) if m.size else -math.inf, a.max_short_term_lufs)
    if math.isfinite(a.integrated_lufs):
        low, high = min(low, a.integrated_lufs), max(high, a.integrated_lufs)
    low, high = low - LOUDNESS_MARGIN_LU, high + LOUDNESS_MARGIN_LU
    missing = LOUDNESS_MIN_SPAN_LU - (high - low)
    if missing > 0:
        low, high = low - missing / 2, high + missing / 2
    return low, high


def loudness_plot(a: Analysis, target_lufs: float | None) -> Plot:
    """Loudness over time on the programme's own scale, beside the short-term distribution.

    Left: momentary and short-term loudness, the integrated value and the
    target (named in a note when it lies off the scale).  Right: the
    histogram of the gated short-term values, with L10 and L95, whose
    difference is the loudness range.
    """
    plt = pyplot()
    figure, (axes, spread_axes) = plt.subplots(
        1, 2, figsize=(9, 3.2), sharey=True, gridspec_kw={"width_ratios": [5, 1], "wspace": 0.05}
    )
    axes.plot(a.curve_t, a.curve_m, lw=0.6, alpha=0.6, label="momentary (400 ms)")
    axes.plot(a.curve_t, a.curve_s, lw=1.4, label="short-term (3 s)")
    if math.isfinite(a.integrated_lufs):
        axes.axhline(a.integrated_lufs, color="k", lw=1, ls="--", label="integrated")
    low, high = loudness_axis(a)
    if target_lufs is not None:
        axes.axhline(target_lufs, color="r", lw=1, label=f"target {target_lufs:g} LUFS")
        if not low <= target_lufs <= high:
            where = "above" if target_lufs > high else "below"
            axes.annotate(f"target {target_lufs:g} LUFS is {where} this scale",
                          (0.01, 0.97 if where == "above" else 0.03), xycoords="axes fraction",
                          va="top" if where == "above" else "bottom", fontsize=8, color="r")
    axes.set_ylim(low, high)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("LUFS")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    _distribution(spread_axes, short_term_distribution(a), low, high)
    return render(figure)


def _distribution(axes: Any, spread: ShortTermDistribution, low: float, high: float) -> None:
    """The short-term histogram, sideways, sharing the loudness axis; L10 and L95 marked."""
    if spread.values.size:
        bins = np.linspace(low, high, int((high - low) / 0.1) + 1)  # 0.1 LU bins
        axes.hist(spread.values, bins=bins, orientation="horizontal", color="C1", alpha=0.7)
        for value, name in ((spread.low_lufs, "L10"), (spread.high_lufs, "L95")):
            axes.axhline(value, color="k", lw=0.8, ls=":", label=f"{name} {value:.1f}")
        axes.legend(loc="center right", fontsize=7, title="LRA", title_fontsize=7)
    axes.set_xlabel("short-term\nvalues", fontsize=8)
    axes.tick_params(labelleft=False, labelsize=7)
    axes.grid(alpha=0.3)


def smoothed_spectrum_db(a: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """The long-term spectrum smoothed at 1/6 octave, in dB re. its maximum (as plotted)."""
    hz, power = smooth_spectrum(a.spectrum_hz, a.spectrum_power)
    peak = float(power.max()) if power.size else 0.0
    if peak <= 0:
        return hz, np.full(hz.shape, -math.inf)
    with np.errstate(divide="ignore"):
        return hz, 10 * np.log10(power / peak)


def spectrum_plot(a: Analysis, reference: Analysis | None) -> Plot:
    """The long-term spectrum at 1/6-octave smoothing, and the reference's when there is one."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(9, 3.2))
    curves = [(a, Path(a.file).name)]
    if reference is not None:
        curves.append((reference, f"reference: {Path(reference.file).name}"))
    for analysis, label in curves:
        hz, level = smoothed_spectrum_db(analysis)
        axes.semilogx(hz, level, lw=1.0, label=label)
    axes.set_xlim(20, a.sample_rate / 2)
    axes.set_ylim(-80, 3)
    axes.set_xlabel("frequency (Hz)")
    axes.set_ylabel("dB re. max (1/6-octave smoothed)")
    axes.grid(alpha=0.3, which="both")
    axes.legend(loc="lower left", fontsize=8)
    return render(figure)


def measured(a: Analysis, key: str, unit: str) -> str:
    """One value of ``a`` for a table: "too short" where the file cannot have it."""
    if key in a.unmeasured():
        return "too short"
    return format_value(getattr(a, key), unit)


def _section(a: Analysis, target_lufs: float | None, reference: Analysis | None) -> str:
    rows = []
    for m in METRICS:
        row = [m.label[0].upper() + m.label[1:], measured(a, m.key, m.unit)]
        if reference is not None:
            row.append(measured(reference, m.key, m.unit))
        rows.append(row)
    head = ["", "this file"] + (["reference"] if reference is not None else [])
    bands = [[f"{band} Hz", format_value(db, "dB")] for band, db in a.octave_bands_db.items()]
    text = a.loudness_note()
    note = f"<p><b>{html.escape(text)}</b></p>" if text else ""
    return f"""
<section>
<h2>{html.escape(a.file)}</h2>
<p>{a.channels} channels, {a.sample_rate:g} Hz, {a.duration_s:.2f} s</p>{note}
{table(head, rows)}
<h3>Loudness over time</h3>
{loudness_plot(a, target_lufs).img("loudness over time")}
<h3>Long-term spectrum</h3>
{spectrum_plot(a, reference).img("spectrum")}
<h3>Spectral balance (octave bands, dB re. total)</h3>
{table([], bands)}
</section>"""


def write_html(
    analyses: Sequence[Analysis],
    path: str | Path,
    target_lufs: float | None = None,
    reference: Analysis | None = None,
    notes: str | None = None,
) -> None:
    """A self-contained HTML report (plots embedded as base64 PNG), with the mixer's notes."""
    sections = "".join(_section(a, target_lufs, reference) for a in analyses)
    notes_html = f"<pre>{html.escape(notes)}</pre>" if notes else ""
    write_report(path, page("mixhost analysis", f"<h1>mixhost analysis</h1>{notes_html}{sections}"))
