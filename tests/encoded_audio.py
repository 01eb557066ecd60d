"""Test files in the tagged formats: synthetic music written as FLAC/Ogg Vorbis by libsndfile and as
MP3/M4A (AAC)/Opus by ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from host.analysis.signals import music

FFMPEG_CODECS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
    "m4a": ["-c:a", "aac", "-b:a", "192k"],
    "opus": ["-c:a", "libopus", "-b:a", "128k"],
}


def synth(seconds: float, level_db: float, rate: int, channels: int, seed: int) -> np.ndarray:
    """Music ``(frames, channels)``; a quiet passage in the middle gives the gates work to do."""
    x = music(seconds, rate, seed=seed, level_db=level_db)
    quiet = slice(x.shape[1] // 3, x.shape[1] // 2)
    x[:, quiet] *= 10 ** (-25 / 20)
    return np.clip(x[:channels], -1.0, 1.0).T


def write_encoded(path: Path, x: np.ndarray, rate: int, *, flac_subtype: str = "PCM_24") -> Path:
    """``x`` ``(frames, channels)`` written in the format the suffix names."""
    fmt = path.suffix[1:]
    if fmt == "flac":
        sf.write(path, x, rate, subtype=flac_subtype)
    elif fmt == "ogg":
        sf.write(path, x, rate, format="OGG", subtype="VORBIS")
    else:
        wav = path.with_suffix(".src.wav")
        sf.write(wav, x, rate, subtype="FLOAT")
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-i", str(wav), *FFMPEG_CODECS[fmt],
                        str(path)], check=True)
        wav.unlink()
    return path
