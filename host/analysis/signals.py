"""Deterministic synthetic programme material for tests, benchmarks and demos.

``music()`` builds something with the statistics that matter to a loudness
meter and a limiter: tonal parts with note envelopes and harmonics, decaying
noise bursts (drum hits) with sharp transients, a bass line, stereo panning,
and a section structure (quiet verse, loud chorus) so the loudness range is
not zero.  Everything is vectorised and seeded, so a given call always gives
the same samples.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import sosfilt

A4_HZ = 440.0


def sine(
    level_dbfs: float,
    seconds: float,
    sample_rate: float = 48000.0,
    frequency: float = 1000.0,
    channels: int = 2,
    phase_deg: float = 0.0,
) -> np.ndarray:
    """A sine of peak ``level_dbfs`` in every channel, shape ``(channels, frames)``."""
    n = np.arange(int(round(seconds * sample_rate)))
    x = 10.0 ** (level_dbfs / 20.0) * np.sin(
        2.0 * np.pi * frequency * n / sample_rate + np.deg2rad(phase_deg)
    )
    return np.tile(x, (channels, 1))


def _note_hz(semitones_from_a4: np.ndarray) -> np.ndarray:
    return A4_HZ * 2.0 ** (semitones_from_a4 / 12.0)


def music(
    seconds: float,
    sample_rate: float = 48000.0,
    channels: int = 2,
    seed: int = 0,
    level_db: float = -18.0,
) -> np.ndarray:
    """Synthetic stereo-ish music, shape ``(channels, frames)``, RMS near ``level_db`` dBFS."""
    rng = np.random.default_rng(seed)
    fs = float(sample_rate)
    frames = int(round(seconds * fs))
    t = np.arange(frames) / fs
    beat = 0.5  # 120 bpm
    out = np.zeros((2, frames))

    # chords: four notes a bar, harmonics with 1/k amplitudes, per-note attack/decay envelope
    roots = np.array([0, -4, -7, -2])  # a minor-ish progression, in semitones from A4
    bar = 4 * beat
    bar_index = (t // bar).astype(int) % roots.size
    phase_in_beat = (t % beat) / beat
    envelope = np.minimum(phase_in_beat * 20.0, 1.0) * np.exp(-3.0 * phase_in_beat)
    for voice, interval in enumerate((0, 3, 7)):
        f0 = _note_hz(roots[bar_index] + interval - 12)
        phase = 2.0 * np.pi * np.cumsum(f0) / fs
        tone = sum(np.sin(k * phase) / k for k in range(1, 6))
        pan = 0.2 + 0.3 * voice
        out[0] += (1.0 - pan) * 0.15 * envelope * tone
        out[1] += pan * 0.15 * envelope * tone

    # bass: root an octave and a half down, slightly saturated
    f_bass = _note_hz(roots[bar_index] - 24)
    bass = np.tanh(1.5 * np.sin(2.0 * np.pi * np.cumsum(f_bass) / fs))
    out += 0.25 * bass * np.minimum(phase_in_beat * 50.0, 1.0)

    # drums: kick on beats (decaying low sine), snare-ish noise bursts off-beat, hats
    beat_t = t % beat
    kick = np.sin(2.0 * np.pi * (50.0 * beat_t + 60.0 * (1.0 - np.exp(-beat_t * 30.0)) / 30.0))
    out += 0.6 * kick * np.exp(-beat_t * 12.0)
    noise = rng.standard_normal((2, frames))
    off_beat = (t + beat / 2.0) % (2 * beat)
    snare = noise * np.exp(-off_beat * 25.0)
    band = np.array([[0.2, 0.4, 0.2, 1.0, -0.6, 0.3]])  # a gentle band-pass biquad
    out += 0.35 * sosfilt(band, snare, axis=1)
    hat_t = t % (beat / 2.0)
    hats = np.diff(noise, axis=1, prepend=0.0) * np.exp(-hat_t * 80.0)
    out += 0.08 * hats

    # sections: 8 s quiet verse, 8 s loud chorus, with 1 s ramps
    section = (t // 8.0).astype(int) % 2
    gain_db = np.where(section == 0, -8.0, 0.0)
    ramp = uniform_filter1d(gain_db, size=int(fs), mode="nearest")
    out *= 10.0 ** (ramp / 20.0)

    # scale to the requested RMS, then lay out the channels
    rms = np.sqrt(np.mean(out**2)) or 1.0
    out *= 10.0 ** (level_db / 20.0) / rms
    if channels == 1:
        return out.mean(axis=0, keepdims=True)
    if channels == 2:
        return out
    layout = np.zeros((channels, frames))
    layout[0], layout[1] = out[0], out[1]
    if channels > 2:
        layout[2] = 0.5 * (out[0] + out[1])
    for c in range(3, channels):
        layout[c] = 0.3 * out[c % 2]
    return layout
