"""`mixhost analyze`'s figures against independent meters, and what a fresh `analyze --json` imports.

The fast paths of ``analyze`` (the mono fold taken from the stereo meter's
own K-weighting, the moments and the mid in one compiled pass, integer PCM
read as integers) must give the figures an independent measurement gives:
libebur128 (pyebur128) and pyloudnorm for the loudness, numpy's formulas for
the moments, libsndfile's own float conversion for the samples.
"""

from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyebur128
import pyloudnorm
import pytest
import soundfile as sf

import host
from host.analysis.signals import music, sine
from host.cli import main
from host.loudness.meter import LoudnessMeter, iter_blocks, open_audio

FS = 48000
MODES = pyebur128.MeasurementMode


def _pink(seconds: float, level_db: float) -> np.ndarray:
    """Stereo pink noise (1/f power, independent channels) at RMS ``level_db`` dBFS."""
    rng = np.random.default_rng(7)
    n = int(seconds * FS)
    freqs = np.fft.rfftfreq(n, 1 / FS)
    freqs[0] = freqs[1]
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal((2, n)), axis=1) / np.sqrt(freqs), n, axis=1)
    return x / np.sqrt(np.mean(x**2)) * 10 ** (level_db / 20)


def _gated() -> np.ndarray:
    """Music with a passage 50 dB down (under the relative gate) and a second of silence."""
    x = music(20, FS, seed=3)
    x[:, 5 * FS : 12 * FS] *= 10 ** (-50 / 20)
    x[:, 15 * FS : 16 * FS] = 0.0
    return x


def _clipped() -> np.ndarray:
    """Music pushed 14 dB into hard clipping: flat tops, inter-sample overs."""
    return np.clip(music(20, FS, seed=5) * 10 ** (14 / 20), -1.0, 1.0)


SIGNALS = {
    "tone": lambda: sine(-18, 20, FS, 997.0),
    "pink": lambda: _pink(20, -20),
    "gated": _gated,
    "clipped": _clipped,
}


def _ebur128(x: np.ndarray, modes: int) -> pyebur128.R128State:
    """libebur128 fed ``x`` (channels, frames) as interleaved float64."""
    state = pyebur128.R128State(x.shape[0], FS, modes)
    state.add_frames(np.ascontiguousarray(x.T).ravel(), x.shape[1])
    return state


