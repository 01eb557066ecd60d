"""Loudness tagging benchmark (issue 22): ``mixhost batch tag`` against r128gain.

* **tags.vs_r128gain**: the same catalogue (albums of FLAC, Ogg Vorbis, MP3,
  M4A and Opus files of synthetic music, one album per folder) is copied
  twice; ``r128gain -a -r`` tags one copy, ``mixhost batch tag -j 2`` the
  other, each as a whole process, timed from start to exit.  Ratio =
  r128gain time / mixhost time, target >= 1.

What each runs:

* r128gain: its default thread pool (as wide as the CPU count), each thread
  running ffmpeg (``ebur128`` and ``replaygain`` filters) once per file and
  once more per album over the concatenated tracks (so every file is decoded
  twice), then mutagen writes the tags;
* mixhost: ``batch tag`` on a local pool of 2 warm worker processes (each
  imports mixhost and loads the meter's kernels once): every file decoded
  and measured once; each album gated from its tracks' returned blocks in
  the main process, which writes the tags in place (staged, audio bytes
  checked) while the workers measure the next album; a journal is written
  beside the catalogue.  Nothing is cached between repeats: every repeat
  tags a fresh copy.

``detail`` also gives the largest difference between the two tools' track
and album gains across the catalogue (ffmpeg prints loudness to 0.1 LU, so
r128gain's gains are rounded to that) and the machine's load average.
Quick: 6 files x 10 s; full: 20 files x 3 min (issue 22's catalogue), best of
two alternating repeats.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from host.analysis.signals import music

TARGET = 1.0
FORMATS = ("flac", "ogg", "mp3", "m4a", "opus")
ENCODERS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
    "m4a": ["-c:a", "aac", "-b:a", "192k"],
    "opus": ["-c:a", "libopus", "-b:a", "128k"],
}

WORKERS = 2


def _catalogue(root: Path, albums: int, tracks: int, seconds: float) -> int:
    """Albums of ``tracks`` files each, the formats taking turns; returns the file count."""
    count = 0
    for a in range(albums):
        folder = root / f"album{a:02d}"
        folder.mkdir(parents=True)
        for t in range(tracks):
            fmt = FORMATS[(a * tracks + t) % len(FORMATS)]
            rate = 44100 if t % 2 else 48000
            level = -14.0 - 4.0 * t  # tracks of different loudness: album gain is not track gain
            x = np.clip(music(seconds, rate, seed=100 * a + t, level_db=level), -1.0, 1.0).T
            path = folder / f"{t:02d}.{fmt}"
            if fmt == "flac":
                sf.write(path, x, rate, subtype="PCM_16")
            elif fmt == "ogg":
                # in blocks: libsndfile's Vorbis encoder crashes on one multi-minute write
                with sf.SoundFile(path, "w", rate, x.shape[1], format="OGG", subtype="VORBIS") as out:
                    for start in range(0, len(x), 1 << 16):
                        out.write(np.ascontiguousarray(x[start:start + (1 << 16)]))
            else:
                wav = root / "source.wav"
                sf.write(wav, x, rate, subtype="FLOAT")
                subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-i", str(wav),
                                *ENCODERS[fmt], str(path)], check=True)
                wav.unlink()
            count += 1
    return count


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} exited {run.returncode}: {run.stderr[-2000:]}")
    return elapsed


def _gains(root: Path) -> dict[str, float]:
    """Track and album gains (dB, ReplayGain reference) of every tagged file under ``root``."""
    from host.tags import read_text_tags

    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        tags = read_text_tags(path)
        rel = str(path.relative_to(root))
        if "R128_TRACK_GAIN" in tags:  # Q7.8 relative to −23 LUFS (RFC 7845 §5.2.1): back to −18
            out[rel + ":track"] = int(tags["R128_TRACK_GAIN"]) / 256 + 5.0
            out[rel + ":album"] = int(tags["R128_ALBUM_GAIN"]) / 256 + 5.0
        else:
            out[rel + ":track"] = float(tags["REPLAYGAIN_TRACK_GAIN"].split()[0])
            out[rel + ":album"] = float(tags["REPLAYGAIN_ALBUM_GAIN"].split()[0])
    return out


def run(quick: bool = False) -> list[dict[str, Any]]:
    albums, tracks, seconds = (2, 3, 10.0) if quick else (4, 5, 180.0)
    repeats = 1 if quick else 2
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory(prefix="mixhost-bench-tags-") as tmp:
        work = Path(tmp)
        source = work / "source"
        files = _catalogue(source, albums, tracks, seconds)
        commands = {
            "r128gain": [sys.executable, "-m", "r128gain", "-a", "-r", "-v", "warning"],
            "mixhost": [sys.executable, "-m", "host", "batch", "tag", "-j", str(WORKERS), "--no-progress"],
        }
        load_before = os.getloadavg()
        best = {name: math.inf for name in commands}
        for _ in range(repeats):
            for name, cmd in commands.items():
                copy = work / name
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(source, copy)
                best[name] = min(best[name], _timed([*cmd, str(copy)], env))
        load_after = os.getloadavg()
        theirs, ours = _gains(work / "r128gain"), _gains(work / "mixhost")
    worst = {kind: max(abs(theirs[k] - ours[k]) for k in theirs if k.endswith(kind))
             for kind in (":track", ":album")}
    ratio = best["r128gain"] / best["mixhost"]
    cores = os.cpu_count()
    return [
        {
            "name": "tags.vs_r128gain",
            "ratio": ratio,
            "target": f">= {TARGET:g}",
            "ok": ratio >= TARGET,
            "detail": (
                f"{files} files ({albums} albums x {tracks}, {seconds:g} s each, FLAC/Vorbis/MP3/M4A/Opus), "
                f"track+album gain: r128gain {best['r128gain']:.2f} s ({cores} threads x ffmpeg), "
                f"mixhost batch tag {best['mixhost']:.2f} s ({WORKERS} worker processes); "
                f"largest gain difference track {worst[':track']:.3f} dB, album {worst[':album']:.3f} dB "
                "(r128gain gates an album's concatenation, mixhost the union of its tracks' blocks); "
                f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after on {cores} cores"
            ),
        }
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
