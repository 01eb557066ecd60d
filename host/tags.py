"""Metadata tags in output files: title, artist, album, track number, ISRC.

libsndfile writes no ISRC, so tags go in with mutagen: Vorbis comments in
FLAC, ID3 frames in WAV and AIFF.  :func:`read_tags` reads a source's tags so
that a processed copy (``mixhost batch master``) keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

TAG_KEYS = ("title", "artist", "album", "tracknumber", "isrc")
# ID3 frames of the keys above (ID3v2.4 §4.2: TIT2 title, TPE1 lead artist, TALB album, TRCK track,
# TSRC ISRC)
_ID3_FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "tracknumber": "TRCK", "isrc": "TSRC"}
# loudness tags describe the audio as it was: a processed copy must not carry them
_GAIN_PREFIXES = ("replaygain_", "r128_", "itunnorm")
# what the encoder of the source wrote about itself: the copy has another encoder
_ENCODER_KEYS = ("encoder", "encoded_by", "encodersettings")


def write_tags(path: Path, fmt: str, tags: Mapping[str, str]) -> None:
    """Write the non-empty ``tags`` into the file at ``path``.

    FLAC takes any Vorbis comment key; WAV and AIFF take the keys of TAG_KEYS
    (ID3 frames), and the others are left out.
    """
    tags = {k: str(v) for k, v in tags.items() if v}
    if fmt == "flac":
        if not tags:
            return
        from mutagen.flac import FLAC

        flac = FLAC(path)
        for key, value in tags.items():
            flac[key] = [value]
        flac.save()
        return
    tags = {k: v for k, v in tags.items() if k in _ID3_FRAMES}
    if not tags:
        return
    from mutagen import id3
    from mutagen.aiff import AIFF
    from mutagen.wave import WAVE

    audio = AIFF(path) if fmt == "aiff" else WAVE(path)
    if audio.tags is None:
        audio.add_tags()
    assert audio.tags is not None
    for key, value in tags.items():
        audio.tags.add(getattr(id3, _ID3_FRAMES[key])(encoding=3, text=[value]))
    audio.save()


def read_tags(path: Path) -> dict[str, str]:
    """The text tags of an audio file (lower-case keys), without loudness tags; {} when none.

    Vorbis comments (FLAC, Ogg), ID3 (MP3, WAV, AIFF) through mutagen; RIFF
    INFO of a WAV that has no ID3 through libsndfile.
    """
    import mutagen

    try:
        audio = mutagen.File(path, easy=True)
    except (mutagen.MutagenError, OSError):
        audio = None
    found: dict[str, str] = {}
    tags = getattr(audio, "tags", None)
    if tags is not None:
        frames = {frame: key for key, frame in _ID3_FRAMES.items()}
        for key, value in tags.items():
            name = frames.get(key, key) if key in frames else str(key).lower()
            text = value.text if hasattr(value, "text") else value
            values = [str(v) for v in (text if isinstance(text, list) else [text])]
            if values and values[0] and not name.startswith(_GAIN_PREFIXES) and name not in _ENCODER_KEYS and name.isascii() \
                    and ":" not in name and len(name) < 64:
                found[name] = values[0]
    if not found:
        found = _riff_info(path)
    # sorted: mutagen lists Vorbis comment keys from a set, whose order changes from process to
    # process (string hashing), and the copy's bytes should not
    return dict(sorted(found.items()))


def _riff_info(path: Path) -> dict[str, str]:
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as handle:
            values = {key: getattr(handle, key, "") for key in ("title", "artist", "album", "tracknumber")}
    except (sf.LibsndfileError, RuntimeError, OSError):
        return {}
    return {key: value for key, value in values.items() if value}
