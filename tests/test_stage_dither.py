"""Dither: TPDF statistics, grid, noise shaping spectrum, streaming."""

from __future__ import annotations

import numpy as np
import pytest
from stage_harness import SR, Harness, db

from host.dsp.dither import dither, lsb


@pytest.mark.parametrize("bits", [8, 16, 24])
def test_output_lies_on_the_integer_grid(bits: int) -> None:
    rng = np.random.default_rng(0)
    x = np.clip(rng.standard_normal((2, 10_000)) * 0.5, -1.2, 1.2)
    y = dither(x, bits, np.random.default_rng(1))
    codes = y * 2.0 ** (bits - 1)
    assert np.array_equal(codes, np.round(codes))
    assert y.max() <= 1.0 - lsb(bits) and y.min() >= -1.0


@pytest.mark.parametrize("offset_lsb", [0.0, 0.25, 0.5, 0.9])
def test_tpdf_error_moments_do_not_depend_on_the_signal(offset_lsb: float) -> None:
    """TPDF: the error has zero mean and variance LSB^2 / 4 whatever the input."""
    step = lsb(16)
    x = np.full((1, 400_000), 0.1 + offset_lsb * step)
    e = (dither(x, 16, np.random.default_rng(2)) - x) / step
    assert abs(np.mean(e)) < 0.005
    assert np.var(e) == pytest.approx(0.25, rel=0.02)


def _band_power_db(e: np.ndarray, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(e * np.hanning(e.size))) ** 2
    f = np.fft.rfftfreq(e.size, 1 / SR)
    return float(10 * np.log10(np.mean(spectrum[(f >= lo) & (f < hi)])))


def test_noise_shaping_moves_noise_out_of_the_sensitive_band() -> None:
    x = 0.25 * np.sin(2 * np.pi * 997 * np.arange(SR) / SR)[np.newaxis, :]
    flat = dither(x, 16, np.random.default_rng(3))[0] - x[0]
    shaped = dither(x, 16, np.random.default_rng(3), shaping=True)[0] - x[0]
    assert _band_power_db(shaped, 1000, 5000) < _band_power_db(flat, 1000, 5000) - 6.0
    assert _band_power_db(shaped, 18_000, 24_000) > _band_power_db(flat, 18_000, 24_000) + 6.0


@pytest.mark.parametrize("shaping", [False, True])
def test_stage_streams_independently_of_block_size(shaping: bool) -> None:
    x = 0.1 * np.random.default_rng(4).standard_normal((2, 20_000))
    outs = []
    for block in (128, 4096):
        h = Harness("dither", {"seed": 7}, params={"bits": 16, "shaping": shaping})
        outs.append(h.run(x, block=block))
    assert np.array_equal(outs[0], outs[1])
    assert db(np.sqrt(np.mean((outs[0] - x) ** 2))) < -85.0


def _quiet_sine_render(write_audio, write_session, bits: int, master_chain: str) -> tuple[np.ndarray, np.ndarray]:
    """Render a 1 kHz sine of 1.5 LSB through a session into `bits`-bit PCM; (output, residual) in LSB."""
    import host
    from tests.conftest import read_mix

    step = lsb(bits)
    n = np.arange(SR)
    x = 1.5 * step * np.sin(2 * np.pi * 1000.0 * n / SR)
    write_audio("quiet.wav", np.stack([x, x], axis=1), subtype="DOUBLE")
    path = write_session(f"""
        tracks:
          quiet: {{source: quiet.wav}}
        master: {{chain: {master_chain}}}
        outputs: {{mixdown: mix.wav, bit_depth: {bits}}}
    """)
    host.load_session(path).render()
    y = read_mix(path.parent / "mix.wav")[:, 0] / step
    basis = np.stack([np.sin(2 * np.pi * 1000.0 * n / SR), np.cos(2 * np.pi * 1000.0 * n / SR)], axis=1)
    fit, *_ = np.linalg.lstsq(basis, y, rcond=None)  # the sine as it reached the file (after the pan law)
    return y, y - basis @ fit


@pytest.mark.parametrize("bits", [16, 24])
def test_a_render_to_integer_pcm_is_dithered(write_audio, write_session, bits: int) -> None:
    """No dither stage: the writer adds TPDF dither, so there is a noise floor and no distortion."""
    y, residual = _quiet_sine_render(write_audio, write_session, bits, "[]")
    assert np.array_equal(y, np.round(y))  # integer codes
    assert np.var(residual) == pytest.approx(0.25, rel=0.05)  # TPDF + rounding: LSB^2 / 4
    power = np.abs(np.fft.rfft(residual)) ** 2  # 1 Hz bins over one second
    floor = residual.size * 0.25  # the expected bin power of white noise of LSB^2 / 4
    harmonics = power[[3000, 5000, 7000, 9000]]  # where a truncated sine puts its error
    assert np.max(harmonics) < 10 * floor


def test_a_dither_stage_last_on_master_is_not_dithered_again(write_audio, write_session) -> None:
    """The writer sees the master chain end in a 16-bit dither stage: one dither (LSB^2 / 4), not two."""
    _, residual = _quiet_sine_render(write_audio, write_session, 16, "[{type: dither, seed: 4, params: {bits: 16}}]")
    assert np.var(residual) == pytest.approx(0.25, rel=0.05)


@pytest.mark.parametrize(("bits", "dithered"), [(16, True), (24, True), (16, False), (24, False), (32, False)])
def test_the_writer_stores_exactly_the_requantised_signal(tmp_path, bits: int, dithered: bool) -> None:
    """The integers in the file are dither()'s grid (or plain rounding), clipped, whatever the block cuts."""
    import soundfile as sf

    from host.audio_io import AtomicWriter

    x = 0.4 * np.random.default_rng(8).standard_normal((2, 30_000))
    x[0, 100], x[1, 200], x[0, 300] = 1.5, -1.5, 1.0  # beyond full scale, and exactly at it: clipped
    writer = AtomicWriter(tmp_path / "x.wav", SR, 2, "wav", bits, dither=dithered)
    for start in range(0, x.shape[1], 4099):
        writer.write(x[:, start:start + 4099])
    stored = sf.read(writer.commit(), dtype="int32")[0].T.astype(np.int64) >> (32 - bits)
    full = 2.0 ** (bits - 1)
    if dithered:
        wanted = dither(x, bits, np.random.default_rng(0)) * full  # the writer's noise, seed 0
    else:
        wanted = np.clip(np.floor(x * full + 0.5), -full, full - 1)
    assert np.array_equal(stored, wanted.astype(np.int64))
    assert stored[0, 100] == full - 1 and stored[1, 200] == -full
