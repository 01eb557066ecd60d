"""Is there a kick drum?  Low-frequency transients in the 40-120 Hz band, measured in one stream.

Advice that names the kick ("check the kick/bass balance") is only right
when the programme has one.  A kick is *percussive* low end: its energy is
spread across the band for a moment (a pitch sweep and a click), where a bass
note, a sung bass line or a voice holds one harmonic steady in time.  That is
the split of harmonic/percussive source separation by median filtering
(Fitzgerald, "Harmonic/percussive separation using median filtering", DAFx
2010): on a spectrogram, a median along time keeps the steady (harmonic)
part, a median along frequency the broadband (percussive) part, and a soft
mask P²/(P² + H²) gives each bin's percussive share.

The programme is low-passed and decimated to about 1 kHz as it streams (the
band of interest is below 200 Hz), so a long file costs little memory; the
separation runs afterwards in chunks.  A kick is reported when the
percussive energy in 40-120 Hz is at least ``KICK_MIN_DB`` of the
programme's energy (a kick that carries the beat, not a stray thump) and its
onsets come at least ``KICK_MIN_RATE`` times a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import butter, find_peaks, sosfilt, stft

KICK_BAND_HZ = (40.0, 120.0)
KICK_MIN_DB = -20.0  # percussive 40-120 Hz energy re. the programme's whole energy
KICK_MIN_RATE = 0.5  # onsets a second
ONSET_PROMINENCE_DB = 10.0  # a hit rises this far out of the percussive envelope
ONSET_RANGE_DB = 20.0  # and is within this of the loudest hit
DECIMATED_HZ = 1000.0
ANTI_ALIAS_HZ = 400.0
FRAME = 64  # STFT length at ~1 kHz: 64 ms, 15.6 Hz bins
HOP = 8  # 8 ms
HARMONIC_SPAN_S = 0.2  # the median along time (steady parts)
PERCUSSIVE_SPAN_HZ = 100.0  # the median along frequency (broadband parts)
CHUNK_FRAMES = 4096  # frames separated at once (about 33 s)


@dataclass
class KickReport:
    """What the kick detector found."""

    detected: bool
    onsets_per_s: float
    percussive_low_db: float  # percussive 40-120 Hz energy re. the programme (dB)


class KickDetector:
    """Stream a programme's channel mean through :meth:`add`, then :meth:`finish`."""

    def __init__(self, sample_rate: float) -> None:
        self.decimation = max(1, int(sample_rate // DECIMATED_HZ))
        self.rate = sample_rate / self.decimation
        self.anti_alias = butter(8, ANTI_ALIAS_HZ, "lowpass", fs=sample_rate, output="sos")
        self.zi = np.zeros((self.anti_alias.shape[0], 2))
        self.phase = 0  # index, within the next block, of the next sample to keep
        self.kept: list[np.ndarray] = []
        self.energy = 0.0
        self.frames = 0

    def add(self, mono: np.ndarray) -> None:
        y, self.zi = sosfilt(self.anti_alias, mono, zi=self.zi)
        self.kept.append(y[self.phase :: self.decimation].copy())
        self.phase = (self.phase - mono.size) % self.decimation
        self.energy += float(np.dot(mono, mono))
        self.frames += mono.size

    def finish(self) -> KickReport:
        y = np.concatenate(self.kept) if self.kept else np.empty(0)
        duration = self.frames / (self.rate * self.decimation)
        if self.energy <= 0 or y.size < 2 * FRAME:
            return KickReport(False, 0.0, -math.inf)
        band = sosfilt(butter(4, KICK_BAND_HZ, "bandpass", fs=self.rate, output="sos"), y)
        band_energy = float(np.dot(band, band))
        percussive, steady = _separate(y, self.rate)
        total = float(percussive.sum() + steady.sum())
        share = float(percussive.sum()) / total if total > 0 else 0.0
        ratio = share * band_energy * self.decimation / self.energy
        level = 10 * math.log10(ratio) if ratio > 0 else -math.inf
        rate = _onsets(percussive, self.rate / HOP) / duration
        return KickReport(level >= KICK_MIN_DB and rate >= KICK_MIN_RATE, rate, level)


def _separate(y: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the percussive and the steady energy in the kick band (chunked, bounded memory)."""
    time_span = int(HARMONIC_SPAN_S * rate / HOP) | 1
    freq_span = int(PERCUSSIVE_SPAN_HZ / (rate / FRAME)) | 1
    margin = time_span  # frames of context either side of a chunk, for the time median
    hops = (y.size - FRAME) // HOP + 1
    percussive, steady = np.zeros(hops), np.zeros(hops)
    for first in range(0, hops, CHUNK_FRAMES):
        start = max(0, first - margin)
        stop = min(hops, first + CHUNK_FRAMES + margin)
        segment = y[start * HOP : (stop - 1) * HOP + FRAME]
        freqs, _, z = stft(segment, rate, "hann", FRAME, FRAME - HOP, boundary=None, padded=False)
        power = np.abs(z[freqs <= 2 * KICK_BAND_HZ[1]]) ** 2
        harmonic = median_filter(power, size=(1, time_span), mode="nearest")
        broadband = median_filter(power, size=(freq_span, 1), mode="nearest")
        with np.errstate(invalid="ignore", divide="ignore"):
            mask = np.nan_to_num(broadband**2 / (broadband**2 + harmonic**2))
        low = freqs[: power.shape[0]]
        inside = (low >= KICK_BAND_HZ[0]) & (low <= KICK_BAND_HZ[1])
        count = min(CHUNK_FRAMES, hops - first)  # this chunk's own frames, without the margins
        keep = slice(first - start, first - start + count)
        band_power, band_mask = power[inside][:, keep], mask[inside][:, keep]
        percussive[first : first + count] = (band_power * band_mask).sum(axis=0)
        steady[first : first + count] = (band_power * (1.0 - band_mask)).sum(axis=0)
    return percussive, steady


def _onsets(percussive: np.ndarray, frame_rate: float) -> int:
    """Hits in the percussive envelope: prominent peaks, 100 ms apart, near the loudest."""
    with np.errstate(divide="ignore"):
        envelope = 10 * np.log10(percussive)
    envelope = np.where(np.isfinite(envelope), envelope, -300.0)
    peaks, _ = find_peaks(
        envelope, prominence=ONSET_PROMINENCE_DB, distance=max(1, int(0.1 * frame_rate))
    )
    return int(np.sum(envelope[peaks] > envelope.max() - ONSET_RANGE_DB))
