"""Plugin hosting benchmarks (issue 3): host overhead and rescan time.

* **plugins.host_overhead**: a chain of two real plugins (DISTRHO 3BandEQ then
  MVerb) over 4 minutes of stereo noise at 48 kHz, rendered through mixhost's
  :class:`~host.plugins.stage.PluginStage` in 4096-frame float64 blocks
  (registry reads, change checks, float32 conversion, NaN check included),
  against the same two plugins called directly through pedalboard in one call
  each on the whole float32 signal with the same internal block size (``PLUGIN_BLOCK``,
  the 64 samples mixhost hands a plugin at a time).
  Ratio = mixhost time / pedalboard time, target <= 1.10.  Both outputs are
  compared in ``detail``.
* **plugins.session_overhead**: the same chain in a session file (one stereo
  track, ``path:`` entries with the same settings, 4096-frame blocks, float
  mixdown), rendered by ``Session.render``: the whole host path (reading the
  source, the chain, fader and pan, the mix bus, writing the file).  The
  reference is what a user would write with pedalboard alone: read the same
  file with soundfile, run both plugins in one call each, write the result.
  Ratio = render / reference, target <= 1.10; ``detail`` also gives the bare
  pedalboard processing time and the largest difference between the two files.
* **plugins.rescan**: ``scan()`` of the test plugin folder with a warm cache
  against the same scan with an empty cache (every bundle probed in a child
  process).  Ratio = warm / cold, target <= 0.10.

The plugins come from ``MIXHOST_PLUGIN_DIR`` (built by `make plugins`).
Times are the best of a few alternating repeats after a warm-up.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from host.plugins import loader
from host.plugins.cache import CACHE_DIR_ENV, PluginCache
from host.plugins.scan import PLUGIN_PATH_ENV, scan
from host.plugins.stage import PluginStage, make_plugin_stage
from host.registry import Registry
from host.stages.base import ParamView
from host.stages.native import PLUGIN_BLOCK

FS = 48_000
BLOCK = 4096
OVERHEAD_TARGET = 1.10
RESCAN_TARGET = 0.10
CHAIN = ("3BandEQ", "MVerb")
SETTINGS = {"3BandEQ": {"low_db": -6.0, "high_db": 3.0}, "MVerb": {"mix": 30.0, "decay": 60.0}}


def _plugin_dir() -> Path:
    directory = Path(os.environ.get("MIXHOST_PLUGIN_DIR") or Path.home() / ".cache/mixhost/test-plugins")
    missing = [n for n in CHAIN if not (directory / f"{n}.vst3").is_dir()]
    if missing:
        raise FileNotFoundError(f"plugins {missing} missing from {directory}: run `make plugins`")
    return directory


@contextmanager
def _env(**values: str | None) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _stages(directory: Path) -> list[PluginStage]:
    registry = Registry()
    stages = []
    for name in CHAIN:
        stage = make_plugin_stage(name.lower(), {"path": f"{name}.vst3"}, directory)
        params = {s.name: registry.register(f"tracks/bench/{stage.id}/{s.name}", s) for s in stage.param_specs()}
        stage.bind(ParamView(registry, params))
        for key, value in SETTINGS[name].items():
            registry.set(f"tracks/bench/{stage.id}/{key}", value)
        stage.prepare(FS, BLOCK, 2)
        stages.append(stage)
    return stages


def _overhead(directory: Path, seconds: float, repeats: int) -> dict[str, Any]:
    signal64 = 0.1 * np.random.default_rng(3).standard_normal((2, int(seconds * FS)))
    signal32 = signal64.astype(np.float32)
    stages = _stages(directory)
    direct = [loader.load(directory / f"{n}.vst3") for n in CHAIN]
    for plugin, name in zip(direct, CHAIN, strict=True):
        for key, value in SETTINGS[name].items():
            setattr(plugin, key, value)
    out = np.empty_like(signal64)

    def through_mixhost() -> np.ndarray:
        for stage in stages:
            stage.reset()
        for start in range(0, signal64.shape[1], BLOCK):
            block = signal64[:, start : start + BLOCK].copy()
            for stage in stages:
                block = stage.process(block)
            out[:, start : start + block.shape[1]] = block
        return out

    def through_pedalboard() -> np.ndarray:
        audio = signal32
        for plugin in direct:
            audio = plugin.process(audio, FS, buffer_size=PLUGIN_BLOCK, reset=True)
        return audio

    through_mixhost()  # warm-up (first prepare of each plugin at this rate and block size)
    through_pedalboard()
    host_times, ref_times = [], []
    for _ in range(repeats):
        t, host_out = _best(through_mixhost, 1)
        host_times.append(t)
        t, ref_out = _best(through_pedalboard, 1)
        ref_times.append(t)
    host_t, ref_t = min(host_times), min(ref_times)
    difference = float(np.max(np.abs(host_out - ref_out)))
    ratio = host_t / ref_t
    return {
        "name": "plugins.host_overhead",
        "ratio": round(ratio, 3),
        "target": f"<= {OVERHEAD_TARGET:.2f}",
        "ok": ratio <= OVERHEAD_TARGET,
        "detail": f"{' + '.join(CHAIN)}, {seconds:g} s stereo {FS} Hz: mixhost {host_t:.3f} s in "
                  f"{BLOCK}-frame blocks, pedalboard {ref_t:.3f} s in one call per plugin; "
                  f"max |difference| {difference:.2e}",
    }


SESSION = """
session: {{name: plugin overhead, sample_rate: {fs}, block_size: {block}}}
tracks:
  bench:
    source: noise.wav
    chain:
{chain}
outputs: {{mixdown: mix.wav, bit_depth: float}}
"""


def _session_overhead(directory: Path, seconds: float, repeats: int) -> dict[str, Any]:
    import soundfile as sf

    import host

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        signal = (0.1 * np.random.default_rng(5).standard_normal((int(seconds * FS), 2))).astype(np.float32)
        sf.write(folder / "noise.wav", signal, FS, subtype="FLOAT")
        chain = "\n".join(
            f"      - {{id: {n.lower()}, path: {directory / (n + '.vst3')}, params: "
            + "{" + ", ".join(f"{k}: {v}" for k, v in SETTINGS[n].items()) + "}}"
            for n in CHAIN
        )
        (folder / "bench.yaml").write_text(SESSION.format(fs=FS, block=BLOCK, chain=chain))
        session = host.load_session(folder / "bench.yaml")
        direct = [loader.load(directory / f"{n}.vst3") for n in CHAIN]
        for plugin, name in zip(direct, CHAIN, strict=True):
            for key, value in SETTINGS[name].items():
                setattr(plugin, key, value)

        def through_session() -> None:
            session.render()

        def process(audio: np.ndarray) -> np.ndarray:
            for plugin in direct:
                audio = plugin.process(audio, FS, buffer_size=PLUGIN_BLOCK, reset=True)
            return audio

        def through_pedalboard() -> None:
            audio, _ = sf.read(folder / "noise.wav", dtype="float32", always_2d=True)
            sf.write(folder / "direct.wav", process(audio.T).T, FS, subtype="FLOAT")

        through_session()  # warm-up
        through_pedalboard()
        host_times, ref_times, bare_times = [], [], []
        for _ in range(repeats):
            host_times.append(_best(through_session, 1)[0])
            ref_times.append(_best(through_pedalboard, 1)[0])
            bare_times.append(_best(lambda: process(signal.T), 1)[0])
        mixed, _ = sf.read(folder / "mix.wav", always_2d=True)
        reference, _ = sf.read(folder / "direct.wav", always_2d=True)
    host_t, ref_t, bare_t = min(host_times), min(ref_times), min(bare_times)
    difference = float(np.max(np.abs(mixed - reference))) if mixed.shape == reference.shape else float("inf")
    ratio = host_t / ref_t
    return {
        "name": "plugins.session_overhead",
        "ratio": round(ratio, 3),
        "target": f"<= {OVERHEAD_TARGET:.2f}",
        "ok": ratio <= OVERHEAD_TARGET and difference < 1e-5,
        "detail": f"{' + '.join(CHAIN)}, {seconds:g} s stereo: Session.render {host_t:.3f} s vs pedalboard "
                  f"with soundfile read/write {ref_t:.3f} s (processing alone {bare_t:.3f} s); "
                  f"max |difference| of the files {difference:.2e}",
    }


def _rescan(directory: Path, repeats: int) -> dict[str, Any]:
    colds, warms = [], []
    count = 0
    with tempfile.TemporaryDirectory() as tmp, _env(**{PLUGIN_PATH_ENV: None}):
        for index in range(repeats):
            cache = PluginCache(Path(tmp) / f"cache{index}")
            start = time.perf_counter()
            report = scan([directory], cache=cache)
            colds.append(time.perf_counter() - start)
            count = len(report.probed)
            start = time.perf_counter()
            warm_report = scan([directory], cache=cache)
            warms.append(time.perf_counter() - start)
            if warm_report.probed:
                raise RuntimeError(f"warm rescan probed again: {warm_report.probed}")
    cold, warm = min(colds), min(warms)
    ratio = warm / cold
    return {
        "name": "plugins.rescan",
        "ratio": round(ratio, 4),
        "target": f"<= {RESCAN_TARGET:.2f}",
        "ok": ratio <= RESCAN_TARGET,
        "detail": f"{count} bundles: cold scan {cold * 1000:.0f} ms (each probed in a child process), "
                  f"warm rescan {warm * 1000:.1f} ms (cache hit on path + mtime)",
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    directory = _plugin_dir()
    with tempfile.TemporaryDirectory() as tmp, _env(**{CACHE_DIR_ENV: tmp}):
        overhead = _overhead(directory, 30.0 if quick else 240.0, 2 if quick else 3)
        session = _session_overhead(directory, 30.0 if quick else 240.0, 2 if quick else 3)
        rescan = _rescan(directory, 2 if quick else 3)
    return [overhead, session, rescan]


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(row)
