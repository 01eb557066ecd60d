"""`mixhost analyze FILE --json` as a whole process against ffmpeg's ebur128 filter (issue 22).

Both measure the same 4-minute stereo 48 kHz 24-bit WAV of synthetic music
(four differently seeded minutes), in the same run, alternating, after one
warm-up each (numba's kernels come from its cache, as on any run after the
first):

* mixhost: ``python -m host analyze FILE --json`` (integrated, momentary and
  short-term maxima, LRA, true and sample peak, PLR, DC, correlation, mono
  fold, spectrum);
* ffmpeg: ``ffmpeg -nostats -i FILE -af ebur128=peak=true -f null -``
  (integrated, LRA, true peak).

Wall time is the child's elapsed time, CPU time its user + system time from
``getrusage(RUSAGE_CHILDREN)`` deltas (every thread counts: a thread pool
spinning on the other core shows here, not in wall time).  Each is the median
of the repeats; the ratios are mixhost / ffmpeg, target <= 1.0 for both.
``detail`` also gives both programs' integrated loudness and true peak, and
mixhost's start-up (the same command on a 1-second file).  The children run
with their bytecode cached, as an installed package's is: a
``PYTHONDONTWRITEBYTECODE`` in the environment is dropped for them.

* **analyze.per_file_warm**: what a batch worker pays per file, the
  interpreter, numpy and numba's kernels already loaded: the CPU time of
  ``analyze_file`` on the same file in a warm process (median), against
  ffmpeg's whole-process CPU time.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from host.analysis.signals import music

FS = 48000
TARGET = 1.0


def _write_music(path: Path, minutes: float) -> None:
    """Synthetic music, one differently seeded minute after another, as a 24-bit WAV."""
    parts = []
    remaining, seed = minutes * 60.0, 42
    while remaining > 0:
        parts.append(music(min(60.0, remaining), FS, seed=seed))
        remaining -= 60.0
        seed += 1
    sf.write(path, np.concatenate(parts, axis=1).T, FS, subtype="PCM_24")


_WARM_CHILD = """
import json, statistics, sys, time
from host.analysis.report import analyze_file
analyze_file(sys.argv[2])  # warm: the kernels loaded from numba's cache
cpu = []
for _ in range(int(sys.argv[3])):
    start = time.process_time()
    analyze_file(sys.argv[1])
    cpu.append(time.process_time() - start)
print(json.dumps(statistics.median(cpu)))
"""

# bytecode cached as in any install (this matters ~0.1 s to a whole-process run)
_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall s, CPU s, the finished process) of one run of ``argv``."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True, env=_ENV)
    return time.perf_counter() - start, _children_cpu() - cpu, done


def _mixhost(path: Path) -> list[str]:
    return [sys.executable, "-m", "host", "analyze", str(path), "--json"]


def _ffmpeg(path: Path) -> list[str]:
    return ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
            "-f", "null", "-"]  # fmt: skip


def _ffmpeg_figures(stderr: str) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) from the ebur128 filter's summary."""
    integrated = re.findall(r"I:\s+(-?[\d.]+) LUFS", stderr)[-1]
    peak = re.findall(r"Peak:\s+(-?[\d.]+|-inf) dBFS", stderr)[-1]
    return float(integrated), float(peak)


def run(quick: bool = False) -> list[dict[str, Any]]:
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg is not installed: install it (apt-get install ffmpeg)")
    minutes = 1.0 if quick else 4.0
    repeats = 3 if quick else 7
    with tempfile.TemporaryDirectory() as folder:
        path, short = Path(folder) / "music.wav", Path(folder) / "short.wav"
        _write_music(path, minutes)
        _write_music(short, 1.0 / 60.0)
        commands = {"mixhost": _mixhost(path), "ffmpeg": _ffmpeg(path)}
        for argv in commands.values():  # warm-up: caches, page cache
            _timed(argv)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        outputs: dict[str, subprocess.CompletedProcess[str]] = {}
        for _ in range(repeats):
            for name, argv in commands.items():
                wall, cpu, outputs[name] = _timed(argv)
                walls[name].append(wall)
                cpus[name].append(cpu)
        startup = statistics.median(_timed(_mixhost(short))[0] for _ in range(3))
        warm = float(_timed([sys.executable, "-c", _WARM_CHILD, str(path), str(short), str(repeats)])[2].stdout)

    [ours] = json.loads(outputs["mixhost"].stdout)
    i_ff, tp_ff = _ffmpeg_figures(outputs["ffmpeg"].stderr)
    wall = {name: statistics.median(v) for name, v in walls.items()}
    cpu = {name: statistics.median(v) for name, v in cpus.items()}
    what = (f"{minutes:g} min stereo 48 kHz 24-bit WAV, median of {repeats}; "
            f"I {ours['integrated_lufs']:.2f} vs {i_ff:.1f} LUFS, "
            f"TP {ours['true_peak_dbtp']:.2f} vs {tp_ff:.1f} dBTP")  # fmt: skip
    rows = []
    for name, measured in (("wall", wall), ("cpu", cpu)):
        ratio = measured["mixhost"] / measured["ffmpeg"]
        rows.append({
            "name": f"analyze.vs_ffmpeg_{name}",
            "ratio": ratio,
            "target": f"<= {TARGET:g}",
            "ok": ratio <= TARGET,
            "detail": (f"{name} time: mixhost analyze --json {measured['mixhost']:.3f} s, ffmpeg ebur128 "
                       f"peak=true {measured['ffmpeg']:.3f} s; {what}"
                       + (f"; mixhost start-up (1 s file) {startup:.3f} s wall" if name == "wall" else "")),
        })  # fmt: skip
    ratio = warm / cpu["ffmpeg"]
    rows.append({
        "name": "analyze.per_file_warm",
        "ratio": ratio,
        "target": f"<= {TARGET:g}",
        "ok": ratio <= TARGET,
        "detail": (f"CPU time per file in a warm process (a batch worker): mixhost analyze_file {warm:.3f} s, "
                   f"ffmpeg whole process {cpu['ffmpeg']:.3f} s; {what}"),
    })  # fmt: skip
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
