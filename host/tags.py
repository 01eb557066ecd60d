"""Metadata tags: title, artist, album, track number, ISRC in output files; free-form text tags
(ReplayGain, R128) in FLAC, Ogg, MP3 and MP4 files, written without touching their audio.

libsndfile writes no ISRC, so tags go in with mutagen: Vorbis comments in
FLAC, ID3 frames in WAV and AIFF.  :func:`read_tags` reads a source's tags so
that a processed copy (``mixhost batch master``) keeps them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from .atomic import temp_beside
from .errors import AudioInputError, WriteError

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


# -- text tags in compressed files, written in place of the file without re-encoding -------------
#
# Each container keeps free-form text tags its own way:
#   * FLAC, Ogg Vorbis and Ogg Opus: Vorbis comments, ``KEY=value`` (Vorbis I spec §5; RFC 7845 §5.2);
#   * MP3: ID3v2.4 TXXX frames, "user defined text information" (ID3v2.4 native frames §4.2.6),
#     the key as the frame's description;
#   * MP4/M4A: iTunes free-form atoms ``----:com.apple.iTunes:<key>``, keys in lower case as
#     foobar2000 and r128gain write them (readers compare them case-insensitively).

CONTAINERS = ("flac", "ogg-vorbis", "ogg-opus", "mp3", "mp4")
_ITUNES = "----:com.apple.iTunes:"
_HASH_CHUNK = 1 << 20


def container(path: Path) -> str:
    """The tag container of an audio file: one of :data:`CONTAINERS`, from its content."""
    return _kind(_open(path))


def read_text_tags(path: Path) -> dict[str, str]:
    """The free-form text tags of a FLAC, Ogg, MP3 or MP4 file, keys upper-cased."""
    media = _open(path)
    kind = _kind(media)
    if media.tags is None:
        return {}
    out: dict[str, str] = {}
    if kind == "mp3":
        for frame in media.tags.getall("TXXX"):
            out[str(frame.desc).upper()] = str(frame.text[0]) if frame.text else ""
    elif kind == "mp4":
        for key, values in media.tags.items():
            if key.startswith(_ITUNES) and values:
                out[key[len(_ITUNES):].upper()] = bytes(values[0]).decode("utf-8", "replace")
    else:
        for key, value in media.tags:
            out[key.upper()] = value
    return out


def album_key(path: Path) -> tuple[str, str] | None:
    """(album artist or artist, album) from a file's tags, or None when it has no album tag."""
    import mutagen

    try:
        media = mutagen.File(str(path), easy=True)
    except (mutagen.MutagenError, OSError) as error:
        raise AudioInputError(f"cannot read the tags ({error})", file=str(path),
                              hint="check the file is a complete FLAC, Ogg, MP3 or M4A file") from None
    if media is None or media.tags is None:
        return None
    album = [a for a in media.tags.get("album", []) if a.strip()]
    if not album:
        return None
    artist = (media.tags.get("albumartist") or media.tags.get("artist") or [""])[0]
    return artist.strip(), album[0].strip()


def update_text_tags(path: Path, values: Mapping[str, str], remove: Iterable[str] = ()) -> None:
    """Set the text tags ``values`` and delete the keys in ``remove`` (any case), audio untouched.

    The file is copied beside itself, the copy tagged and checked to carry the
    very same audio bytes as the original (:func:`audio_digest`), and only
    then renamed over it: a failure or an interrupt leaves the original as it
    was, never half-written.
    """
    import mutagen

    path = Path(path)
    kind = container(path)
    before = audio_digest(path, kind)
    temp = temp_beside(path)
    try:
        shutil.copyfile(path, temp)
        try:
            _set_text_tags(temp, kind, dict(values), {k.upper() for k in remove})
        except mutagen.MutagenError as error:
            raise AudioInputError(f"cannot write tags into this file ({error})", file=str(path),
                                  hint="the file's structure is damaged: re-export or re-download it") from None
        after = audio_digest(temp, kind)
        if after != before:
            raise WriteError(f"{path}: tagging changed the audio bytes; the file was left as it was",
                             hint="report this file to mixhost's issue tracker")
        os.replace(temp, path)
    except OSError as error:
        raise WriteError(f"{path}: cannot write the tags ({error.strerror or error})",
                         hint="check the file and its folder are writable and the disk has room") from None
    finally:
        temp.unlink(missing_ok=True)


def audio_digest(path: Path, kind: str | None = None) -> str:
    """A hash of the file's audio bytes: everything but its tags.

    * FLAC: what follows the last metadata block (FLAC format, "METADATA_BLOCK_HEADER");
    * MP3: what lies between the ID3v2 tag (ID3v2.4 structure §3.1) and an ID3v1 tag;
    * Ogg: the audio packets after the header packets, with their pages' granule positions
      (Ogg pages are renumbered when the comment header grows, so page numbers and CRCs
      are left out; RFC 3533 §6);
    * MP4: the content of the ``mdat`` atoms (ISO/IEC 14496-12 §8.1.1).
    """
    path = Path(path)
    kind = kind or container(path)
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        if kind == "flac":
            _hash_from(handle, _flac_audio_start(handle, path), None, digest)
        elif kind == "mp3":
            start, end = _mp3_audio_span(handle)
            _hash_from(handle, start, end, digest)
        elif kind == "mp4":
            for start, end in _mp4_media_spans(handle):
                _hash_from(handle, start, end, digest)
        else:
            _hash_ogg_audio(handle, 3 if kind == "ogg-vorbis" else 2, digest)
    return digest.hexdigest()


