"""User Python stages: the example in scripts/, registration, and the error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stage_harness import SR, Harness, db, sine

from host.errors import UserInputError
from host.stages.python_stage import UserStageError

REPO = Path(__file__).resolve().parents[1]


def _stage(module: str, base: Path = REPO, **params: float) -> Harness:
    return Harness("python", {"module": module, "base_dir": str(base)}, params=params)


def test_example_registers_its_params() -> None:
    h = _stage("scripts/my_stage.py")
    assert [s.name for s in h.stage.param_specs()] == ["tilt_db", "pivot_hz"]
    assert h.registry.param("test/st/pivot_hz").spec.scale == "log"
    assert h.registry.get("test/st/tilt_db") == 0.0


@pytest.mark.parametrize("freq, expected_db", [(30.0, -3.0), (16_000.0, 3.0)])
def test_example_tilts_the_spectrum(freq: float, expected_db: float) -> None:
    h = _stage("scripts/my_stage.py", tilt_db=6.0, pivot_hz=800.0)
    x = sine(freq, 1.0, amp=0.1)
    y = h.run(x)
    rms = np.sqrt(np.mean(y[:, SR // 2 :] ** 2) / np.mean(x[:, SR // 2 :] ** 2))
    assert db(rms) == pytest.approx(expected_db, abs=0.3)


def test_example_is_neutral_at_zero_tilt() -> None:
    x = sine(440.0, 0.2)
    assert np.array_equal(_stage("scripts/my_stage.py").run(x), x)


def test_two_instances_keep_separate_state() -> None:
    a = _stage("scripts/my_stage.py", tilt_db=6.0)
    b = _stage("scripts/my_stage.py", tilt_db=6.0)
    x = sine(100.0, 0.1)
    ya = a.run(x)
    b.run(np.zeros_like(x))
    assert a.stage.module is not b.stage.module  # type: ignore[attr-defined]
    assert not np.array_equal(a.stage.module._state["zi"], b.stage.module._state["zi"])  # type: ignore[attr-defined]
    assert np.allclose(_stage("scripts/my_stage.py", tilt_db=6.0).run(x), ya)


def _write(tmp_path: Path, body: str) -> str:
    (tmp_path / "stage.py").write_text(body)
    return "stage.py"


GOOD_PROCESS = "def process(block, sample_rate, params):\n    return block\n"


@pytest.mark.parametrize(
    "body, message",
    [
        (None, "not found"),
        ("def process(block, sr, params)\n    return block\n", r"stage.py:1: syntax error"),
        ("import no_such_module_xyz\n" + GOOD_PROCESS, "importing it raised ModuleNotFoundError"),
        ("PARAMS = []\n", "no `process"),
        ("PARAMS = {'a': 1}\n" + GOOD_PROCESS, "PARAMS must be a list"),
        ("PARAMS = [{'name': 'a', 'default': 0}]\n" + GOOD_PROCESS, r"PARAMS\[0\] lacks max, min"),
        ("PARAMS = [{'name': 'a', 'default': 2, 'min': 0, 'max': 1}]\n" + GOOD_PROCESS, "outside its range"),
        ("PARAMS = [{'name': 'a', 'default': 1, 'min': 0, 'max': 1, 'scale': 'cubic'}]\n" + GOOD_PROCESS, "scale must be"),
        ("PARAMS = [{'name': 'a b', 'default': 0, 'min': 0, 'max': 1}]\n" + GOOD_PROCESS, "identifier"),
        ("PARAMS = [{'name': 'a', 'default': 0, 'min': 0, 'max': 1, 'colour': 2}]\n" + GOOD_PROCESS, "unknown key"),
        ("LATENCY = -1\n" + GOOD_PROCESS, "LATENCY"),
        ("RAMPS = 'a'\n" + GOOD_PROCESS, "RAMPS must be a list"),
        ("PARAMS = [{'name': 'gain', 'default': 0, 'min': 0, 'max': 1}]\nRAMPS = ['gian']\n" + GOOD_PROCESS,
         'RAMPS names .gian., which is not in PARAMS; did you mean "gain"'),
    ],
)
def test_bad_modules_raise_clear_user_errors(tmp_path: Path, body: str | None, message: str) -> None:
    module = "missing.py" if body is None else _write(tmp_path, body)
    with pytest.raises(UserStageError, match=message) as info:
        _stage(module, tmp_path)
    assert isinstance(info.value, UserInputError)


@pytest.mark.parametrize(
    "process, message",
    [
        ("    return block[:, :10]\n", "returned shape"),
        ("    raise RuntimeError('boom')\n", "process\\(\\) raised RuntimeError: boom"),
    ],
)
def test_misbehaving_process_is_reported(tmp_path: Path, process: str, message: str) -> None:
    h = _stage(_write(tmp_path, "def process(block, sample_rate, params):\n" + process), tmp_path)
    with pytest.raises(UserStageError, match=message):
        h.run(sine(100.0, 0.01))


def test_missing_module_option() -> None:
    with pytest.raises(UserStageError, match="needs `module"):
        Harness("python", {})


GAIN_STAGE = """
PARAMS = [{"name": "gain", "default": 1.0, "min": 0.0, "max": 2.0}]
{ramps}
calls = []

def process(block, sample_rate, params):
    calls.append(block.shape[1])
    return block * params["gain"]
"""


def _gliding_gain(tmp_path: Path, ramps: str) -> tuple[np.ndarray, list[int]]:
    (tmp_path / f"gain{len(ramps)}.py").write_text(GAIN_STAGE.replace("{ramps}", ramps))
    h = _stage(f"gain{len(ramps)}.py", tmp_path)
    h.run(np.ones((2, 128)))          # landed at 1
    h.set("gain", 0.5)                # then a move: a 50 ms glide down to 0.5
    out = h.run(np.ones((2, 128 * 300)))[0]
    return out, h.stage.module.calls  # type: ignore[attr-defined]


def test_a_ramps_parameter_glides_per_sample_in_one_call_a_block(tmp_path: Path) -> None:
    ramped, ramped_calls = _gliding_gain(tmp_path, 'RAMPS = ["gain"]')
    stepped, stepped_calls = _gliding_gain(tmp_path, "")
    assert ramped_calls == [128] * 301                       # one call per block, gliding or not
    assert len(stepped_calls) > 301 and min(stepped_calls) == 8  # without RAMPS: 8-frame slices
    assert np.all(np.diff(ramped[:2000]) < 0)                # every sample moves: no steps
    assert np.array_equal(ramped[7::8], stepped[7::8])        # the same glide, where the slices sample it
    assert ramped[-1] == pytest.approx(0.5, abs=1e-5)
