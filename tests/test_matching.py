"""Reference matching (`mixhost master --reference`): mid/side spectral balance and loudness."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from host.analysis.mastering import master_file, reference_target
from host.analysis.matching import design_match, mid_side_spectrum
from host.analysis.report import analyze_file
from host.cli import main

FS = 48000


def pink(seed: int, seconds: float = 10.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.fft.rfftfreq(n, 1 / FS)[1:])
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return x / np.sqrt(np.mean(x**2))


def stereo(seed: int, width: float, rms_db: float = -20.0) -> np.ndarray:
    mid, side = pink(seed), pink(seed + 50)
    x = np.stack([mid + width * side, mid - width * side])
    return x * 10 ** (rms_db / 20) / np.sqrt(np.mean(x**2))


def tilt(x: np.ndarray, high_db: float) -> np.ndarray:
    """Add (or remove) treble above ~3 kHz."""
    high = sosfilt(butter(2, 3000, "highpass", fs=FS, output="sos"), x, axis=1)
    return x + (10 ** (high_db / 20) - 1) * high


def write(path, x: np.ndarray, fs: int = FS) -> str:
    sf.write(path, x.T, fs, subtype="FLOAT")
    return str(path)


def balance_spread(a: str, b: str) -> float:
    """Largest octave-balance difference between two files, after removing the common offset."""
    ba, bb = analyze_file(a).octave_bands_db, analyze_file(b).octave_bands_db
    diffs = np.array([bb[k] - ba[k] for k in ba if k not in ("31.5", "16k")])
    return float(np.max(np.abs(diffs - np.median(diffs))))


@pytest.mark.parametrize("high_db", [-8.0, 8.0])
def test_the_master_takes_the_reference_balance(tmp_path, high_db: float) -> None:
    mix = write(tmp_path / "mix.wav", stereo(1, 0.4))
    ref = write(tmp_path / "ref.wav", tilt(stereo(2, 0.4), high_db))
    assert balance_spread(ref, mix) > 3.0  # they start out different
    out = tmp_path / "out.wav"
    report = master_file(mix, out, reference_target(ref, -1.0), reference=ref)
    assert balance_spread(ref, str(out)) < 1.0
    assert report.result.integrated_lufs == pytest.approx(
        analyze_file(ref).integrated_lufs, abs=0.2
    )
    assert report.result.true_peak_dbtp <= -1.0
    eq = report.match_eq_db
    assert eq is not None and np.sign(eq["8k"]["mid"] - eq["250"]["mid"]) == np.sign(high_db)


def test_the_side_is_matched_separately(tmp_path) -> None:
    narrow = write(tmp_path / "narrow.wav", stereo(3, 0.1))
    wide = write(tmp_path / "wide.wav", stereo(4, 0.6))
    eq = design_match(mid_side_spectrum(narrow), mid_side_spectrum(wide))
    band = (eq.freqs > 200) & (eq.freqs < 5000)
    # side raised against mid by about 20 log10(0.6 / 0.1) = 15.6 dB (limited to ±12 each)
    assert np.mean(eq.side_db[band] - eq.mid_db[band]) > 10.0
    out = tmp_path / "out.wav"
    master_file(narrow, out, reference_target(wide, -1.0), reference=wide)
    ratio = {}
    for name, path in (("out", out), ("wide", wide), ("narrow", narrow)):
        x = sf.read(path)[0].T
        ratio[name] = np.sum((x[0] - x[1]) ** 2) / np.sum((x[0] + x[1]) ** 2)
    assert (
        abs(np.log10(ratio["out"] / ratio["wide"]))
        < abs(np.log10(ratio["narrow"] / ratio["wide"])) / 2
    )


def test_matching_a_track_to_itself_changes_nothing_but_level(tmp_path) -> None:
    x = stereo(5, 0.3)
    mix = write(tmp_path / "mix.wav", x)
    out = tmp_path / "out.wav"
    report = master_file(mix, out, reference_target(mix, -1.0), reference=mix, bit_depth="float")
    y = sf.read(out)[0].T
    assert y.shape == x.shape  # latency compensated, same length
    assert report.match_eq_db is not None
    assert max(abs(v["mid"]) for v in report.match_eq_db.values()) < 0.1
    residual = y - x * 10 ** (report.gain_db / 20)
    assert np.sqrt(np.mean(residual[:, 5000:-5000] ** 2)) < 0.01 * np.sqrt(np.mean(x**2))


def test_mono_reference(tmp_path) -> None:
    mix = write(tmp_path / "mix.wav", stereo(6, 0.3))
    ref = write(tmp_path / "mono.wav", tilt(pink(7)[np.newaxis, :] * 0.1, 6.0))
    eq = design_match(mid_side_spectrum(mix), mid_side_spectrum(ref))
    assert np.all(eq.side_db == 0.0)  # nothing to match in the side: left alone
    out = tmp_path / "out.wav"
    report = master_file(mix, out, reference_target(ref, -1.0), reference=ref)
    assert sf.info(out).channels == 2
    assert report.result.true_peak_dbtp <= -1.0


def test_cli_reference_sets_the_loudness_unless_a_target_is_given(tmp_path, capsys) -> None:
    mix = write(tmp_path / "mix.wav", stereo(8, 0.3, rms_db=-26))
    ref = write(tmp_path / "ref.wav", tilt(stereo(9, 0.3, rms_db=-14), 4.0))
    out = str(tmp_path / "out.wav")
    assert main(["master", mix, "-o", out, "--reference", ref, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["target"].startswith("reference ref.wav")
    assert data["integrated_lufs"] == pytest.approx(analyze_file(ref).integrated_lufs, abs=0.2)
    assert set(data["match_eq_db"]["1k"]) == {"mid", "side"}
    assert (
        main(["master", mix, "-o", out, "--reference", ref, "--target", "podcast", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["integrated_lufs"] == pytest.approx(-16.0, abs=0.2)
    assert main(["master", mix, "-o", out, "--reference", str(tmp_path / "nope.wav")]) == 2
    assert "nope.wav" in capsys.readouterr().err


@pytest.mark.parametrize("mix_rate,ref_rate", [(44100, 48000), (96000, 44100)])
def test_a_reference_at_another_sample_rate(tmp_path, mix_rate: int, ref_rate: int) -> None:
    from scipy.signal import resample_poly

    def at(x: np.ndarray, fs: int) -> np.ndarray:
        g = np.gcd(fs, FS)
        return resample_poly(x, fs // g, FS // g, axis=1)

    mix = write(tmp_path / "mix.wav", at(stereo(10, 0.4), mix_rate), mix_rate)
    ref = write(tmp_path / "ref.wav", at(tilt(stereo(11, 0.4, rms_db=-16), 8.0), ref_rate), ref_rate)
    assert balance_spread(ref, mix) > 3.0
    out = tmp_path / "out.wav"
    report = master_file(mix, out, reference_target(ref, -1.0), reference=ref)
    assert sf.info(out).samplerate == mix_rate  # the master keeps the mix's rate
    assert balance_spread(ref, str(out)) < 1.0
    assert report.result.integrated_lufs == pytest.approx(analyze_file(ref).integrated_lufs, abs=0.2)
    assert report.result.true_peak_dbtp <= -1.0


@pytest.mark.parametrize("surround", ["mix", "reference"])
def test_more_than_two_channels_are_refused(tmp_path, capsys, surround: str) -> None:
    six = np.vstack([stereo(12, 0.3)] * 3)
    stereo_file = write(tmp_path / "stereo.wav", stereo(13, 0.3))
    surround_file = write(tmp_path / "surround.wav", six)
    mix, ref = (surround_file, stereo_file) if surround == "mix" else (stereo_file, surround_file)
    out = tmp_path / "out.wav"
    assert main(["master", mix, "-o", str(out), "--reference", ref, "--target", "spotify"]) == 2
    err = capsys.readouterr().err
    assert "surround.wav: 6 channels; reference matching works on mono or stereo" in err
    assert "Traceback" not in err
    assert not out.exists()
