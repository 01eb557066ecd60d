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


# a four-part chorale in C major: (soprano, alto, tenor, bass) MIDI notes, one chord each step
CHORALE_CHORDS = np.array(
    [
        (72, 67, 64, 48), (72, 69, 65, 53), (71, 67, 62, 55), (72, 67, 64, 48),
        (69, 69, 64, 57), (71, 67, 62, 55), (72, 65, 60, 53), (74, 67, 59, 55),
        (72, 67, 64, 52), (69, 65, 60, 53), (67, 62, 59, 55), (67, 64, 60, 48),
    ]
)


def chorale(
    seconds: float, sample_rate: float = 48000.0, seed: int = 0, level_db: float = -20.0
) -> np.ndarray:
    """A four-part chorale, shape ``(2, frames)``: sung-like harmonic voices, no percussion.

    Each part is sung by three voices, a few cents apart, that glide legato
    between the chord tones of :data:`CHORALE_CHORDS` (1.5 s a chord) with a
    singer's vibrato (about 5.5 Hz, ±1.5 %).  The spectrum falls steeply above
    about 3.5 kHz, as a choir's does; a short diffuse reverb tail (decaying
    noise, different in each channel) places it in a room.
    """
    from scipy.signal import butter, fftconvolve

    rng = np.random.default_rng(seed)
    fs = float(sample_rate)
    frames = int(round(seconds * fs))
    # the saw's 1/k harmonics under a 4th-order low-pass: a sung tone's 24 dB/octave fall
    rolloff = butter(4, 3500.0, "lowpass", fs=fs, output="sos")
    t = np.arange(frames) / fs
    step = (t // 1.5).astype(int) % len(CHORALE_CHORDS)
    glide = max(1, int(0.04 * fs))  # 40 ms portamento between notes
    dry = np.zeros((2, frames))
    for part in range(4):
        midi = uniform_filter1d(CHORALE_CHORDS[step, part].astype(float), glide, mode="nearest")
        swell = 0.8 + 0.2 * np.sin(2 * np.pi * t / 6.0 + part)  # phrasing
        for singer in range(3):
            cents = rng.uniform(-8.0, 8.0)
            f0 = 440.0 * 2.0 ** ((midi - 69.0 + cents / 100.0) / 12.0)
            rate = rng.uniform(5.0, 6.0)
            vibrato = 1.0 + 0.015 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
            tone = sosfilt(rolloff, _saw(f0 * vibrato, fs)) * swell
            pan = 0.3 + 0.1 * part + 0.05 * singer
            dry[0] += (1.0 - pan) * tone
            dry[1] += pan * tone
    tail = np.arange(int(1.2 * fs)) / fs
    decay_s = 0.25  # amplitude time constant: RT60 about 1.7 s
    # scaled so that the reverb carries a third of the dry energy (Σ h² = g² fs τ / 2)
    room = rng.standard_normal((2, tail.size)) * np.exp(-tail / decay_s)
    room *= np.sqrt((1 / 3) / (fs * decay_s / 2))
    out = dry + fftconvolve(dry, room, axes=1)[:, :frames]
    return out * 10.0 ** (level_db / 20.0) / np.sqrt(np.mean(out**2))


def _saw(f0: np.ndarray, fs: float) -> np.ndarray:
    """A sawtooth on the pitch track ``f0``, its jumps smoothed by polyBLEP (little aliasing).

    polyBLEP (Välimäki and Huovilainen 2007): the naive saw 2φ − 1 minus a
    two-sample polynomial step residual around each wrap of the phase φ.
    """
    dt = f0 / fs
    phi = np.cumsum(dt) % 1.0
    saw = 2.0 * phi - 1.0
    after = phi < dt  # the sample just after a wrap
    x = phi[after] / dt[after]
    saw[after] -= 2.0 * x - x * x - 1.0
    before = phi > 1.0 - dt  # the sample just before one
    x = (phi[before] - 1.0) / dt[before]
    saw[before] -= x * x + 2.0 * x + 1.0
    return saw


def electronic(
    seconds: float,
    sample_rate: float = 48000.0,
    seed: int = 0,
    level_db: float = -16.0,
    kick_db: float = 0.0,
    bass_db: float = 0.0,
) -> np.ndarray:
    """A four-on-the-floor electronic track, shape ``(2, frames)``: kick, bass, clap, hats, pad.

    124 bpm.  The kick is a 150 → 45 Hz sine sweep with a click, on every
    beat; the bass a low-passed saw on the off-beat eighths; a clap on beats
    2 and 4; hats on eighths; a detuned-saw pad holds the chords.  Kick and
    bass stay mono, hats and pad are wide.  ``kick_db`` and ``bass_db``
    change those two parts' levels before the whole is scaled to ``level_db``.
    """
    from scipy.signal import butter

    rng = np.random.default_rng(seed)
    fs = float(sample_rate)
    frames = int(round(seconds * fs))
    t = np.arange(frames) / fs
    beat = 60.0 / 124.0
    bar_index = (t // (4 * beat)).astype(int) % 4
    roots = np.array([45, 41, 43, 40])[bar_index]  # A1, F1, G1, E1 (MIDI)

    in_beat = t % beat
    sweep = 45.0 * in_beat + (150.0 - 45.0) * 0.03 * (1.0 - np.exp(-in_beat / 0.03))
    kick = np.sin(2.0 * np.pi * sweep) * np.exp(-in_beat / 0.12)
    kick += 0.3 * rng.standard_normal(frames) * np.exp(-in_beat / 0.002)

    eighth = beat / 2.0
    in_eighth = t % eighth
    off_beat = (t // eighth).astype(int) % 2 == 1
    gate = off_beat & (in_eighth < 0.8 * eighth)
    bass_f0 = 440.0 * 2.0 ** ((roots - 69.0) / 12.0)
    lowpass = butter(4, 400.0, "lowpass", fs=fs, output="sos")
    env = np.minimum(in_eighth / 0.005, 1.0) * gate
    bass = sosfilt(lowpass, _saw(bass_f0, fs)) * uniform_filter1d(env, int(0.005 * fs))

    noise = rng.standard_normal((2, frames))
    in_two = (t + beat) % (2 * beat)  # beats 2 and 4
    clap = sosfilt(butter(2, [900, 3500], "bandpass", fs=fs, output="sos"), noise, axis=1)
    clap *= np.exp(-in_two / 0.06)
    hats = sosfilt(butter(4, 7000, "highpass", fs=fs, output="sos"), noise[::-1], axis=1)
    hats *= np.exp(-in_eighth / 0.03)

    pad = np.zeros((2, frames))
    for interval in (12, 15, 19):  # a minor triad over the root, two octaves up
        f0 = 440.0 * 2.0 ** ((roots + 12 + interval - 69.0) / 12.0)
        pad[0] += _saw(f0 * 1.003, fs)
        pad[1] += _saw(f0 * 0.997, fs)
    pad = sosfilt(butter(2, 2500, "lowpass", fs=fs, output="sos"), pad, axis=1)

    mono = 0.6 * 10 ** (kick_db / 20) * kick + 0.4 * 10 ** (bass_db / 20) * bass
    out = mono + 0.4 * clap + 0.1 * hats + 0.15 * pad
    return out * 10.0 ** (level_db / 20.0) / np.sqrt(np.mean(out**2))
