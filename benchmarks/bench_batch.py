"""Catalogue benchmarks (issue 22): `mixhost batch` against ffmpeg-normalize, Dask scaling, memory.

* **batch.vs_ffmpeg_normalize**: ``mixhost batch master --target ebu-r128`` (−23 LUFS, −1 dBTP) on
  a generated catalogue of 20 files × 3 min (synthesized stereo music, 48 kHz, 24-bit WAV, levels
  spread over 20 dB), as whole commands, against ``ffmpeg-normalize`` (loudnorm, two passes, the
  same target and ceiling, ``--keep-loudness-range-target`` so loudnorm stays linear as mixhost
  does, 24-bit WAV out), in the same run.  Ratio = ffmpeg-normalize's wall time / mixhost's,
  target >= 2.  mixhost uses its default pool (one worker per core); ffmpeg-normalize does one file
  after another, which is how it runs.  ``batch.vs_ffmpeg_normalize_1_worker`` gives the ratio
  with ``-j 1`` (the same CPU count on both sides).
* **batch.accuracy**: every output of both measured by ffmpeg's ebur128 filter (an independent
  meter).  Ratio = mixhost's largest |error| in LU; target <= 0.2 LU with every true peak under
  the ceiling.  ffmpeg-normalize's figures are in ``detail``.
* **batch.dask_scaling**: the same masters on a Dask LocalCluster of 1 worker and of 2 workers
  (the batch's own time, start to end events; the cluster is started before).  Ratio = 1-worker
  time / 2-worker time (a 2-core machine: target >= 1.5).
* **batch.dask_overhead**: the local pool against Dask with 2 workers each; ratio = Dask time /
  pool time, target <= 1.10; the overhead per task in ``detail``.
* **batch.memory**: peak RSS of the whole process tree (planner + workers, sampled every 20 ms)
  of ``batch master`` on 20 files against 200 files.  The 200 are short (10 s) and so are the 20,
  so the ratio shows what grows with the file count; target <= 1.2.

``--quick``: 4 files × 20 s for the comparisons and 20 against 60 files of 3 s for the memory.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import soundfile as sf

from host.analysis.signals import music

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FS = 48000
TARGET_LUFS, CEILING = -23.0, -1.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _catalogue(folder: Path, files: int, seconds: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(files):
        path = folder / f"track {index:03d}.wav"
        with sf.SoundFile(path, "w", FS, 2, subtype="PCM_24") as handle:
            left, seed = seconds, index * 1000
            while left > 0:  # a minute at a time: memory stays small for long files
                part = min(60.0, left)
                handle.write(music(part, FS, seed=seed, level_db=-30.0 + (index % 9) * 2.5).T)
                left -= part
                seed += 1
        paths.append(path)
    return paths


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env=_env())
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}... failed ({run.returncode}): {run.stderr[-1500:]}")
    return elapsed


_SUMMARY = re.compile(r"I:\s*(-?[\d.]+|-inf) LUFS.*?Peak:\s*(-?[\d.]+|-inf) dBFS", re.S)


def ebur128(path: Path) -> tuple[float, float]:
    run = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True, check=True)
    match = _SUMMARY.search(run.stderr[run.stderr.rfind("Summary:"):])
    if match is None:
        raise RuntimeError(f"no ebur128 summary for {path}")
    return float(match[1]), float(match[2])


def _accuracy(folder: Path) -> tuple[float, float]:
    """(largest |integrated − target| LU, highest true peak dBTP) of every WAV in ``folder``."""
    errors, peaks = [], []
    for path in sorted(folder.glob("*.wav")):
        integrated, peak = ebur128(path)
        errors.append(abs(integrated - TARGET_LUFS))
        peaks.append(peak)
    return max(errors), max(peaks)


def _ffmpeg_normalize() -> str:
    found = shutil.which("ffmpeg-normalize") or str(Path(sys.executable).parent / "ffmpeg-normalize")
    if not Path(found).exists():
        raise RuntimeError("ffmpeg-normalize is not installed")
    return found


def _versus(work: Path, files: int, seconds: float) -> list[dict[str, Any]]:
    sources = _catalogue(work / "catalogue", files, seconds)
    mixhost = [sys.executable, "-m", "host", "batch", "master", str(work / "catalogue"), "--target", "ebu-r128",
               "--format", "wav", "--no-progress", "--force"]
    # warm the kernel cache (numba) once, outside the timings
    _timed([*mixhost[:5], str(sources[0]), "-o", str(work / "warm"), *mixhost[6:]])
    ours = _timed([*mixhost, "-o", str(work / "mixhost")])
    ours_1 = _timed([*mixhost, "-o", str(work / "mixhost-1"), "-j", "1"])
    theirs = _timed([_ffmpeg_normalize(), *map(str, sources), "-of", str(work / "ffmpeg-normalize"),
                     "-nt", "ebu", "-t", str(TARGET_LUFS), "-tp", str(CEILING), "--keep-loudness-range-target",
                     "-c:a", "pcm_s24le", "-ar", str(FS), "-ext", "wav", "-f", "-q"])
    error, peak = _accuracy(work / "mixhost")
    their_error, their_peak = _accuracy(work / "ffmpeg-normalize")
    size = f"{files} files x {seconds:g} s"
    workers = os.cpu_count() or 1
    return [
        {"name": "batch.vs_ffmpeg_normalize", "ratio": theirs / ours, "target": ">= 2.0", "ok": theirs / ours >= 2.0,
         "detail": f"{size}: mixhost -j {workers} {ours:.1f} s, ffmpeg-normalize {theirs:.1f} s"},
        {"name": "batch.vs_ffmpeg_normalize_1_worker", "ratio": theirs / ours_1, "target": ">= 1.0",
         "ok": theirs / ours_1 >= 1.0, "detail": f"{size}: mixhost -j 1 {ours_1:.1f} s, ffmpeg-normalize {theirs:.1f} s"},
        {"name": "batch.accuracy", "ratio": error, "target": "<= 0.2 LU, TP <= -1",
         "ok": error <= 0.2 and peak <= CEILING,
         "detail": f"ffmpeg ebur128 (0.1 resolution): mixhost max |error| {error:.1f} LU, max TP {peak:.1f} dBTP; "
                   f"ffmpeg-normalize max |error| {their_error:.1f} LU, max TP {their_peak:.1f} dBTP"},
    ]


def _batch_seconds(source: Path, out: Path, **options: Any) -> float:
    """The batch's own time (start to end events), in this process, through the Python API."""
    import host

    stamps: dict[str, float] = {}
    host.batch("master", [source], out_dir=out, target="ebu-r128", fmt="wav", force=True,
               on_event=lambda e: stamps.setdefault(e["event"], time.perf_counter()), **options)
    return stamps["end"] - stamps["start"]