def _db(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else -math.inf


@pytest.fixture(scope="module", params=sorted(SIGNALS))
def measured(request, tmp_path_factory) -> tuple[np.ndarray, dict]:
    """(the samples as read back, `analyze --json`'s object) of one signal in a 24-bit WAV."""
    path = tmp_path_factory.mktemp("figures") / f"{request.param}.wav"
    sf.write(path, SIGNALS[request.param]().T, FS, subtype="PCM_24")
    x = sf.read(path, dtype="float64", always_2d=True)[0].T
    out = subprocess.run([sys.executable, "-m", "host", "analyze", str(path), "--json"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    [data] = json.loads(out)
    return x, data


def test_loudness_and_peaks_agree_with_libebur128_and_pyloudnorm(measured) -> None:
    x, data = measured
    state = _ebur128(x, MODES.MODE_I | MODES.MODE_SAMPLE_PEAK | MODES.MODE_TRUE_PEAK)
    assert data["integrated_lufs"] == pytest.approx(pyebur128.get_loudness_global(state), abs=0.01)
    # pyloudnorm's K-weighting (designed from other prototypes) reads 0.04 LU lower here
    pyln = pyloudnorm.Meter(FS).integrated_loudness(x.T)
    assert data["integrated_lufs"] == pytest.approx(pyln, abs=0.05)
    sample_peak = _db(max(pyebur128.get_sample_peak(state, c) for c in range(2)))
    assert data["sample_peak_dbfs"] == pytest.approx(sample_peak, abs=1e-6)
    # another interpolator: close on ordinary material, 0.14 dB apart on hard-clipped tops
    true_peak = _db(max(pyebur128.get_true_peak(state, c) for c in range(2)))
    assert data["true_peak_dbtp"] == pytest.approx(true_peak, abs=0.2)
    assert data["true_peak_dbtp"] >= data["sample_peak_dbfs"]


def test_the_mono_fold_reads_as_libebur128_reads_the_folded_file(measured) -> None:
    """mono loss = I(L, R) − I((L + R) / 2 in both speakers) = I − (I_mono((L + R) / 2) + 3.01 dB)."""
    x, data = measured
    fold = _ebur128(0.5 * (x[:1] + x[1:]), MODES.MODE_I)
    both = pyebur128.get_loudness_global(fold) + 10 * math.log10(2)
    assert data["mono_loss_lu"] == pytest.approx(data["integrated_lufs"] - both, abs=0.01)


def test_the_moments_are_numpys(measured) -> None:
    x, data = measured
    left, right = x
    assert data["correlation"] == pytest.approx(
        np.sum(left * right) / math.sqrt(np.sum(left**2) * np.sum(right**2)), abs=1e-9)  # fmt: skip
    assert data["dc_offset_per_channel"] == pytest.approx(x.mean(axis=1).tolist(), abs=1e-12)
    assert data["rms_dbfs"] == pytest.approx(10 * math.log10(np.mean(x**2)), abs=1e-9)
    assert data["crest_factor_db"] == pytest.approx(data["sample_peak_dbfs"] - data["rms_dbfs"], abs=1e-9)


@pytest.mark.parametrize("block", [4800, 65536, 10**6])
def test_the_stereo_meters_mono_fold_is_a_mono_meter_of_the_fold(block: int) -> None:
    x = _gated()
    meter = LoudnessMeter(2, FS, mono_fold=True)
    alone = LoudnessMeter(1, FS, weights=[2.0], true_peak=False)
    for start in range(0, x.shape[1], block):
        part = x[:, start : start + block]
        meter.process(part)
        alone.process(0.5 * (part[0] + part[1]))
    assert meter.mono_fold is not None
    assert meter.mono_fold.integrated() == pytest.approx(alone.integrated(), abs=1e-9)
    assert meter.mono_fold.max_momentary == pytest.approx(alone.max_momentary, abs=1e-9)
    assert meter.mono_fold.frames == alone.frames == x.shape[1]


@pytest.mark.parametrize("channels", [1, 6])
def test_only_a_stereo_meter_has_a_mono_fold(channels: int) -> None:
    with pytest.raises(ValueError, match="2 channels"):
        LoudnessMeter(channels, FS, mono_fold=True)


@pytest.mark.parametrize(
    "container,subtype",
    [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "FLOAT"), ("AIFF", "PCM_24"),
     ("FLAC", "PCM_24"), ("WAV", "PCM_U8")],  # fmt: skip
)
def test_blocks_hold_libsndfiles_own_float64_values(tmp_path, container: str, subtype: str) -> None:
    path = tmp_path / f"x.{container.lower()}"
    rng = np.random.default_rng(3)
    sf.write(path, rng.uniform(-1, 1, (70001, 2)), FS, subtype=subtype, format=container)
    with open_audio(path) as handle:
        blocks = list(iter_blocks(handle, 65536, path))
    assert [b.shape[1] for b in blocks] == [65536, 70001 - 65536]
    assert all(b.flags.c_contiguous and b.dtype == np.float64 for b in blocks)
    assert not np.shares_memory(blocks[0], blocks[1])  # a caller may keep each block
    expected = sf.read(path, dtype="float64", always_2d=True)[0].T
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), expected)


# what `analyze --json` has no use for: plots, plugins, live audio and MIDI, tables, the session parser
NOT_FOR_ANALYZE = ("matplotlib", "pedalboard", "jack", "rtmidi", "mido", "rich", "jsonschema",
                   "ruamel", "dask", "distributed", "zeroconf", "starlette", "soxr")  # fmt: skip

# runs `analyze --json` in a fresh interpreter; reports the modules loaded and, for each compiled
# kernel that ran, the signatures numba found in its cache and those it had to compile
_FRESH_CHILD = """
import json, sys
from host.cli import main
code = main(["analyze", sys.argv[1], "--json"])
kernels = {}
for module in ("host.loudness.meter", "host.dsp.true_peak", "host.analysis.report"):
    for name, kernel in vars(sys.modules[module]).items():
        if getattr(kernel, "signatures", None) and hasattr(kernel, "stats"):
            kernels[name] = [len(kernel.stats.cache_hits), len(kernel.stats.cache_misses)]
print(json.dumps({"code": code, "modules": sorted(sys.modules), "kernels": kernels}), file=sys.stderr)
"""


