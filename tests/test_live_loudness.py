"""Short-term loudness of the live master (EBU Tech 3341 "S"), read through MeterReader.

The engine runs with no device (``"none"``); a stereo live-input track is fed
generated signals block by block, as a backend would copy its ports in, so
the master carries exactly what the test made.  Every value is checked
against the spec's expected loudness, against the offline meter
(:class:`host.loudness.meter.LoudnessMeter`) over the same master output,
and, for steady tones, against pyloudnorm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

import host
from host.control.meters import MeterReader
from host.live.engine import LiveEngine
from host.live.metering import LoudnessRing
from host.loudness.meter import LoudnessMeter

LU_TOL = 0.1             # EBU Tech 3341 §3: ±0.1 LU
SESSION = """\
session:
  sample_rate: {rate}
tracks:
  line:
    input: [system:capture_1, system:capture_2]
outputs:
  mixdown: out/mix.wav
  bit_depth: float
  dither: false
"""

Signal = Callable[[np.ndarray], np.ndarray]      # time in s -> one channel's samples


def tone(dbfs: float) -> Signal:
    """Tech 3341's 997 Hz sine, ``dbfs`` peak, in both channels."""
    return lambda t: 10.0 ** (dbfs / 20.0) * np.sin(2 * np.pi * 997.0 * t)


def case9(t: np.ndarray) -> np.ndarray:
    """Tech 3341 case 9: 1.34 s at -20 dBFS, 1.66 s at -30 dBFS, repeated (every 3 s window is -23 LUFS)."""
    level = np.where(np.mod(t, 3.0) < 1.34, -20.0, -30.0)
    return 10.0 ** (level / 20.0) * np.sin(2 * np.pi * 997.0 * t)


def silence(t: np.ndarray) -> np.ndarray:
    return np.zeros_like(t)


class Rig:
    """A live engine whose master is a stereo line input the test feeds; the master output kept."""

    def __init__(self, folder: Path, rate: int, block: int) -> None:
        (folder / "session.yaml").write_text(SESSION.format(rate=rate))
        self.rate, self.block = rate, block
        self.engine = LiveEngine(host.load_session(folder / "session.yaml"), block, "none")
        self.engine.open()
        self.line = self.engine.inputs["line"]
        self.frames = 0
        self.out: list[np.ndarray] = []
        self.meters = MeterReader(self.engine.meters)

    def play(self, signal: Signal, seconds: float, each: Callable[[float], None] | None = None) -> None:
        """Feed ``seconds`` of ``signal`` block by block; ``each(time)`` after every block."""
        end = self.frames + int(round(seconds * self.rate))
        while self.frames < end:
            frames = min(self.block, end - self.frames)
            t = (self.frames + np.arange(frames)) / self.rate
            x = signal(t)
            self.line.feed(0, x)
            self.line.feed(1, x)
            self.out.append(self.engine.process_block(frames).copy())
            self.frames += frames
            if each is not None:
                each(self.frames / self.rate)

    def master(self) -> np.ndarray:
        return np.concatenate(self.out, axis=1)

    def close(self) -> None:
        self.engine.close()


@pytest.fixture
def rig_at(tmp_path: Path) -> Iterator[Callable[[int, int], Rig]]:
    made: list[Rig] = []

    def make(rate: int, block: int) -> Rig:
        made.append(Rig(tmp_path, rate, block))
        return made[-1]

    yield make
    for rig in made:
        rig.close()


def offline_short_term(audio: np.ndarray, rate: int) -> float:
    meter = LoudnessMeter(2, rate, true_peak=False)
    meter.process(audio)
    return meter.short_term()


