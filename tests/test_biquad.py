"""Second-order section designs: the n-set path against the scalar one, gains at the centre."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.signal import sosfreqz

from host.dsp import biquad

SAMPLE_RATES = (44_100.0, 48_000.0, 96_000.0)
COOKBOOK = (biquad.BELL, biquad.LOW_SHELF, biquad.HIGH_SHELF, biquad.NOTCH, biquad.BAND_PASS,
            biquad.ALL_PASS)
# (type, slope, shape): every cookbook band once, every pass slope and shape it allows
LAYOUTS = [(t, 12, "butterworth") for t in COOKBOOK] + [
    (t, slope, shape)
    for t in (biquad.HIGH_PASS, biquad.LOW_PASS)
    for slope in biquad.SLOPES_DB
    for shape in biquad.SHAPES
    if shape == "butterworth" or slope % 12 == 0
]


def _ids(layout: tuple[str, int, str]) -> str:
    return "-".join(map(str, layout))


@pytest.mark.parametrize("shared", [False, True], ids=["per-set", "shared-gain-q"])
@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("layout", LAYOUTS, ids=_ids)
def test_design_many_equals_one_design_per_set(layout: tuple[str, int, str], sample_rate: float,
                                               shared: bool) -> None:
    """n sets at once give the n scalar designs, including centres clamped below Nyquist."""
    band_type, slope, shape = layout
    freqs = np.geomspace(5.0, 30_000.0, 9)
    gains = np.full(9, -7.5) if shared else np.linspace(-24.0, 24.0, 9)
    qs = np.full(9, 2.0) if shared else np.geomspace(0.1, 24.0, 9)
    many = biquad.design_many(band_type, freqs, gains[0] if shared else gains,
                              qs[0] if shared else qs, sample_rate, slope, shape)
    one = np.stack([biquad.design(band_type, f, g, q, sample_rate, slope, shape)
                    for f, g, q in zip(freqs, gains, qs, strict=True)])
    assert many.shape == one.shape == (9, biquad.section_count(band_type, slope, shape), 6)
    np.testing.assert_allclose(many, one, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("layout", LAYOUTS, ids=_ids)
def test_design_many_fills_a_view_of_a_larger_array(layout: tuple[str, int, str]) -> None:
    """The audio thread's variant writes a band's rows of a shared set array and nothing else."""
    band_type, slope, shape = layout
    rows = biquad.section_count(band_type, slope, shape)
    sets = np.full((4, rows + 2, 6), 7.0)
    freqs = np.arange(256.0, dtype=np.float64)[::64] * 10.0 + 100.0  # strided, like a glide's ramp
    view = sets[:, 1:1 + rows]
    got = biquad.design_many(band_type, freqs, 3.0, 0.9, 48_000.0, slope, shape, out=view)
    assert got is view
    np.testing.assert_array_equal(view, biquad.design_many(band_type, freqs, 3.0, 0.9, 48_000.0,
                                                           slope, shape))
    np.testing.assert_array_equal(sets[:, 0], 7.0)
    np.testing.assert_array_equal(sets[:, -1], 7.0)


@pytest.mark.parametrize("out_shape", [(3, 1, 6), (4, 2, 6), (4, 1, 5)])
def test_design_many_refuses_an_out_of_the_wrong_shape(out_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="out must be"):
        biquad.design_many("bell", np.full(4, 1000.0), 3.0, 1.0, 48_000.0,
                                out=np.empty(out_shape))


@pytest.mark.parametrize("call", [
    lambda: biquad.design("wobble", 1000.0, 0.0, 1.0, 48_000.0),
    lambda: biquad.design("lowpass", 1000.0, 0.0, 1.0, 48_000.0, 9),
    lambda: biquad.design_many("highpass", [1000.0], 0.0, 1.0, 48_000.0, 18, "linkwitz_riley"),
    lambda: biquad.design_many("lowpass", [1000.0], 0.0, 1.0, 48_000.0, 12, "bessel"),
    lambda: biquad.design_many("bell", [1000.0, 2000.0], [1.0, 2.0, 3.0], 1.0, 48_000.0),
    lambda: biquad.butterworth(1000.0, 0, 48_000.0, high=True),
], ids=["type", "slope", "lr-odd", "shape", "gain-length", "order"])
def test_bad_arguments_raise_value_error(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("gain_db", [-24.0, -6.0, 0.0, 3.0, 24.0])
@pytest.mark.parametrize("q", [0.1, 0.7071067811865476, 4.0, 24.0])
@pytest.mark.parametrize("band_type", [biquad.BELL, biquad.LOW_SHELF, biquad.HIGH_SHELF])
def test_gain_at_the_centre_frequency(band_type: str, q: float, gain_db: float,
                                      sample_rate: float) -> None:
    """A bell reaches its gain at the centre; a cookbook shelf has half its gain (in dB) there.

    The pre-warped bilinear transform maps the analogue centre exactly onto
    freq_hz, so this holds for any Q; the shelf's full gain is its plateau,
    at DC for a low shelf and at Nyquist for a high shelf.
    """
    centre = 1234.5
    sos = biquad.design(band_type, centre, gain_db, q, sample_rate)
    plateau = {biquad.LOW_SHELF: 0.0, biquad.HIGH_SHELF: 0.5 * sample_rate}.get(band_type)
    points = [centre] if plateau is None else [centre, plateau]
    _, h = sosfreqz(sos, worN=points, fs=sample_rate)
    measured = 20.0 * np.log10(np.abs(h))
    expected = [gain_db] if plateau is None else [0.5 * gain_db, gain_db]
    np.testing.assert_allclose(measured, expected, rtol=0.0, atol=1e-9)
