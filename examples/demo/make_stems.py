"""Synthesise the demo's stems: drums, bass, keys and a vocal-like line.

Eight bars at 100 BPM in A minor (Am - F - C - G, twice), about 19 seconds,
written to ``stems/`` next to this script as 48 kHz 24-bit WAV.  The output
is deterministic (fixed seed) and the work is skipped when every stem exists
and is newer than this script.

Everything is vectorised with numpy/scipy: notes and drum hits are placed by
slicing, filters run through ``sosfilt``; the only loops are over notes,
events and 128-sample filter blocks, never over samples.

    python examples/demo/make_stems.py [--force]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

SR = 48_000
BPM = 100.0
BEAT = 60.0 / BPM  # seconds per beat
BAR = 4 * BEAT
BARS = 8
TAIL = 1.0  # seconds of release after the last bar
DURATION = BARS * BAR + TAIL
PEAK_DBFS = -6.0
SEED = 20_260_101

STEM_DIR = Path(__file__).resolve().parent / "stems"
STEMS = ("drums", "bass", "keys", "vocal")

# Chord roots (MIDI) and chord tones, one chord per bar: Am  F  C  G, repeated.
PROGRESSION: list[tuple[int, tuple[int, ...]]] = [
    (33, (57, 60, 64, 69)),  # Am: bass A1, chord A3 C4 E4 A4
    (29, (57, 60, 65, 69)),  # F:  bass F1, chord A3 C4 F4 A4
    (36, (55, 60, 64, 67)),  # C:  bass C2, chord G3 C4 E4 G4
    (31, (55, 59, 62, 67)),  # G:  bass G1, chord G3 B3 D4 G4
] * 2


# --------------------------------------------------------------------------- helpers


def midi_hz(note: float | np.ndarray) -> float | np.ndarray:
    """Equal-tempered frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(note, dtype=float) - 69.0) / 12.0)


def frames(seconds: float) -> int:
    return int(round(seconds * SR))


def silence(channels: int = 1) -> np.ndarray:
    return np.zeros((channels, frames(DURATION)))


def place(out: np.ndarray, sound: np.ndarray, start_s: float, gain: float = 1.0) -> None:
    """Mix ``sound`` (channels, n) or (n,) into ``out`` from ``start_s``, clipped to the end."""
    start = frames(start_s)
    sound = np.atleast_2d(sound)
    n = min(sound.shape[1], out.shape[1] - start)
    if n > 0:
        out[:, start : start + n] += gain * sound[:, :n]


def adsr(n: int, attack: float, decay: float, sustain: float, release: float) -> np.ndarray:
    """Linear attack, exponential decay to ``sustain``, held, then exponential release.

    ``n`` is the gated length in samples; the release tail follows it.
    """
    total = n + frames(release * 5)
    t = np.arange(total) / SR
    env = sustain + (1.0 - sustain) * np.exp(-np.maximum(t - attack, 0.0) / max(decay, 1e-4))
    env = np.where(t < attack, t / max(attack, 1e-4), env)
    gate_off = n / SR
    level_at_off = env[min(n, total - 1)]
    tail = level_at_off * np.exp(-(t - gate_off) / max(release, 1e-4))
    return np.where(t < gate_off, env, tail)


def phase_of(freq_hz: np.ndarray) -> np.ndarray:
    """Running phase in cycles for a per-sample frequency curve."""
    return np.cumsum(freq_hz) / SR


def poly_blep_saw(phase: np.ndarray, freq_hz: np.ndarray) -> np.ndarray:
    """Band-limited sawtooth (PolyBLEP) from a phase in cycles: few audible aliases."""
    frac = phase % 1.0
    dt = np.clip(freq_hz / SR, 1e-9, 0.5)
    saw = 2.0 * frac - 1.0
    # The residual smooths the step at each wrap, one sample either side of it.
    rise = frac < dt
    x = frac[rise] / dt[rise]
    saw[rise] -= x + x - x * x - 1.0
    fall = frac > 1.0 - dt
    x = (frac[fall] - 1.0) / dt[fall]
    saw[fall] -= x * x + x + x + 1.0
    return saw