def _fresh_analyze(path: Path) -> dict:
    root = str(Path(host.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _FRESH_CHILD, str(path)],
                          capture_output=True, text=True, check=True, env=env)  # fmt: skip
    [data] = json.loads(done.stdout)
    assert math.isfinite(data["integrated_lufs"])
    report: dict = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0
    return report


def test_analyze_json_imports_only_what_it_measures_with(tmp_path) -> None:
    path = tmp_path / "m.wav"
    sf.write(path, music(2, FS, seed=1).T, FS, subtype="PCM_24")
    report = _fresh_analyze(path)
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert not loaded & set(NOT_FOR_ANALYZE)
    assert "host.session" not in report["modules"]


def test_a_second_fresh_analyze_compiles_nothing(tmp_path) -> None:
    """numba's on-disk cache serves every kernel: a start-up loads them, it never compiles them."""
    path = tmp_path / "m.wav"
    sf.write(path, music(2, FS, seed=1).T, FS, subtype="PCM_24")
    _fresh_analyze(path)  # fills the cache if this checkout has never run these kernels
    kernels = _fresh_analyze(path)["kernels"]
    assert {"_k_weight_stereo_fold", "_peak_kernel", "_stereo_moments"} <= set(kernels)
    assert {name: counts for name, counts in kernels.items() if counts != [1, 0]} == {}


@pytest.mark.parametrize("at_s", [0.5, 3.0])  # in the first block, in a later one
def test_a_nan_stops_analyze_cleanly_and_leaves_no_thread(tmp_path, capsys, at_s: float) -> None:
    x = music(4, FS, seed=2)
    x[1, int(at_s * FS)] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x.T, FS, subtype="FLOAT")
    assert main(["analyze", str(path), "--json"]) == 2
    assert "holds NaN or infinite samples" in capsys.readouterr().err
    # the worker that took the moments and the spectrum has stopped; the collector, paused
    # while numba loaded and the file was measured, runs again
    assert not [t.name for t in threading.enumerate() if t.name.startswith("analyze")]
    assert gc.isenabled()


# the OS threads of a fresh `analyze` once its Python threads are done: an OpenBLAS pool's
# workers are threads Python does not know of (they spin for a while after each wake-up)
_THREADS_CHILD = """
import contextlib, gc, io, os, sys, threading, time
from host.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["analyze", sys.argv[1], "--json"]) == 0
gc.collect()
deadline = time.monotonic() + 5
while len(os.listdir("/proc/self/task")) != threading.active_count() and time.monotonic() < deadline:
    time.sleep(0.05)
print(len(os.listdir("/proc/self/task")) - threading.active_count())
"""


@pytest.mark.parametrize("asked", [None, "2"])
def test_analyze_starts_no_blas_thread_pool(tmp_path, asked: str | None) -> None:
    """analyze calls no BLAS: unless the user asks for OpenBLAS threads, it starts none."""
    path = tmp_path / "m.wav"
    sf.write(path, music(1, FS, seed=1).T, FS, subtype="PCM_24")
    root = str(Path(host.__file__).resolve().parent.parent)
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    if asked is not None:
        env["OPENBLAS_NUM_THREADS"] = asked
    done = subprocess.run([sys.executable, "-c", _THREADS_CHILD, str(path)],
                          capture_output=True, text=True, check=True, env=env)  # fmt: skip
    native = int(done.stdout.strip().splitlines()[-1])
    if asked is None:
        assert native == 0
    elif (os.cpu_count() or 1) >= 2:  # the control: a pool the user asked for is seen
        assert native > 0


_FREEZE_CHILD = """
import contextlib, gc, io, sys
from host.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    assert main(["analyze", sys.argv[1], "--json"]) == 0
called = gc.get_freeze_count()
sys.argv = ["mixhost", "analyze", sys.argv[1], "--json"]
with contextlib.redirect_stdout(io.StringIO()):
    assert main() == 0
print(called, gc.get_freeze_count())
"""


def test_only_a_command_that_is_the_process_freezes_the_heap_for_its_exit(tmp_path) -> None:
    """`mixhost CMD` skips the exit-time collections over numba's objects; a caller of main(argv) keeps its GC."""
    path = tmp_path / "m.wav"
    sf.write(path, music(1, FS, seed=1).T, FS, subtype="PCM_24")
    root = str(Path(host.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _FREEZE_CHILD, str(path)],
                          capture_output=True, text=True, check=True, env=env)  # fmt: skip
    called, program = (int(n) for n in done.stdout.split())
    assert called == 0
    assert program > 0
