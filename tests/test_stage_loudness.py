"""The `loudness` stage: a whole render lands on its target under its ceiling (two-pass offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyebur128
import pytest

import host
from host.analysis.signals import music
from host.dsp.true_peak import true_peak_dbtp
from host.errors import RenderError
from host.loudness.targets import PRESETS
from tests.conftest import read_mix

SR = 48000


def libebur128_integrated(x: np.ndarray) -> float:
    state = pyebur128.R128State(x.shape[1], SR, pyebur128.MeasurementMode.MODE_I)
    state.add_frames(np.ascontiguousarray(x).ravel(), x.shape[0])
    return float(pyebur128.get_loudness_global(state))


CASES = [
    *((f"{{type: loudness, preset: {name}}}", t.integrated_lufs, t.ceiling_dbtp) for name, t in sorted(PRESETS.items())),
    ("{type: loudness, params: {target_lufs: -9, ceiling_dbtp: -0.5}}", -9.0, -0.5),
]


def music_session(write_audio, write_session, stage: str, master_extra: str = "") -> Path:
    write_audio("music.wav", music(12.0, SR).T * 0.5)
    return write_session(f"""
        tracks:
          music: {{source: music.wav, gain_db: -6}}
        master:
          chain: [{stage}]{master_extra}
        outputs: {{mixdown: mix.wav, bit_depth: float}}
    """)


@pytest.mark.parametrize("stage,target,ceiling", CASES)
def test_master_loudness_stage_hits_target(write_audio, write_session, stage, target, ceiling):
    path = music_session(write_audio, write_session, stage)
    result = host.load_session(path).render()
    mix = read_mix(path.parent / "mix.wav")
    assert libebur128_integrated(mix) == pytest.approx(target, abs=0.2)
    assert true_peak_dbtp(mix.T, SR) <= ceiling
    assert mix.shape[0] == 12 * SR  # the limiter's latency is compensated
    # the render reports what the written file achieved
    achieved = result.loudness["master/loudness"]
    assert achieved["target_lufs"] == target and achieved["ceiling_dbtp"] == ceiling
    assert achieved["integrated_lufs"] == pytest.approx(libebur128_integrated(mix), abs=0.05)
    assert achieved["true_peak_dbtp"] == pytest.approx(true_peak_dbtp(mix.T, SR), abs=1e-6)


def test_render_summary_shows_the_achieved_loudness(write_audio, write_session, capsys):
    from host.cli import main

    path = music_session(write_audio, write_session, "{type: loudness, preset: spotify}")
    assert main(["render", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    mix = read_mix(path.parent / "mix.wav")
    assert "loudness master/loudness" in out
    assert f"{libebur128_integrated(mix):.1f}" in out and "(target -14)" in out
    assert f"{true_peak_dbtp(mix.T, SR):.2f} dBTP (ceiling -1)" in out


def test_an_unreachable_target_fails_and_writes_nothing(write_audio, write_session):
    # music cannot be brought to -3 LUFS with its true peak under -6 dBTP
    path = music_session(write_audio, write_session,
                         "{type: loudness, params: {target_lufs: -3, ceiling_dbtp: -6}}")
    with pytest.raises(RenderError, match=r"-3\.00 LUFS is out of reach under a -6\.00 dBTP ceiling"):
        host.load_session(path).render()
    assert not (path.parent / "mix.wav").exists()
    assert not list(path.parent.glob(".mix.wav.*"))  # no temp file either


def test_a_fader_after_the_stage_misses_the_target_and_is_refused(write_audio, write_session):
    path = music_session(write_audio, write_session, "{type: loudness, preset: spotify}",
                         "\n          gain_db: -3")
    with pytest.raises(RenderError, match=r"mix\.wav: the written file measures -17\.\d\d LUFS"):
        host.load_session(path).render()
    assert not (path.parent / "mix.wav").exists()


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
