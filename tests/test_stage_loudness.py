"""The `loudness` stage: a whole render lands on its target under its ceiling (two-pass offline)."""

from __future__ import annotations

import numpy as np
import pyebur128
import pytest

import host
from host.analysis.signals import music
from host.dsp.true_peak import true_peak_dbtp
from tests.conftest import read_mix

SR = 48000


def libebur128_integrated(x: np.ndarray) -> float:
    state = pyebur128.R128State(x.shape[1], SR, pyebur128.MeasurementMode.MODE_I)
    state.add_frames(np.ascontiguousarray(x).ravel(), x.shape[0])
    return float(pyebur128.get_loudness_global(state))


@pytest.mark.parametrize("stage,target,ceiling", [
    ("{type: loudness, preset: spotify}", -14.0, -1.0),
    ("{type: loudness, preset: ebu-r128}", -23.0, -1.0),
    ("{type: loudness, preset: amazon}", -14.0, -2.0),
    ("{type: loudness, params: {target_lufs: -9, ceiling_dbtp: -0.5}}", -9.0, -0.5),
])
def test_master_loudness_stage_hits_target(write_audio, write_session, stage, target, ceiling):
    write_audio("music.wav", music(12.0, SR).T * 0.5)
    path = write_session(f"""
        tracks:
          music: {{source: music.wav, gain_db: -6}}
        master:
          chain: [{stage}]
        outputs: {{mixdown: mix.wav, bit_depth: float}}
    """)
    session = host.load_session(path)
    session.render()
    mix = read_mix(path.parent / "mix.wav")
    assert libebur128_integrated(mix) == pytest.approx(target, abs=0.2)
    assert true_peak_dbtp(mix.T, SR) <= ceiling
    assert mix.shape[0] == 12 * SR  # the limiter's latency is compensated


def test_unknown_preset_gets_a_did_you_mean(write_audio, write_session, capsys):
    from host.cli import main

    write_audio("music.wav", np.zeros((4800, 2)))
    path = write_session("""
        tracks:
          music: {source: music.wav}
        master:
          chain: [{type: loudness, preset: spotfy}]
    """)
    assert main(["validate", str(path)]) == 2
    assert 'did you mean "spotify"' in capsys.readouterr().err
