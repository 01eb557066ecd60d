"""`mixhost master`: loudness targets reached on synthesised music, true peak under the ceiling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from host.analysis.mastering import master_file
from host.analysis.signals import music
from host.cli import main
from host.errors import RenderError
from host.loudness.meter import measure_file
from host.loudness.targets import PRESETS, resolve_target

FS = 48000
R128_FILE_TOLERANCE = 0.2  # LU


@pytest.fixture(scope="module")
def quiet_mix(tmp_path_factory) -> str:
    """20 s of music around −25 LUFS: every preset needs gain, the loud ones need limiting."""
    path = tmp_path_factory.mktemp("mix") / "mix.wav"
    sf.write(path, music(20, FS, seed=21, level_db=-26).T, FS, subtype="FLOAT")
    return str(path)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_lands_on_target(tmp_path, quiet_mix: str, preset: str) -> None:
    target = PRESETS[preset]
    out = tmp_path / "master.wav"
    report = master_file(quiet_mix, out, target)
    measured = measure_file(out)
    assert measured.integrated_lufs == pytest.approx(
        target.integrated_lufs, abs=R128_FILE_TOLERANCE
    )
    assert measured.true_peak_dbtp <= target.ceiling_dbtp
    # the report states the values of the file as written
    assert report.result.integrated_lufs == pytest.approx(measured.integrated_lufs, abs=1e-9)
    assert report.result.true_peak_dbtp == pytest.approx(measured.true_peak_dbtp, abs=1e-9)


@pytest.mark.parametrize("spec", ["-9/-0.3", "-8/-1"])
def test_loud_custom_targets_need_heavy_limiting(tmp_path, quiet_mix: str, spec: str) -> None:
    target = resolve_target(spec)
    report = master_file(quiet_mix, tmp_path / "loud.flac", target)
    assert report.result.integrated_lufs == pytest.approx(
        target.integrated_lufs, abs=R128_FILE_TOLERANCE
    )
    assert report.result.true_peak_dbtp <= target.ceiling_dbtp
    assert report.passes > 1  # the limiter took a share of the first gain


def test_without_limiting_the_output_is_the_input_times_the_gain(tmp_path, quiet_mix: str) -> None:
    out = tmp_path / "quiet.wav"
    report = master_file(quiet_mix, out, resolve_target("ebu-r128"), bit_depth="float")
    source, _ = sf.read(quiet_mix, always_2d=True)
    result, _ = sf.read(out, always_2d=True)
    assert result.shape == source.shape  # latency compensated, same length
    expected = source * 10 ** (report.gain_db / 20)
    assert np.max(np.abs(result - expected)) < 1e-6
    assert report.passes == 1


def test_cli_json_report(tmp_path, capsys, quiet_mix: str) -> None:
    out = tmp_path / "m.wav"
    assert main(["master", quiet_mix, "-o", str(out), "--target", "apple-music", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["target"] == "apple-music"
    assert data["integrated_lufs"] == pytest.approx(-16.0, abs=R128_FILE_TOLERANCE)
    assert data["true_peak_dbtp"] <= -1.0
    assert out.exists()


def test_cli_table_report(tmp_path, capsys, quiet_mix: str) -> None:
    assert main(["master", quiet_mix, "-o", str(tmp_path / "m.wav"), "--target", "podcast"]) == 0
    assert "-16.0" in capsys.readouterr().out


@pytest.mark.parametrize(
    "case",
    ["overwrite-input", "missing-input", "silent-input", "bad-extension", "bad-target"],
)
def test_refusals_are_clean_exit_2(tmp_path, capsys, quiet_mix: str, case: str) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros((FS, 2)), FS)
    argv = {
        "overwrite-input": [quiet_mix, "-o", quiet_mix],
        "missing-input": [str(tmp_path / "nope.wav"), "-o", str(tmp_path / "o.wav")],
        "silent-input": [str(silent), "-o", str(tmp_path / "o.wav")],
        "bad-extension": [quiet_mix, "-o", str(tmp_path / "o.mp3")],
        "bad-target": [quiet_mix, "-o", str(tmp_path / "o.wav"), "--target", "lowd"],
    }[case]
    assert main(["master", *argv]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("chain", ["master-streaming", "master-broadcast", "master-loud"])
def test_shipped_mastering_chains(tmp_path, quiet_mix: str, chain: str) -> None:
    target = PRESETS["spotify"]
    plain = master_file(quiet_mix, tmp_path / "plain.wav", target)
    report = master_file(quiet_mix, tmp_path / f"{chain}.wav", target, chain=chain)
    assert report.chain == chain
    assert report.result.integrated_lufs == pytest.approx(-14.0, abs=R128_FILE_TOLERANCE)
    assert report.result.true_peak_dbtp <= -1.0
    assert report.input_integrated_lufs == pytest.approx(plain.input_integrated_lufs)
    # the chain did something: the two masters differ well above the dither
    a = sf.read(tmp_path / "plain.wav")[0]
    b = sf.read(tmp_path / f"{chain}.wav")[0]
    assert np.sqrt(np.mean((a - b) ** 2)) > 1e-3


def test_loud_chain_reduces_the_loudness_range(tmp_path, quiet_mix: str) -> None:
    target = PRESETS["spotify"]
    plain = master_file(quiet_mix, tmp_path / "plain.wav", target)
    loud = master_file(quiet_mix, tmp_path / "loud.wav", target, chain="master-loud")
    assert loud.result.lra_lu < plain.result.lra_lu - 0.5


def test_chain_by_path_and_unknown_chain(tmp_path, capsys, quiet_mix: str) -> None:
    chain = tmp_path / "mine.yaml"
    chain.write_text(
        "chain:\n  - {type: eq, id: t, bands: [{type: lowshelf, freq_hz: 100, gain_db: 3, q: 0.7}]}\n"
    )
    out = tmp_path / "m.wav"
    assert main(["master", quiet_mix, "-o", str(out), "--chain", str(chain), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chain"] == str(chain)
    assert main(["master", quiet_mix, "-o", str(out), "--chain", "master-stream"]) == 2
    assert 'did you mean "master-streaming"' in capsys.readouterr().err


@pytest.mark.parametrize("fs", [44100, 96000])
def test_other_sample_rates(tmp_path, fs: int) -> None:
    source = tmp_path / "mix.wav"
    sf.write(source, music(10, fs, seed=22, level_db=-24).T, fs, subtype="FLOAT")
    ref = tmp_path / "ref.wav"
    sf.write(ref, music(10, fs, seed=23, level_db=-14).T, fs, subtype="FLOAT")
    target = resolve_target("-10/-1")
    report = master_file(source, tmp_path / "out.flac", target, reference=ref)
    assert sf.info(tmp_path / "out.flac").samplerate == fs
    assert report.result.integrated_lufs == pytest.approx(-10.0, abs=R128_FILE_TOLERANCE)
    assert report.result.true_peak_dbtp <= -1.0


def test_a_mono_master_stays_mono_through_a_chain(tmp_path) -> None:
    source = tmp_path / "mono.wav"
    x = music(8, FS, channels=1, seed=24, level_db=-24)
    sf.write(source, x.T, FS, subtype="FLOAT")
    neutral = tmp_path / "neutral.yaml"
    neutral.write_text("chain:\n  - {type: gain, id: g, params: {gain_db: 0}}\n")
    plain = master_file(source, tmp_path / "plain.wav", PRESETS["podcast"], bit_depth="float")
    chained = master_file(
        source, tmp_path / "chained.wav", PRESETS["podcast"], bit_depth="float", chain=str(neutral)
    )
    assert sf.info(tmp_path / "chained.wav").channels == 1
    assert chained.result.integrated_lufs == pytest.approx(-16.0, abs=R128_FILE_TOLERANCE)
    # a neutral chain changes nothing: the fold undid the engine's centre pan exactly
    assert chained.gain_db == pytest.approx(plain.gain_db, abs=0.01)
    a = sf.read(tmp_path / "plain.wav")[0]
    b = sf.read(tmp_path / "chained.wav")[0]
    assert np.max(np.abs(a - b)) < 1e-4


def test_an_unreachable_target_says_so_and_writes_nothing(tmp_path, quiet_mix: str) -> None:
    out = tmp_path / "loud.wav"
    with pytest.raises(RenderError, match=r"-4\.00 LUFS is out of reach under a -6\.00 dBTP ceiling") as caught:
        master_file(quiet_mix, out, resolve_target("-4/-6"))
    assert "lower target or a higher ceiling" in str(caught.value)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temp file left either


def test_a_written_file_over_the_ceiling_is_refused(tmp_path, quiet_mix: str, monkeypatch) -> None:
    """The file is measured as written: a limiter that lets 3 dB through is caught, not reported."""
    import host.analysis.mastering as mastering

    real = mastering.make_limiter
    monkeypatch.setattr(mastering, "make_limiter",
                        lambda fs, ch, ceiling, block: real(fs, ch, min(ceiling + 3.0, 0.0), block))
    out = tmp_path / "over.wav"
    with pytest.raises(RenderError, match=r"over\.wav: the written file's true peak is -[0-9.]+ dBTP, over the "
                                          r"-3\.00 dBTP ceiling"):
        master_file(quiet_mix, out, resolve_target("-9/-3"))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_check_written_states_target_and_achieved(tmp_path) -> None:
    from host.loudness.conformance import check_written

    path = tmp_path / "x.wav"
    sf.write(path, music(5, FS, seed=3, level_db=-20).T, FS, subtype="FLOAT")
    measured = measure_file(path)
    near = resolve_target(f"{measured.integrated_lufs + 0.15:.3f}/0")
    assert check_written(path, near, "x.wav").integrated_lufs == measured.integrated_lufs
    far = resolve_target(f"{measured.integrated_lufs + 0.3:.3f}/0")
    with pytest.raises(RenderError, match=rf"{measured.integrated_lufs:.2f} LUFS for a target of "
                                          rf"{far.integrated_lufs:.2f} LUFS \(-0\.30 LU"):
        check_written(path, far, "x.wav")