def rbj_lowpass(cutoff_hz: float, q: float) -> np.ndarray:
    """One biquad section (RBJ cookbook low-pass) as an sos row."""
    w0 = 2.0 * np.pi * min(cutoff_hz, 0.45 * SR) / SR
    alpha = np.sin(w0) / (2.0 * q)
    cw = np.cos(w0)
    b = np.array([(1 - cw) / 2, 1 - cw, (1 - cw) / 2])
    a = np.array([1 + alpha, -2 * cw, 1 - alpha])
    return np.concatenate([b / a[0], a / a[0]])


def rbj_bandpass(centre_hz: float, bandwidth_hz: float) -> np.ndarray:
    """One biquad section (RBJ cookbook band-pass, 0 dB peak) as an sos row."""
    w0 = 2.0 * np.pi * centre_hz / SR
    q = centre_hz / bandwidth_hz
    alpha = np.sin(w0) / (2.0 * q)
    b = np.array([alpha, 0.0, -alpha])
    a = np.array([1 + alpha, -2 * np.cos(w0), 1 - alpha])
    return np.concatenate([b / a[0], a / a[0]])


def swept_lowpass(x: np.ndarray, cutoff_hz: np.ndarray, q: float, block: int = 128) -> np.ndarray:
    """Filter ``x`` through a 4-pole low-pass whose cutoff follows ``cutoff_hz``.

    The coefficients change every ``block`` samples and the filter state is
    carried across, the usual control-rate approach of a synthesiser.
    """
    out = np.empty_like(x)
    zi = np.zeros((2, 2))
    for start in range(0, len(x), block):
        fc = float(cutoff_hz[start])
        sos = np.stack([rbj_lowpass(fc, q), rbj_lowpass(fc, 0.707)])
        out[start : start + block], zi = signal.sosfilt(sos, x[start : start + block], zi=zi)
    return out