@pytest.mark.parametrize("rate,block", [(48_000, 128), (48_000, 1024), (44_100, 256), (96_000, 64)])
@pytest.mark.parametrize("case,dbfs", [("3341-1", -23.0), ("3341-2", -33.0)])
def test_a_steady_997_hz_tone_reads_its_loudness_after_3_s(rig_at: Callable[[int, int], Rig], case: str,
                                                          dbfs: float, rate: int, block: int) -> None:
    """Tech 3341 cases 1 and 2: a stereo 997 Hz sine at -23 (-33) dBFS is -23 (-33) LUFS."""
    rig = rig_at(rate, block)
    rig.play(tone(dbfs), 3.5)
    live = rig.meters.short_term_lufs()
    assert live == pytest.approx(dbfs, abs=LU_TOL)
    master = rig.master()
    # the same samples through the offline meter: the same sub-block grid, so the same value
    assert live == pytest.approx(offline_short_term(master, rate), abs=1e-6)
    last_3_s = master[:, -3 * rate:].T
    assert live == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(last_3_s), abs=LU_TOL)


def test_case_9_reads_minus_23_at_every_block_after_3_s(rig_at: Callable[[int, int], Rig]) -> None:
    """Tech 3341 case 9: S stays at -23 LUFS ±0.1 from 3 s on, whenever it is read."""
    rig = rig_at(48_000, 128)
    readings: list[tuple[float, float]] = []
    rig.play(case9, 12.0, each=lambda now: readings.append((now, rig.meters.short_term_lufs())))
    late = np.array([lufs for now, lufs in readings if now >= 3.0])
    assert len(late) > 3000
    assert np.abs(late - -23.0).max() < LU_TOL
    # before 3 s the window is partly the silence before the start: 1.34 s at -20, then -30
    early = [(now, lufs) for now, lufs in readings if 0.5 <= now < 3.0]
    expected = [10 * math.log10((min(now, 1.34) * 1e-2 + max(now - 1.34, 0.0) * 1e-3) / 3.0) for now, _ in early]
    assert np.abs(np.array([lufs for _, lufs in early]) - expected).max() < LU_TOL


def test_silence_reads_minus_inf_and_so_do_3_s_after_a_tone_stops(rig_at: Callable[[int, int], Rig]) -> None:
    rig = rig_at(48_000, 256)
    rig.play(silence, 1.0)
    assert rig.meters.short_term_lufs() == -math.inf
    rig.play(tone(-23.0), 3.5)
    assert rig.meters.short_term_lufs() == pytest.approx(-23.0, abs=LU_TOL)
    rig.play(silence, 1.5)                       # half the window: 3 dB down
    assert rig.meters.short_term_lufs() == pytest.approx(-26.01, abs=LU_TOL)
    rig.play(silence, 1.6)                       # past 3 s: only the K-filter's dead tail is left
    assert rig.meters.short_term_lufs() == -math.inf


def test_every_reader_sees_the_same_window_and_reading_takes_nothing(rig_at: Callable[[int, int], Rig]) -> None:
    rig = rig_at(48_000, 128)
    other = MeterReader(rig.engine.meters)
    rig.play(tone(-23.0), 3.2)
    first = rig.meters.short_term_lufs()
    assert other.short_term_lufs() == first == rig.meters.short_term_lufs()
    levels = other.read()["master"]            # and peak/RMS readers go on as before
    assert levels.peak_db[0] == pytest.approx(-23.0, abs=0.01)


def test_a_panicked_engine_meters_its_silence(rig_at: Callable[[int, int], Rig]) -> None:
    rig = rig_at(48_000, 128)
    rig.play(tone(-23.0), 3.2)
    rig.engine.panic()
    rig.play(tone(-23.0), 3.2)                   # the input keeps arriving; the output is silence
    assert not rig.master()[:, -100:].any()
    assert rig.meters.short_term_lufs() == -math.inf


def test_blocks_of_any_length_land_on_the_offline_grid() -> None:
    """Callbacks shorter than the block size (and ones that finish no sub-block) change nothing."""
    rate, block = 44_100, 512
    ring = LoudnessRing(rate, block)
    rng = np.random.default_rng(3341)
    audio = 0.1 * rng.standard_normal((2, 5 * rate))
    start = 0
    while start < audio.shape[1]:
        frames = min(int(rng.integers(1, block + 1)), audio.shape[1] - start)
        buffer = np.zeros((2, block))                # the engine's output buffer, partly used
        buffer[:, :frames] = audio[:, start:start + frames]
        ring.write(buffer, frames)
        start += frames
    assert ring.short_term_lufs() == pytest.approx(offline_short_term(audio, rate), abs=1e-6)