def _open(path: Path) -> Any:
    import mutagen

    try:
        media = mutagen.File(str(path))
    except (mutagen.MutagenError, OSError) as error:
        raise AudioInputError(f"cannot read the tags ({error})", file=str(path),
                              hint="check the file is a complete FLAC, Ogg, MP3 or M4A file") from None
    if media is None:
        raise AudioInputError("not a FLAC, Ogg Vorbis, Opus, MP3 or M4A file", file=str(path),
                              hint="ReplayGain tags go into FLAC, Ogg Vorbis, Opus, MP3 and M4A files")
    return media


def _kind(media: Any) -> str:
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    for cls, kind in ((FLAC, "flac"), (OggVorbis, "ogg-vorbis"), (OggOpus, "ogg-opus"), (MP3, "mp3"), (MP4, "mp4")):
        if isinstance(media, cls):
            return kind
    name = type(media).__name__
    raise AudioInputError(f"tags cannot be written into a {name} file here", file=str(media.filename),
                          hint="ReplayGain tags go into FLAC, Ogg Vorbis, Opus, MP3 and M4A files")


def _set_text_tags(path: Path, kind: str, values: dict[str, str], remove: set[str]) -> None:
    """Write ``values`` into the file at ``path`` (already known to be a ``kind``), delete ``remove``."""
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4, MP4FreeForm
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    classes = {"flac": FLAC, "ogg-vorbis": OggVorbis, "ogg-opus": OggOpus, "mp3": MP3, "mp4": MP4}
    media = classes[kind](str(path))
    if media.tags is None:
        media.add_tags()
    tags: Any = media.tags
    drop = remove | {k.upper() for k in values}
    if kind == "mp3":
        from mutagen.id3 import TXXX

        for key in [k for k in tags if k.startswith("TXXX:") and k[5:].upper() in drop]:
            del tags[key]
        for key, value in values.items():
            tags.add(TXXX(encoding=3, desc=key, text=[value]))
    elif kind == "mp4":
        for key in [k for k in tags if k.startswith(_ITUNES) and k[len(_ITUNES):].upper() in drop]:
            del tags[key]
        for key, value in values.items():
            tags[_ITUNES + key.lower()] = [MP4FreeForm(value.encode("utf-8"))]
    else:
        for key in {k for k in tags.keys() if k.upper() in drop}:  # noqa: SIM118 - VComment iterates pairs
            del tags[key]
        for key, value in values.items():
            tags[key] = [value]
    media.save()


def _hash_from(handle: BinaryIO, start: int, end: int | None, digest: Any) -> None:
    handle.seek(start)
    left = None if end is None else end - start
    while left is None or left > 0:
        chunk = handle.read(_HASH_CHUNK if left is None else min(_HASH_CHUNK, left))
        if not chunk:
            break
        digest.update(chunk)
        if left is not None:
            left -= len(chunk)


def _id3v2_end(handle: BinaryIO, at: int) -> int:
    """The offset after an ID3v2 tag starting at ``at`` (or ``at`` when none): header, body, footer."""
    handle.seek(at)
    header = handle.read(10)
    if len(header) < 10 or header[:3] != b"ID3":
        return at
    size = (header[6] << 21) | (header[7] << 14) | (header[8] << 7) | header[9]  # synchsafe (§3.1)
    return at + 10 + size + (10 if header[5] & 0x10 else 0)


def _flac_audio_start(handle: BinaryIO, path: Path) -> int:
    at = _id3v2_end(handle, 0)
    handle.seek(at)
    if handle.read(4) != b"fLaC":
        raise AudioInputError("not a FLAC stream", file=str(path), hint="fix or re-export the file")
    while True:
        header = handle.read(4)
        if len(header) < 4:
            return handle.tell()
        size = int.from_bytes(header[1:4], "big")
        handle.seek(size, os.SEEK_CUR)
        if header[0] & 0x80:  # last-metadata-block flag
            return handle.tell()


def _mp3_audio_span(handle: BinaryIO) -> tuple[int, int]:
    start = _id3v2_end(handle, 0)
    end = handle.seek(0, os.SEEK_END)
    if end - start >= 128:
        handle.seek(end - 128)
        if handle.read(3) == b"TAG":  # ID3v1: the last 128 bytes
            end -= 128
    return start, end


def _mp4_media_spans(handle: BinaryIO) -> list[tuple[int, int]]:
    """(start, end) of the payload of every top-level ``mdat`` atom."""
    spans = []
    size_of_file = handle.seek(0, os.SEEK_END)
    at = 0
    while at + 8 <= size_of_file:
        handle.seek(at)
        header = handle.read(8)
        size, name = int.from_bytes(header[:4], "big"), header[4:8]
        body = at + 8
        if size == 1:  # 64-bit "largesize" follows the type
            size = int.from_bytes(handle.read(8), "big")
            body += 8
        elif size == 0:  # the atom runs to the end of the file
            size = size_of_file - at
        if size < 8:
            break
        if name == b"mdat":
            spans.append((body, at + size))
        at += size
    return spans


def _hash_ogg_audio(handle: BinaryIO, header_packets: int, digest: Any) -> None:
    """Hash the Ogg pages after the ``header_packets`` header packets (RFC 3533 §6 page layout).

    Vorbis I §A.2 and RFC 7845 §3 both start the first audio packet on a fresh
    page, so the audio pages are exactly the pages after the one that ends the
    last header packet.
    """
    handle.seek(0)
    finished = 0
    while True:
        head = handle.read(27)
        if len(head) < 27 or head[:4] != b"OggS":
            return
        segments = handle.read(head[26])
        body = handle.read(sum(segments))
        if finished >= header_packets:
            digest.update(head[5:14])  # header type and granule position
            digest.update(segments)
            digest.update(body)
        else:
            finished += sum(1 for lacing in segments if lacing < 255)