def normalise(x: np.ndarray, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """Scale so the highest sample peak sits at ``peak_dbfs``."""
    peak = float(np.max(np.abs(x)))
    return x if peak == 0.0 else x * (10.0 ** (peak_dbfs / 20.0) / peak)


def fade_out(x: np.ndarray, seconds: float = 0.05) -> np.ndarray:
    """A short fade at the very end so no stem stops on a click."""
    n = frames(seconds)
    x[..., -n:] *= np.linspace(1.0, 0.0, n)
    return x


# --------------------------------------------------------------------------- drums


def kick(rng: np.random.Generator) -> np.ndarray:
    """A sine swept from 150 Hz down to 48 Hz, exponential decay, plus a short click."""
    t = np.arange(frames(0.5)) / SR
    freq = 48.0 + (150.0 - 48.0) * np.exp(-t / 0.035)
    body = np.sin(2 * np.pi * phase_of(freq)) * np.exp(-t / 0.18)
    click = rng.standard_normal(len(t)) * np.exp(-t / 0.002) * 0.3
    return body + signal.sosfilt(signal.butter(2, 3000, "lowpass", fs=SR, output="sos"), click)


def snare(rng: np.random.Generator) -> np.ndarray:
    """A band-limited noise burst over a two-partial tone body."""
    t = np.arange(frames(0.35)) / SR
    noise = signal.sosfilt(
        signal.butter(2, [1200, 9000], "bandpass", fs=SR, output="sos"),
        rng.standard_normal(len(t)),
    )
    body = np.sin(2 * np.pi * 185 * t) + 0.5 * np.sin(2 * np.pi * 330 * t)
    return 0.9 * noise * np.exp(-t / 0.07) + 0.6 * body * np.exp(-t / 0.04)


def hat(rng: np.random.Generator, decay: float) -> np.ndarray:
    """High-passed noise tick."""
    t = np.arange(frames(decay * 6)) / SR
    sos = signal.butter(4, 7000, "highpass", fs=SR, output="sos")
    return signal.sosfilt(sos, rng.standard_normal(len(t))) * np.exp(-t / decay)


def drums(rng: np.random.Generator) -> np.ndarray:
    """A two-bar groove, repeated: kick on 1 and 3 (with a push into bar two),
    snare on 2 and 4, closed hats on eighths with accents, a fill at the end."""
    k, s = kick(rng), snare(rng)
    hats = [hat(rng, 0.018) for _ in range(4)]  # a few variants so the hats don't machine-gun
    kit = silence(2)
    # positions in beats within the two-bar pattern
    kicks = [0.0, 2.0, 2.5, 4.0, 5.5, 6.0]
    snares = [1.0, 3.0, 5.0, 7.0]
    ghost_snares = [3.75, 7.75]
    for bar_pair in range(BARS // 2):
        origin = bar_pair * 2 * BAR
        for beat in kicks:
            place(kit, np.stack([k, k]), origin + beat * BEAT, 0.9)
        for beat in snares:
            place(kit, np.stack([s * 0.95, s]), origin + beat * BEAT, 0.7)
        for beat in ghost_snares:
            place(kit, np.stack([s, s]), origin + beat * BEAT, 0.15)
        for i in range(16):
            accent = 0.35 if i % 2 == 0 else 0.2
            h = hats[i % len(hats)]
            # hats sit a little right of centre
            place(kit, np.stack([0.8 * h, h]), origin + i * 0.5 * BEAT, accent)
    # a snare fill over the last two beats
    fill_start = (BARS - 1) * BAR + 2 * BEAT
    for i in range(8):
        place(kit, np.stack([s, s]), fill_start + i * 0.25 * BEAT, 0.25 + 0.06 * i)
    place(kit, np.stack([k, k]), BARS * BAR, 0.9)  # the final downbeat
    return fade_out(normalise(kit))


# --------------------------------------------------------------------------- bass


def bass(rng: np.random.Generator) -> np.ndarray:
    """Mono saw bass on the chord roots, through a low-pass whose cutoff jumps
    with each note and decays: the classic filter-envelope pluck."""
    # (beat offset in the bar, length in beats, semitones above the root)
    pattern = [(0.0, 1.5, 0), (1.5, 0.5, 0), (2.0, 1.0, 12), (3.0, 0.5, 7), (3.5, 0.5, 0)]
    n = frames(DURATION)
    freq = np.full(n, midi_hz(PROGRESSION[0][0]))
    gate_env = np.zeros(n)
    filter_env = np.zeros(n)
    for bar, (root, _) in enumerate(PROGRESSION):
        for offset, length, step in pattern:
            start = frames(bar * BAR + offset * BEAT)
            env = adsr(frames(length * BEAT * 0.9), 0.004, 0.15, 0.7, 0.04)
            end = min(start + len(env), n)
            freq[start:] = midi_hz(root + step)
            gate_env[start:end] = np.maximum(gate_env[start:end], env[: end - start])
            t = np.arange(end - start) / SR
            filter_env[start:end] = np.exp(-t / 0.12)
    phase = phase_of(freq)
    saw = poly_blep_saw(phase, freq) + 0.5 * np.sin(2 * np.pi * phase)  # sine adds weight
    cutoff = 220.0 + 1600.0 * filter_env
    out = swept_lowpass(saw * gate_env, cutoff, q=1.6)
    return fade_out(normalise(out[None, :]))


# --------------------------------------------------------------------------- keys


def keys_voice(note: int, n: int, detune_cents: float) -> np.ndarray:
    """One voice: a soft electric-piano-like tone (a few decaying harmonics)."""
    t = np.arange(n) / SR
    f = midi_hz(note + detune_cents / 100.0)
    partials = [(1, 1.0, 1.2), (2, 0.35, 0.6), (3, 0.12, 0.35), (4, 0.06, 0.2)]
    return sum(a * np.sin(2 * np.pi * k * f * t) * np.exp(-t / d) for k, a, d in partials)


def keys(rng: np.random.Generator) -> np.ndarray:
    """Stereo chords: each chord tone is three voices detuned by a few cents,
    spread across the stereo field; two hits per bar."""
    out = silence(2)
    hits = [(0.0, 1.5), (2.5, 1.5)]  # (beat offset, held beats)
    detunes = [(-7.0, 0.85), (0.0, 0.5), (+7.0, 0.15)]  # (cents, position 0 = left .. 1 = right)
    for bar, (_, chord) in enumerate(PROGRESSION):
        for offset, length in hits:
            gate = frames(length * BEAT)
            env = adsr(gate, 0.008, 0.6, 0.45, 0.25)
            for note in chord:
                for cents, position in detunes:
                    cents += float(rng.normal(0.0, 1.0))  # slight random drift per hit
                    voice = keys_voice(note, len(env), cents) * env
                    # constant-power placement of each detuned voice
                    left, right = np.cos(position * np.pi / 2), np.sin(position * np.pi / 2)
                    place(out, np.stack([left * voice, right * voice]), bar * BAR + offset * BEAT)
    sos = signal.butter(2, 5000, "lowpass", fs=SR, output="sos")  # take the edge off
    return fade_out(normalise(signal.sosfilt(sos, out, axis=1)))


# --------------------------------------------------------------------------- vocal

# Alto formants: centre Hz, relative level dB, bandwidth Hz (after the
# classic Csound formant table).
VOWELS: dict[str, list[tuple[float, float, float]]] = {
    "a": [(800, 0, 80), (1150, -4, 90), (2800, -20, 120), (3500, -36, 130), (4950, -60, 140)],
    "e": [(400, 0, 60), (1600, -24, 80), (2700, -30, 120), (3300, -35, 150), (4950, -60, 200)],
    "i": [(350, 0, 50), (1700, -20, 100), (2700, -30, 120), (3700, -36, 150), (4950, -60, 200)],
    "o": [(450, 0, 70), (800, -9, 80), (2830, -16, 100), (3500, -28, 130), (4950, -55, 135)],
    "u": [(325, 0, 50), (700, -12, 60), (2530, -30, 170), (3500, -40, 180), (4950, -64, 200)],
}

# The melody: (start beat from the top, length in beats, MIDI note, vowel).
# Two phrases per four bars, with rests between them to breathe.
MELODY: list[tuple[float, float, int, str]] = [
    (1.0, 1.0, 64, "o"), (2.0, 0.5, 67, "a"), (2.5, 1.5, 69, "a"),
    (4.5, 0.5, 67, "e"), (5.0, 1.0, 64, "i"), (6.0, 2.0, 62, "o"),
    (9.0, 1.0, 60, "a"), (10.0, 1.0, 62, "e"), (11.0, 1.0, 64, "a"),
    (12.0, 0.5, 67, "o"), (12.5, 0.5, 64, "u"), (13.0, 2.5, 62, "o"),
    (17.0, 1.0, 64, "o"), (18.0, 0.5, 67, "a"), (18.5, 1.5, 72, "a"),
    (20.5, 0.5, 71, "e"), (21.0, 1.0, 69, "i"), (22.0, 2.0, 67, "o"),
    (25.0, 1.0, 69, "a"), (26.0, 1.0, 67, "e"), (27.0, 1.0, 64, "a"),
    (28.0, 1.0, 62, "o"), (29.0, 3.0, 64, "a"),
]  # fmt: skip


def glottal_source(freq: np.ndarray) -> np.ndarray:
    """A Rosenberg glottal pulse train, differentiated for lip radiation."""
    frac = phase_of(freq) % 1.0
    open_end, close_end = 0.4, 0.56  # fractions of the period: opening, closing
    pulse = np.where(
        frac < open_end,
        0.5 * (1.0 - np.cos(np.pi * frac / open_end)),
        np.where(frac < close_end, np.cos(0.5 * np.pi * (frac - open_end) / (close_end - open_end)), 0.0),
    )
    return np.diff(pulse, prepend=0.0) * SR / 1000.0


def pitch_curve(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample f0 with portamento and delayed vibrato; and the loudness envelope."""
    notes = np.full(n, float(MELODY[0][2]))
    vibrato_depth = np.zeros(n)
    amp = np.zeros(n)
    for start_beat, length, note, _ in MELODY:
        start = frames(start_beat * BEAT)
        gate = frames(length * BEAT * 0.92)
        notes[start:] = note
        t = np.arange(gate) / SR
        # vibrato eases in after ~150 ms, as a singer's does on held notes
        vibrato_depth[start : start + gate] = 0.35 * np.clip((t - 0.15) / 0.3, 0.0, 1.0)
        env = adsr(gate, 0.05, 0.3, 0.85, 0.07)
        end = min(start + len(env), n)
        amp[start:end] = np.maximum(amp[start:end], env[: end - start])
    # portamento: a one-pole glide (about 40 ms) between note numbers
    glide = np.exp(-1.0 / (0.04 * SR))
    notes = signal.lfilter([1 - glide], [1, -glide], notes, zi=[notes[0] * glide])[0]
    t = np.arange(n) / SR
    vibrato = vibrato_depth * np.sin(2 * np.pi * 5.6 * t)  # semitones
    return np.asarray(midi_hz(notes - 12 + vibrato)), amp  # sung an octave below the chords


def vowel_weights(n: int) -> dict[str, np.ndarray]:
    """For each vowel, a 0..1 weight per sample, crossfading over ~30 ms."""
    raw = {v: np.zeros(n) for v in VOWELS}
    for start_beat, _, _, vowel in MELODY:
        start = frames(start_beat * BEAT)
        for v, w in raw.items():
            w[start:] = 1.0 if v == vowel else 0.0
    smooth = signal.butter(1, 12.0, "lowpass", fs=SR, output="sos")
    zi = signal.sosfilt_zi(smooth)
    return {v: signal.sosfilt(smooth, w, zi=zi * w[0])[0] for v, w in raw.items()}


def formant_filter(x: np.ndarray, vowel: str) -> np.ndarray:
    """The vocal tract for one vowel: parallel band-passes at its formants."""
    out = np.zeros_like(x)
    for centre, level_db, bandwidth in VOWELS[vowel]:
        out += 10.0 ** (level_db / 20.0) * signal.sosfilt(rbj_bandpass(centre, bandwidth)[None, :], x)
    return out


def vocal(rng: np.random.Generator) -> np.ndarray:
    """A vocal-like line: glottal pulses with vibrato and a little breath noise,
    shaped by formant filters that glide between vowels."""
    n = frames(DURATION)
    freq, amp = pitch_curve(n)
    breath = signal.sosfilt(
        signal.butter(2, [1500, 6000], "bandpass", fs=SR, output="sos"), rng.standard_normal(n)
    )
    # the shimmer (slow random loudness wobble) keeps it from sounding mechanical
    shimmer = 1.0 + 0.05 * signal.sosfilt(
        signal.butter(1, 6.0, "lowpass", fs=SR, output="sos"), rng.standard_normal(n)
    )
    source = glottal_source(freq) * amp * shimmer + 0.02 * breath * amp
    weights = vowel_weights(n)
    voice = sum(formant_filter(source, v) * w for v, w in weights.items())
    return fade_out(normalise(voice[None, :]))


# --------------------------------------------------------------------------- main

INSTRUMENTS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "drums": drums,
    "bass": bass,
    "keys": keys,
    "vocal": vocal,
}


def up_to_date(stem_dir: Path) -> bool:
    """True when every stem exists and is newer than this script."""
    script_time = Path(__file__).stat().st_mtime
    paths = [stem_dir / f"{name}.wav" for name in STEMS]
    return all(p.exists() and p.stat().st_mtime > script_time for p in paths)


def write_stem(path: Path, audio: np.ndarray) -> None:
    """Write (channels, frames) audio as 24-bit WAV, via a temp file so a
    crash never leaves a half-written stem that looks up to date."""
    tmp = path.with_name(path.name + ".tmp")
    sf.write(tmp, audio.T, SR, subtype="PCM_24", format="WAV")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the stems are up to date")
    parser.add_argument("--out", type=Path, default=STEM_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)

    if not args.force and up_to_date(args.out):
        print(f"stems up to date in {args.out}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(STEMS):
        # one generator per instrument, so changing one part leaves the others bit-identical
        rng = np.random.default_rng([SEED, index])
        audio = INSTRUMENTS[name](rng)
        write_stem(args.out / f"{name}.wav", audio)
        peak = 20 * np.log10(np.max(np.abs(audio)))
        channels = "mono" if audio.shape[0] == 1 else "stereo"
        print(f"  {name:6s} {channels:6s} {audio.shape[1] / SR:5.1f} s  peak {peak:5.1f} dBFS")
    print(f"wrote {len(STEMS)} stems to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
