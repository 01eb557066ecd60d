"""The command line and the example script, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from host.cli import main
from host.session.yaml_doc import load, to_plain
from tests.conftest import read_mix, rms_db, tone

SESSION = """
tracks:
  vocal: {source: v.wav, gain_db: -6, sends: {verb: {level_db: -10}}}
  keys: {source: k.wav, pan: -0.3}
buses:
  verb: {gain_db: -3}
outputs: {mixdown: out/mix.wav, bit_depth: float}
automation:
  tracks/vocal/gain_db: {points: [[0, -6], [1, -4]]}
"""


@pytest.fixture
def session(write_audio, write_session):
    write_audio("v.wav", tone(1000, seconds=2.0))
    write_audio("k.wav", tone(300, seconds=2.0, channels=2))
    return write_session(SESSION)


def test_schema_is_valid_json_schema_and_accepts_the_demo(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    Draft202012Validator.check_schema(schema)
    from pathlib import Path

    demo = to_plain(load(Path(__file__).parent.parent / "examples" / "demo" / "session.yaml"))
    assert list(Draft202012Validator(schema).iter_errors(demo)) == []


def test_params_json_lists_every_address_with_its_range(session, capsys):
    assert main(["params", str(session), "--json"]) == 0
    rows = {row["address"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {
        "tracks/vocal/gain_db", "tracks/vocal/pan", "tracks/vocal/mute", "tracks/vocal/solo",
        "tracks/vocal/sends/verb/level_db", "tracks/keys/gain_db", "tracks/keys/pan", "tracks/keys/mute",
        "tracks/keys/solo", "buses/verb/gain_db", "buses/verb/pan", "buses/verb/mute", "master/gain_db",
    }
    assert rows["tracks/keys/pan"]["value"] == -0.3
    assert (rows["tracks/vocal/gain_db"]["min"], rows["tracks/vocal/gain_db"]["unit"]) == (-120, "dB")


def test_render_prints_a_summary(session, capsys):
    assert main(["render", str(session), "--no-progress"]) == 0
    text = capsys.readouterr().out
    for word in ("duration", "2.00 s", "peak", "time taken", "x real time"):
        assert word in text
    assert (session.parent / "out" / "mix.wav").is_file()



@pytest.mark.parametrize("compiled", [False, True])
def test_render_says_when_it_compiles_the_kernels_first(session, capsys, monkeypatch, compiled):
    import host.dsp

    monkeypatch.setattr(host.dsp, "kernels_compiled", lambda: compiled)
    assert main(["render", str(session), "--no-progress"]) == 0
    assert ("first run: compiling the DSP kernels" in capsys.readouterr().err) is not compiled


@pytest.mark.parametrize("cached", [[], ["dsp_0a1b/dynamics.compressor-120.py311.nbi"]])
def test_kernels_compiled_looks_in_numba_s_cache(tmp_path, monkeypatch, cached):
    from host.dsp import kernels_compiled

    for name in cached:
        (tmp_path / name).parent.mkdir(parents=True)
        (tmp_path / name).touch()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert kernels_compiled() is bool(cached)


def test_help_never_imports_the_dsp_stack():
    code = "import sys; from host.cli import main; main(['--help'])\n" \
           "bad = [m for m in ('numpy', 'scipy', 'pedalboard', 'numba') if m in sys.modules]\n" \
           "sys.exit(1 if bad else 0)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "render" in done.stdout and "validate" in done.stdout


def test_variations_script_renders_each_alternate(session, tmp_path):
    done = subprocess.run([sys.executable, "scripts/render_variations.py", str(session), "-o", str(tmp_path / "v")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    mixes = {name: read_mix(tmp_path / "v" / name / "mix.wav") for name in ("main", "vocal-up", "instrumental")}
    spectrum = {name: np.abs(np.fft.rfft(mix[48000:, 1])) for name, mix in mixes.items()}
    bin_1k = 1000 * 48000 // 48000  # one-second window: 1 Hz bins
    assert 20 * np.log10(spectrum["vocal-up"][bin_1k] / spectrum["main"][bin_1k]) == pytest.approx(1.5, abs=0.01)
    assert spectrum["instrumental"][bin_1k] < 1e-6 * spectrum["main"][bin_1k]
    assert rms_db(mixes["instrumental"][48000:, 1]) < rms_db(mixes["main"][48000:, 1])
