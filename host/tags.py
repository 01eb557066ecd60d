"""Metadata tags in output files: title, artist, album, track number, ISRC.

libsndfile writes no ISRC, so tags go in with mutagen: Vorbis comments in
FLAC, ID3 frames in WAV.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

TAG_KEYS = ("title", "artist", "album", "tracknumber", "isrc")


def write_tags(path: Path, fmt: str, tags: Mapping[str, str]) -> None:
    """Write the non-empty ``tags`` (keys from TAG_KEYS) into the file at ``path``."""
    tags = {k: str(v) for k, v in tags.items() if v}
    if not tags:
        return
    if fmt == "flac":
        from mutagen.flac import FLAC

        flac = FLAC(path)
        for key, value in tags.items():
            flac[key] = [value]
        flac.save()
        return
    from mutagen.id3 import TALB, TIT2, TPE1, TRCK, TSRC
    from mutagen.wave import WAVE

    frames = {"title": TIT2, "artist": TPE1, "album": TALB, "tracknumber": TRCK, "isrc": TSRC}
    wave = WAVE(path)
    if wave.tags is None:
        wave.add_tags()
    assert wave.tags is not None
    for key, value in tags.items():
        wave.tags.add(frames[key](encoding=3, text=[value]))
    wave.save()
