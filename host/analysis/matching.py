"""Reference matching: give a mix the long-term spectral balance of a reference track.

In the manner of reference mastering (matchering), but streaming, at any
sample rate, without a length limit, and leaving loudness to the
BS.1770 loudness passes that follow (:mod:`host.analysis.mastering`):

1. stream both files once and average the power spectra of their mid
   ``(L + R) / 2`` and side ``(L − R) / 2`` signals (Hann-windowed segments);
2. the correction for each is the reference/mix power ratio, smoothed over
   1/``SMOOTHING_OCTAVES`` octave in log-frequency, shifted so the mid curve
   sits at 0 dB on its energy-weighted mean (level is set later; the side
   takes the same shift, so width is matched too), limited to ±``MAX_CORRECTION_DB``
   and faded to 0 dB below ``LOW_HZ`` and above ``HIGH_HZ``;
3. each curve becomes a linear-phase FIR (frequency sampling, ``FIR_TAPS``
   taps, Hann window), run on mid and side by overlap-add FFT convolution
   with a carried tail; the output is latency-compensated and as long as the
   input.

A mono mix or reference (no side energy to match) keeps its side unchanged.
Files of more than two channels are refused (:class:`UserInputError`): mid
and side are not defined for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import oaconvolve

from ..errors import UserInputError
from ..loudness.meter import DEFAULT_FILE_BLOCK, iter_blocks, open_audio
from .report import OCTAVE_CENTRES_HZ

SEGMENT = 8192
FIR_TAPS = 4096  # 11.7 Hz resolution at 48 kHz; even: the delay is FIR_TAPS / 2 samples
SMOOTHING_OCTAVES = 6  # 1/6-octave smoothing
MAX_CORRECTION_DB = 12.0
LOW_HZ, HIGH_HZ = 25.0, 18000.0
SIDE_FLOOR_DB = -40.0  # side this far below mid counts as "no side": leave it alone


@dataclass
class MidSideSpectrum:
    freqs: np.ndarray
    mid: np.ndarray  # mean power per bin
    side: np.ndarray
    sample_rate: float
    channels: int


def mid_side_spectrum(path: str | Path, block: int = DEFAULT_FILE_BLOCK) -> MidSideSpectrum:
    """Long-term average power spectra of the mid and side of a file (streamed)."""
    window = np.hanning(SEGMENT)
    with open_audio(path) as handle:
        fs, channels = float(handle.samplerate), handle.channels
        check_channels(path, channels)
        power = np.zeros((2, SEGMENT // 2 + 1))
        pending = np.zeros((2, 0))
        count = 0
        for x in iter_blocks(handle, block, path):
            ms = _to_mid_side(x)
            data = np.concatenate((pending, ms), axis=1)
            whole = data.shape[1] // SEGMENT
            if whole:
                frames = data[:, : whole * SEGMENT].reshape(2, whole, SEGMENT)
                spectra = np.fft.rfft(frames * window, axis=2)
                power += np.sum(spectra.real**2 + spectra.imag**2, axis=1)
                count += whole
            pending = data[:, whole * SEGMENT :]
    if count == 0:  # shorter than one segment: zero-pad what there is
        padded = np.zeros((2, SEGMENT))
        padded[:, : pending.shape[1]] = pending
        spectra = np.fft.rfft(padded * window, axis=1)
        power = spectra.real**2 + spectra.imag**2
        count = 1
    freqs = np.fft.rfftfreq(SEGMENT, 1.0 / fs)
    return MidSideSpectrum(freqs, power[0] / count, power[1] / count, fs, channels)


def check_channels(path: str | Path, channels: int) -> None:
    """Mid and side are defined for mono and stereo only: refuse more channels."""
    if channels > 2:
        raise UserInputError(
            f"{path}: {channels} channels; reference matching works on mono or stereo (mid/side)",
            hint="fold the file down to stereo first, or master it without --reference",
        )


def _to_mid_side(x: np.ndarray) -> np.ndarray:
    if x.shape[0] == 1:
        return np.vstack((x[0], np.zeros_like(x[0])))
    return np.vstack((0.5 * (x[0] + x[1]), 0.5 * (x[0] - x[1])))


def _smooth_db(freqs: np.ndarray, ratio_db: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Energy-weighted average of ``ratio_db`` over ±1/(2·SMOOTHING_OCTAVES) octave around each bin."""
    half = 2.0 ** (0.5 / SMOOTHING_OCTAVES)
    cw = np.concatenate(([0.0], np.cumsum(weight)))
    cv = np.concatenate(([0.0], np.cumsum(weight * ratio_db)))
    lo = np.searchsorted(freqs, freqs / half, side="left")
    hi = np.searchsorted(freqs, freqs * half, side="right")
    total = cw[hi] - cw[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        smoothed = (cv[hi] - cv[lo]) / total
    return np.where(total > 0, smoothed, 0.0)


def correction_db(
    freqs: np.ndarray, mix_power: np.ndarray, ref_power: np.ndarray, offset_db: float | None = None
) -> tuple[np.ndarray, float]:
    """The smoothed, centred, limited EQ curve (dB per bin) that turns mix into reference.

    The curve is shifted by ``offset_db`` (by default its own energy-weighted
    mean over the band, so it is centred on 0 dB) and returned with the
    offset used: the side curve takes the mid's offset, so a difference in
    width (side against mid) survives the centring.
    """
    tiny = 1e-30
    ratio = 10.0 * np.log10((ref_power + tiny) / (mix_power + tiny))
    # weight by the mix's own energy (log-spaced smoothing of a sparse spectrum)
    weight = np.sqrt(mix_power * ref_power) + tiny
    curve = _smooth_db(freqs, ratio, weight)
    band = (freqs >= LOW_HZ) & (freqs <= HIGH_HZ)
    # centre: 0 dB at the energy-weighted mean over the band (the level is set later)
    if offset_db is None:
        offset_db = float(np.sum(curve[band] * weight[band]) / np.sum(weight[band]))
    curve = np.clip(curve - offset_db, -MAX_CORRECTION_DB, MAX_CORRECTION_DB)
    # fade to 0 dB outside the band over an octave, in log-frequency
    with np.errstate(divide="ignore"):
        octs_below = np.log2(LOW_HZ / np.maximum(freqs, 1e-9))
        octs_above = np.log2(np.maximum(freqs, 1e-9) / HIGH_HZ)
    fade = np.clip(1.0 - np.maximum(octs_below, octs_above), 0.0, 1.0)
    return curve * fade, offset_db


def linear_phase_fir(freqs: np.ndarray, curve_db: np.ndarray, sample_rate: float) -> np.ndarray:
    """A ``FIR_TAPS``-tap linear-phase FIR whose magnitude follows ``curve_db`` (frequency sampling)."""
    grid = np.fft.rfftfreq(FIR_TAPS, 1.0 / sample_rate)
    magnitude = 10.0 ** (np.interp(grid, freqs, curve_db) / 20.0)
    impulse = np.fft.irfft(magnitude, FIR_TAPS)  # zero phase, wrapped around 0
    impulse = np.roll(impulse, FIR_TAPS // 2) * np.hanning(FIR_TAPS)
    return impulse


@dataclass
class MatchEq:
    mid_fir: np.ndarray
    side_fir: np.ndarray
    mid_db: np.ndarray
    side_db: np.ndarray
    freqs: np.ndarray

    @property
    def latency(self) -> int:
        return FIR_TAPS // 2

    def octave_summary(self) -> dict[str, dict[str, float]]:
        """The mid and side corrections at the octave centres (dB)."""
        out: dict[str, dict[str, float]] = {}
        for fc in OCTAVE_CENTRES_HZ:
            label = f"{fc:g}" if fc < 1000 else f"{fc / 1000:g}k"
            out[label] = {
                "mid": float(np.interp(fc, self.freqs, self.mid_db)),
                "side": float(np.interp(fc, self.freqs, self.side_db)),
            }
        return out


def design_match(mix: MidSideSpectrum, reference: MidSideSpectrum) -> MatchEq:
    """Mid and side FIRs that give ``mix`` the balance of ``reference`` (at the mix's rate)."""
    ref_mid = np.interp(mix.freqs, reference.freqs, reference.mid)
    ref_side = np.interp(mix.freqs, reference.freqs, reference.side)
    mid_db, offset = correction_db(mix.freqs, mix.mid, ref_mid)
    side_ok = all(
        s.sum() > m.sum() * 10 ** (SIDE_FLOOR_DB / 10)
        for s, m in ((mix.side, mix.mid), (ref_side, ref_mid))
    )
    side_db = (
        correction_db(mix.freqs, mix.side, ref_side, offset)[0]
        if side_ok
        else np.zeros_like(mid_db)
    )
    return MatchEq(
        linear_phase_fir(mix.freqs, mid_db, mix.sample_rate),
        linear_phase_fir(mix.freqs, side_db, mix.sample_rate),
        mid_db,
        side_db,
        mix.freqs,
    )


def apply_match(
    source: str | Path, out: Path, eq: MatchEq, block: int = DEFAULT_FILE_BLOCK
) -> None:
    """Filter ``source``'s mid and side through the match FIRs into a float WAV at ``out``."""
    taps = eq.mid_fir.size
    skip = eq.latency
    with (
        open_audio(source) as handle,
        sf.SoundFile(
            str(out), "w", samplerate=handle.samplerate, channels=handle.channels, subtype="FLOAT"
        ) as writer,
    ):
        channels = handle.channels
        check_channels(source, channels)
        tail = np.zeros((2, taps - 1))

        def emit(ms: np.ndarray) -> None:
            nonlocal skip
            if skip:
                cut = min(skip, ms.shape[1])
                ms, skip = ms[:, cut:], skip - cut
            if ms.shape[1] == 0:
                return
            mid, side = ms
            y = np.vstack((mid + side, mid - side)) if channels > 1 else mid[np.newaxis, :]
            writer.write(y.T)

        def filtered(ms: np.ndarray) -> np.ndarray:
            nonlocal tail
            y = np.vstack((oaconvolve(ms[0], eq.mid_fir), oaconvolve(ms[1], eq.side_fir)))
            y[:, : taps - 1] += tail
            n = ms.shape[1]
            tail = y[:, n:].copy()
            return y[:, :n]

        for x in iter_blocks(handle, block, source):
            emit(filtered(_to_mid_side(x)))
        # flush: the last `latency` samples are still in the filter
        remaining = eq.latency
        while remaining > 0:
            n = min(block, remaining)
            emit(filtered(np.zeros((2, n))))
            remaining -= n


def match_db_at(eq: MatchEq, hz: float) -> tuple[float, float]:
    return float(np.interp(hz, eq.freqs, eq.mid_db)), float(np.interp(hz, eq.freqs, eq.side_db))


__all__ = [
    "MatchEq",
    "MidSideSpectrum",
    "apply_match",
    "check_channels",
    "correction_db",
    "design_match",
    "linear_phase_fir",
    "match_db_at",
    "mid_side_spectrum",
]
