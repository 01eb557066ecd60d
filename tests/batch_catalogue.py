"""A generated catalogue for the batch tests, and an independent meter (ffmpeg's ebur128 filter).

The catalogue: ``GOOD`` short files of mixed rates, channels and formats
(WAV 16/24/float, FLAC, Ogg Vorbis, MP3, written by libsndfile) in nested
folders, some FLACs tagged, and three bad files among them: a corrupt WAV,
a zero-length WAV and a WAV holding NaN.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from host.analysis.signals import music

GOOD = 51
SECONDS = 0.8  # two gating blocks of BS.1770: enough for an integrated loudness, short for CI
# (folder, extension, libsndfile format, subtype, rate, channels)
KINDS = [
    ("rock/album one", ".wav", "WAV", "PCM_16", 44100, 2),
    ("rock/album two", ".wav", "WAV", "PCM_24", 48000, 2),
    ("jazz", ".flac", "FLAC", "PCM_24", 96000, 2),
    ("jazz/live", ".flac", "FLAC", "PCM_16", 44100, 1),
    ("spoken", ".wav", "WAV", "FLOAT", 22050, 1),
    ("lossy/ogg", ".ogg", "OGG", "VORBIS", 48000, 2),
    ("lossy/mp3/deep", ".mp3", "MP3", "MPEG_LAYER_III", 44100, 2),
]
BAD = {"broken/corrupt.wav": "corrupt", "broken/empty.wav": "empty", "broken/nan.wav": "nan"}
TAGS = {"title": "Blue Line", "artist": "The Batch Band"}


def make_catalogue(root: Path) -> dict[str, Path]:
    """Write the catalogue under ``root``; returns relative path -> file for the good files."""
    good: dict[str, Path] = {}
    for index in range(GOOD):
        folder, ext, fmt, subtype, rate, channels = KINDS[index % len(KINDS)]
        level = -30.0 + (index % 9) * 2.5  # -30 .. -10 dBFS RMS: masters need gains both ways
        x = music(SECONDS, rate, channels=2, seed=index, level_db=level)
        data = x[0] if channels == 1 else x.T
        relative = f"{folder}/track {index:02d}{ext}"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data, rate, format=fmt, subtype=subtype)
        if ext == ".flac":
            from mutagen.flac import FLAC

            tagged = FLAC(path)
            for key, value in TAGS.items():
                tagged[key] = [value]
            tagged.save()
        good[relative] = path
    (root / "broken").mkdir(parents=True, exist_ok=True)
    (root / "broken/corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage that is no wave")
    (root / "broken/empty.wav").write_bytes(b"")
    nan = music(SECONDS, 48000, seed=99).T.copy()
    nan[1000:1010] = np.nan
    sf.write(root / "broken/nan.wav", nan, 48000, subtype="FLOAT")
    return good


_SUMMARY = re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf) LUFS.*?True peak:\s*Peak:\s*(-?[\d.]+|-inf) dBFS",
                      re.S)


def ffmpeg_ebur128(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) by ffmpeg's ebur128 filter (its summary, 0.1 resolution)."""
    run = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True, check=True)
    match = _SUMMARY.search(run.stderr[run.stderr.rfind("Summary:"):])
    assert match, run.stderr[-2000:]
    return float(match[1]), float(match[2])


def mixhost(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=_env())


def start_mixhost(*args: str) -> subprocess.Popen[str]:
    """The command in a session of its own: a kill of its group reaches its workers too."""
    return subprocess.Popen([sys.executable, "-m", "host", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=_env())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def journal_records(path: Path) -> list[dict]:
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line a kill cut off
        if "key" in record:
            records.append(record)
    return records


def wait_for_done(journal: Path, count: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists():
            done = sum(1 for r in journal_records(journal) if r["status"] == "done")
            if done >= count:
                return done
        time.sleep(0.05)
    raise AssertionError(f"{journal}: fewer than {count} jobs done in {timeout} s")


def kill_group(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def visible_files(folder: Path) -> set[str]:
    """The files a user sees in ``folder`` (temp files and the journal are hidden, named with a dot)."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}