def _scaling(work: Path, files: int, seconds: float) -> list[dict[str, Any]]:
    source = work / "catalogue"
    if not source.exists():
        _catalogue(source, files, seconds)
    one = _batch_seconds(source, work / "dask1", dask="local:1")
    two = _batch_seconds(source, work / "dask2", dask="local:2")
    pool = _batch_seconds(source, work / "pool2", workers=2)
    overhead_ms = (two - pool) / files * 1000.0
    return [
        {"name": "batch.dask_scaling", "ratio": one / two, "target": ">= 1.5", "ok": one / two >= 1.5,
         "detail": f"{files} files: LocalCluster 1 worker {one:.1f} s, 2 workers {two:.1f} s"},
        {"name": "batch.dask_overhead", "ratio": two / pool, "target": "<= 1.10", "ok": two / pool <= 1.10,
         "detail": f"2 workers: local pool {pool:.1f} s, Dask {two:.1f} s: {overhead_ms:+.0f} ms per task "
                   f"(both started before the timing)"},
    ]


def _peak_rss(command: list[str]) -> float:
    """Peak summed RSS (MiB) of a command's process tree, sampled every 20 ms."""
    import psutil

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    root = psutil.Process(process.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for p in tree:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
                peak = max(peak, total)
            except psutil.Error:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, errors = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"batch failed: {errors[-1500:]}")
    return peak / 2**20


def _memory(work: Path, few: int, many: int, seconds: float) -> dict[str, Any]:
    _catalogue(work / "many", many, seconds)
    (work / "few").mkdir()
    for path in sorted((work / "many").glob("*.wav"))[:few]:
        os.link(path, work / "few" / path.name)
    base = [sys.executable, "-m", "host", "batch", "master", "--target", "ebu-r128", "--no-progress", "-j", "2"]
    small = _peak_rss([*base, str(work / "few"), "-o", str(work / "out-few")])
    large = _peak_rss([*base, str(work / "many"), "-o", str(work / "out-many")])
    return {"name": "batch.memory", "ratio": large / small, "target": "<= 1.2", "ok": large / small <= 1.2,
            "detail": f"peak RSS of the process tree, -j 2: {few} files {small:.0f} MiB, {many} files "
                      f"{large:.0f} MiB (all {seconds:g} s long)"}


def run(quick: bool = False) -> list[dict[str, Any]]:
    files, seconds = (4, 20.0) if quick else (20, 180.0)
    with tempfile.TemporaryDirectory(prefix="mixhost-bench-batch-") as tmp:
        work = Path(tmp)
        rows = _versus(work, files, seconds)
        rows += _scaling(work, files, seconds)
        rows.append(_memory(work / "memory", 20, 60 if quick else 200, 3.0 if quick else 10.0))
    for row in rows:
        if isinstance(row["ratio"], float) and not math.isfinite(row["ratio"]):
            row["ok"] = False
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
