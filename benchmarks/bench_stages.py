"""Native stage speed against pedalboard's built-ins (issue 4).

Each row times a native mixhost stage and the nearest pedalboard built-in on
the same 4 minutes of synthetic stereo music at 48 kHz, in the same run:

* **stages.eq_3band**: ``eq`` with three bells vs three ``PeakFilter``s;
* **stages.compressor**: ``compressor`` (hard knee, peak detection) vs ``Compressor``;
* **stages.gate**: ``gate`` vs ``NoiseGate``;
* **stages.limiter**: ``limiter`` (true-peak: 4x oversampled detection,
  lookahead) vs ``Limiter`` (sample-peak).

Ratio = mixhost time / pedalboard time (lower is better); targets <= 1.5,
and <= 3 for the limiter.  mixhost processes float64 ``(channels, frames)``
blocks of 8192 frames (the render engine's default block) through the stage
protocol, parameters bound to a registry as in a session.  pedalboard gets
the whole signal in one call as a contiguous float32 array, its fastest path.
Times are the best of a few alternating repeats after a warm-up (numba's
kernels load from its cache or compile there, untimed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from host.analysis.signals import music
from host.registry import Registry
from host.stages import stage_class
from host.stages.base import ParamView, Stage

FS = 48_000
BLOCK = 8192


def _signal(seconds: float) -> np.ndarray:
    """Synthetic music, one minute generated and repeated to the length, peaks near -3 dBFS."""
    one = music(min(60.0, seconds), FS, seed=7, level_db=-14.0)
    reps = int(np.ceil(seconds * FS / one.shape[1]))
    x = np.tile(one, (1, reps))[:, : int(seconds * FS)]
    return np.ascontiguousarray(x / np.max(np.abs(x)) * 10 ** (-3 / 20))


def _stage(type_name: str, options: Mapping[str, Any] | None, params: Mapping[str, Any]) -> Stage:
    registry = Registry()
    stage = stage_class(type_name)("bench", options)
    registered = {s.name: registry.register(f"bench/{s.name}", s) for s in stage.param_specs()}
    stage.bind(ParamView(registry, registered))
    for name, value in params.items():
        registry.set(f"bench/{name}", value)
    stage.prepare(FS, BLOCK, 2)
    return stage


def _run_stage(stage: Stage, x: np.ndarray) -> None:
    for start in range(0, x.shape[1], BLOCK):
        stage.process(x[:, start : start + BLOCK].copy())


def _best(fn: Callable[[], None], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _cases() -> list[tuple[str, str, dict[str, Any], dict[str, Any], Callable[[], Any], float]]:
    import pedalboard as pb

    bells = [(200.0, 3.0, 1.0), (1000.0, -3.0, 1.0), (5000.0, 2.0, 0.7)]
    return [
        ("stages.eq_3band", "eq",
         {"bands": [{"type": "bell", "freq_hz": f, "gain_db": g, "q": q} for f, g, q in bells]}, {},
         lambda: pb.Pedalboard([pb.PeakFilter(f, g, q) for f, g, q in bells]), 1.5),
        ("stages.compressor", "compressor", {},
         {"threshold_db": -20.0, "ratio": 4.0, "knee_db": 0.0, "attack_ms": 5.0, "release_ms": 100.0},
         lambda: pb.Compressor(threshold_db=-20.0, ratio=4.0, attack_ms=5.0, release_ms=100.0), 1.5),
        ("stages.gate", "gate", {},
         {"threshold_db": -40.0, "range_db": -80.0, "attack_ms": 1.0, "hold_ms": 0.0, "release_ms": 100.0},
         lambda: pb.NoiseGate(threshold_db=-40.0, ratio=10.0, attack_ms=1.0, release_ms=100.0), 1.5),
        ("stages.limiter", "limiter", {},
         {"input_gain_db": 6.0, "ceiling_dbtp": -1.0, "release_ms": 100.0},
         lambda: pb.Limiter(threshold_db=-7.0, release_ms=100.0), 3.0),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    seconds = 30.0 if quick else 240.0
    repeats = 2 if quick else 3
    x = _signal(seconds)
    x32 = x.astype(np.float32)
    warm = x[:, :FS]
    rows = []
    for name, type_name, options, params, make_ref, target in _cases():
        ours = _stage(type_name, options, params)
        ref = make_ref()
        _run_stage(ours, warm)
        ref(warm.astype(np.float32), FS)
        times = {"mixhost": float("inf"), "pedalboard": float("inf")}
        for _ in range(repeats):  # alternate, so load changes hit both sides alike
            ours.reset()
            times["mixhost"] = min(times["mixhost"], _best(lambda s=ours: _run_stage(s, x), 1))
            ref.reset()
            times["pedalboard"] = min(times["pedalboard"], _best(lambda r=ref: r(x32, FS), 1))
        ratio = times["mixhost"] / times["pedalboard"]
        rows.append({
            "name": name,
            "ratio": ratio,
            "target": f"<= {target:g}",
            "ok": ratio <= target,
            "detail": (f"mixhost {times['mixhost']:.3f} s vs pedalboard {times['pedalboard']:.3f} s "
                       f"on {seconds:g} s stereo @ {FS} Hz, blocks of {BLOCK}"),
        })
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:20s} {row['ratio']:.3f} {row['target']:8s} {'ok' if row['ok'] else 'MISSED'}  {row['detail']}")
