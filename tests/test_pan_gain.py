"""Levels after gain and pan match the pan laws to 0.01 dB, measured on rendered audio."""

from __future__ import annotations

import math

import numpy as np
import pytest

import host
from tests.conftest import read_mix, rms_db, tone

SINE_RMS_DB = 20 * math.log10(0.5 / math.sqrt(2))


def expected_mono(law: str, pan: float) -> tuple[float, float]:
    x = (pan + 1) / 2
    theta = x * math.pi / 2
    laws = {
        "-3db": (math.cos(theta), math.sin(theta)),
        "-4.5db": (math.sqrt((1 - x) * math.cos(theta)), math.sqrt(x * math.sin(theta))),
        "-6db": (1 - x, x),
        "linear": (min(1.0, 1 - pan), min(1.0, 1 + pan)),
    }
    return laws[law]


def db(gain: float) -> float:
    return 20 * math.log10(gain) if gain > 0 else -math.inf


@pytest.mark.parametrize("law", ["-3db", "-4.5db", "-6db", "linear"])
@pytest.mark.parametrize("pan", [-1.0, -0.5, 0.0, 0.3, 1.0])
@pytest.mark.parametrize("gain_db", [0.0, -7.5])
def test_mono_source_follows_the_pan_law(write_audio, write_session, law, pan, gain_db):
    write_audio("a.wav", tone(channels=1))
    path = write_session(f"""
        session: {{sample_rate: 48000, pan_law: "{law}"}}
        tracks:
          a: {{source: a.wav, gain_db: {gain_db}, pan: {pan}}}
        outputs: {{mixdown: mix.wav, bit_depth: float}}
    """)
    host.load_session(path).render()
    mix = read_mix(path.parent / "mix.wav")[4800:]
    for channel, gain in enumerate(expected_mono(law, pan)):
        if gain == 0:
            assert np.max(np.abs(mix[:, channel])) < 1e-7
        else:
            assert rms_db(mix[:, channel]) == pytest.approx(SINE_RMS_DB + gain_db + db(gain), abs=0.01)


def test_centre_values_of_the_laws():
    # the names of the laws are their centre attenuations
    for law, centre in [("-3db", -3.01), ("-4.5db", -4.52), ("-6db", -6.02), ("linear", 0.0)]:
        left, right = expected_mono(law, 0.0)
        assert db(left) == pytest.approx(centre, abs=0.01) and db(right) == pytest.approx(centre, abs=0.01)


@pytest.mark.parametrize("pan", [-1.0, -0.4, 0.0, 0.6, 1.0])
def test_stereo_source_is_balanced(write_audio, write_session, pan):
    write_audio("s.wav", tone(channels=2))
    path = write_session(f"""
        tracks:
          s: {{source: s.wav, pan: {pan}}}
        outputs: {{mixdown: mix.wav, bit_depth: float}}
    """)
    host.load_session(path).render()
    mix = read_mix(path.parent / "mix.wav")[4800:]
    left, right = expected_mono("-3db", pan)
    centre = expected_mono("-3db", 0.0)[0]
    for channel, gain in enumerate((min(1.0, left / centre), min(1.0, right / centre))):
        if gain < 1e-12:
            assert np.max(np.abs(mix[:, channel])) < 1e-7
        else:
            assert rms_db(mix[:, channel]) == pytest.approx(SINE_RMS_DB + db(gain), abs=0.01)


def test_gain_stage_and_master_gain_add_up(write_audio, write_session):
    write_audio("a.wav", tone(channels=2))
    path = write_session("""
        tracks:
          a:
            source: a.wav
            gain_db: -2
            chain: [{type: gain, params: {gain_db: -3.5}}]
        master: {gain_db: 1.25}
        outputs: {mixdown: mix.wav, bit_depth: float}
    """)
    host.load_session(path).render()
    mix = read_mix(path.parent / "mix.wav")[4800:]
    assert rms_db(mix[:, 0]) == pytest.approx(SINE_RMS_DB - 2 - 3.5 + 1.25, abs=0.01)


@pytest.mark.parametrize("a_settings,b_settings", [("mute: true", ""), ("", "solo: true")])
def test_mute_and_solo_silence_a_track(write_audio, write_session, a_settings, b_settings):
    write_audio("a.wav", tone(1000, channels=2))
    write_audio("b.wav", tone(3000, channels=2))
    path = write_session(f"""
        tracks:
          a: {{source: a.wav, {a_settings}}}
          b: {{source: b.wav, {b_settings}}}
        outputs: {{mixdown: mix.wav, bit_depth: float}}
    """)
    host.load_session(path).render()
    mix = read_mix(path.parent / "mix.wav")[4800:, 0]
    spectrum = np.abs(np.fft.rfft(mix * np.hanning(len(mix))))
    freqs = np.fft.rfftfreq(len(mix), 1 / 48000)
    level_a = spectrum[np.argmin(np.abs(freqs - 1000))]
    level_b = spectrum[np.argmin(np.abs(freqs - 3000))]
    assert 20 * np.log10(level_a / level_b) < -100


@pytest.mark.parametrize(("address", "value", "left_db", "right_db"), [
    ("tracks/a/gain_db", -12.0, -12.0 + db(expected_mono("-3db", 0.5)[0]), -12.0 + db(expected_mono("-3db", 0.5)[1])),
    ("tracks/a/pan", -0.5, db(expected_mono("-3db", -0.5)[0]), db(expected_mono("-3db", -0.5)[1])),
    ("tracks/a/mute", 1.0, -math.inf, -math.inf),
])
def test_a_control_moved_after_a_rest_is_heard(write_audio, write_session, address, value, left_db, right_db):
    # while every control of a strip rests, a block reuses the last one's summing coefficients
    # (the rest path); a move must leave it
    from host.engine.graph import Graph

    write_audio("a.wav", tone(channels=1, seconds=2.0))
    path = write_session("""
        tracks:
          a: {source: a.wav, pan: 0.5}
    """)
    session = host.load_session(path)
    graph = Graph(session, block_size=128)
    graph.prepare()

    def run(blocks: int) -> np.ndarray:
        return np.concatenate([graph.process(i * 128, 128).copy() for i in range(blocks)], axis=1)

    first = run(100)
    assert graph.tracks[0]._at_rest  # the case under test is reached
    gains = expected_mono("-3db", 0.5)
    for channel in (0, 1):
        assert rms_db(first[channel, 4800:]) == pytest.approx(SINE_RMS_DB + db(gains[channel]), abs=0.01)
    session.set(address, value)
    moved = run(300)[:, -9600:]  # well after the 10 ms glide
    for channel, expected in enumerate((left_db, right_db)):
        if expected == -math.inf:
            assert np.max(np.abs(moved[channel])) < 1e-9
        else:
            assert rms_db(moved[channel]) == pytest.approx(SINE_RMS_DB + expected, abs=0.02)
    graph.close()
