"""Album mastering: cohesion across tracks, one continuous album file and a CUE sheet.

An album file (YAML, validated against ``ALBUM_SCHEMA``) lists the tracks in
order, each a mixed file or a session (rendered first), with the transition
into the next track (a gap of silence or a crossfade), and an album target:

.. code-block:: yaml

    album:
      title: Night Drive
      artist: The Synths
      target: spotify          # preset, or LUFS[/dBTP]
      mode: album              # album: one gain for all; track: each to the target
      gap_s: 2.0               # default transition
      output: out/album        # folder (relative to this file)
      format: flac             # flac or wav
    tracks:
      - {file: mixes/01.wav, title: Intro, isrc: GBAAA2600001}
      - {session: song2.yaml, title: Song 2, crossfade_s: 3.0}

A crossfade takes the end of its track and the start of the next; each
track must keep some audio of its own between the crossfade into it and the
crossfade out of it, or the album file is refused (exit 2, at the
``crossfade_s`` that overreaches).

**Album normalisation** applies one gain to every track so that the loudest
track reaches the target (after the true-peak limiter), which keeps the
intended loudness differences between tracks.  **Track mode** brings each
track to the target.  Every track goes through the ``limiter`` stage at the
target's ceiling.

**Tonal consistency:** each track's octave-band balance is compared with the
album's (the per-band median over the tracks); a band that departs by more than ``TONAL_LIMIT_DB`` is
flagged with the track, the band and the amount.

**Outputs:** per-track files (tagged title, artist, album, track number),
one continuous album file (gaps as silence, crossfades equal-power), and a
CUE sheet with TITLE, PERFORMER, ISRC and INDEX 01 of each track.

The album file is assembled from float copies of the limited tracks (not
from the dithered track files, which would dither twice) and goes through the
true-peak limiter at the ceiling once more: an equal-power crossfade of two
limited tracks can peak up to 3 dB above either (cos θ + sin θ ≤ √2 for
correlated material).  Elsewhere the tracks already sit under the ceiling, so
that limiter only acts inside crossfades.  The written album file is measured
and refused if its true peak is over the ceiling.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import OutputSet, temp_folder_beside
from ..audio_io import AtomicWriter, probe
from ..errors import AudioInputError, RenderError, SessionError
from ..loudness.conformance import MAX_PASSES, TOLERANCE_LU, next_gain
from ..loudness.meter import (
    DEFAULT_FILE_BLOCK,
    LoudnessResult,
    iter_blocks,
    measure_file,
    open_audio,
)
from ..loudness.targets import LoudnessTarget, resolve_target
from ..outputs import Output, prepare
from ..session import schema_check, yaml_doc
from ..session.plan import Located
from ..session.relocation import session_files
from ..stages.base import Stage
from ..stages.limiter import make_limiter
from .mastering import BlockWriter, _render
from .report import Analysis, analyze_file
from .reportkit import jsonable

log = logging.getLogger(__name__)

TONAL_LIMIT_DB = 3.0
CUE_FRAMES_PER_S = 75

ALBUM_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mixhost album",
    "type": "object",
    "properties": {
        "album": {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "artist": {"type": "string"},
                "target": {"type": ["string", "number"], "default": "spotify"},
                "mode": {"enum": ["album", "track"], "default": "album"},
                "gap_s": {"type": "number", "minimum": 0, "default": 2.0},
                "output": {"type": "string", "default": "out/album"},
                "format": {"enum": ["wav", "flac"], "default": "flac"},
                "bit_depth": {"enum": [16, 24], "default": 24},
            },
            "additionalProperties": False,
        },
        "tracks": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "description": "a mixed audio file"},
                    "session": {"type": "string", "description": "a session, rendered first"},
                    "title": {"type": "string"},
                    "artist": {"type": "string"},
                    "isrc": {"type": "string", "pattern": "^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$",
                             "description": "an ISRC: 12 characters without dashes, a country code (2 "
                                            "letters), a registrant (3 letters or digits), the year (2 "
                                            "digits) and a number (5 digits), as in GBAAA2600001"},
                    "gap_s": {"type": "number", "minimum": 0},
                    "crossfade_s": {"type": "number", "exclusiveMinimum": 0},
                },
                "oneOf": [{"required": ["file"]}, {"required": ["session"]}],
                "not": {"required": ["gap_s", "crossfade_s"]},
                "additionalProperties": False,
            },
        },
    },
    "required": ["tracks"],
    "additionalProperties": False,
}


@dataclass
class AlbumTrack:
    number: int
    title: str
    artist: str
    source: Path
    isrc: str | None
    gap_s: float
    crossfade_s: float
    analysis: Analysis | None = None
    gain_db: float = 0.0
    output: Path | None = None
    float_copy: Path | None = None  # the limited track before dither: the album file is built from it
    result: LoudnessResult | None = None
    tonal_flags: list[str] = field(default_factory=list)
    session: Path | None = None  # the session the track is rendered from, if not a mixed file


@dataclass
class AlbumReport:
    title: str
    artist: str
    target: LoudnessTarget
    mode: str
    tracks: list[AlbumTrack]
    album_file: Path
    cue_file: Path
    album_result: LoudnessResult | None = None
    starts: list[float] = field(default_factory=list)  # each track's start in the album file, s

    def as_json(self) -> dict[str, Any]:
        return jsonable(
            {
                "title": self.title,
                "artist": self.artist,
                "target": self.target.name,
                "target_lufs": self.target.integrated_lufs,
                "ceiling_dbtp": self.target.ceiling_dbtp,
                "mode": self.mode,
                "album_file": str(self.album_file),
                "cue_file": str(self.cue_file),
                "album_integrated_lufs": self.album_result.integrated_lufs
                if self.album_result
                else None,
                "album_true_peak_dbtp": self.album_result.true_peak_dbtp
                if self.album_result
                else None,
                "tracks": [
                    {
                        "number": t.number,
                        "title": t.title,
                        "source": str(t.source),
                        "output": str(t.output),
                        "input_integrated_lufs": t.analysis.integrated_lufs if t.analysis else None,
                        "input_true_peak_dbtp": t.analysis.true_peak_dbtp if t.analysis else None,
                        "gain_db": t.gain_db,
                        "integrated_lufs": t.result.integrated_lufs if t.result else None,
                        "true_peak_dbtp": t.result.true_peak_dbtp if t.result else None,
                        "tonal_flags": t.tonal_flags,
                    }
                    for t in self.tracks
                ],
            }
        )


# --- loading ----------------------------------------------------------------------


def load_album(path: str | Path) -> tuple[dict[str, Any], list[AlbumTrack], Path]:
    """Validate the album file; returns its settings, the tracks and the output folder."""
    file = Path(path)
    document = yaml_doc.load(file)
    schema_check.validate(document, ALBUM_SCHEMA, str(file))
    config = yaml_doc.to_plain(document)
    base = file.resolve().parent
    meta = {
        "title": "",
        "artist": "",
        "target": "spotify",
        "mode": "album",
        "gap_s": 2.0,
        "output": "out/album",
        "format": "flac",
        "bit_depth": 24,
        **(config.get("album") or {}),
    }
    tracks = []
    for i, entry in enumerate(config["tracks"], start=1):
        session = "session" in entry
        source = base / (entry["session"] if session else entry["file"])
        if not source.exists():
            raise SessionError(
                f"track {i}: {source} does not exist",
                file=str(file),
                key_path=("tracks", i - 1, "session" if session else "file"),
            )
        tracks.append(
            AlbumTrack(
                number=i,
                title=str(entry.get("title", source.stem)),
                artist=str(entry.get("artist", meta["artist"])),
                source=source,
                isrc=entry.get("isrc"),
                gap_s=float(entry.get("gap_s", 0.0 if "crossfade_s" in entry else meta["gap_s"])),
                crossfade_s=float(entry.get("crossfade_s", 0.0)),
            )
        )
        if session:
            tracks[-1].session = source
    return meta, tracks, base / meta["output"]


def check_crossfades(path: str | Path, tracks: list[AlbumTrack]) -> None:
    """Refuse a crossfade that would swallow a track (exit 2, at the crossfade's file:line).

    Each track must keep some audio of its own between the crossfade into it
    and the crossfade out of it; otherwise the album file loses the track
    and the CUE sheet gives two tracks one start.  Refused rather than
    clamped: a crossfade that long is a typo (100 for 10) more often than a
    wish, and a clamp would move every later track's start without asking.
    """
    document = yaml_doc.load(Path(path))
    lengths = [probe(t.source).duration_s for t in tracks]
    for i, t in enumerate(tracks):
        fade_in = tracks[i - 1].crossfade_s if i else 0.0
        fade_out = t.crossfade_s if i < len(tracks) - 1 else 0.0
        if fade_in + fade_out < lengths[i]:
            continue
        # blame this track's own crossfade if it has one, else the one into it
        blamed = i if fade_out else i - 1
        limit = lengths[i] - (fade_in if blamed == i else fade_out)
        into = f" with the {fade_in:g} s crossfade into it" if blamed == i and fade_in else ""
        out_of = f" and its own {fade_out:g} s crossfade out" if blamed != i and fade_out else ""
        at = Located(str(path), document, ("tracks", blamed, "crossfade_s"))
        raise at.error(
            f"crossfade_s: {tracks[blamed].crossfade_s:g} s would swallow track {t.number} ({t.title}), which is "
            f"{lengths[i]:.2f} s long{into}{out_of}",
            hint=f"make it shorter than {limit:.2f} s, or use gap_s for a pause between the tracks",
        )


def _render_session(path: Path, folder: Path) -> Path:
    from ..session import load_session

    result = load_session(path).render(folder)
    log.info("rendered %s -> %s", path, result.outputs[0])
    return Path(result.outputs[0])


# --- processing -----------------------------------------------------------------------


def _check_formats(tracks: list[AlbumTrack]) -> tuple[float, int]:
    first = tracks[0].analysis
    assert first is not None
    for t in tracks[1:]:
        a = t.analysis
        assert a is not None
        if (a.sample_rate, a.channels) != (first.sample_rate, first.channels):
            raise AudioInputError(
                f"track {t.number} is {a.channels} ch at {a.sample_rate:g} Hz, track 1 is "
                f"{first.channels} ch at {first.sample_rate:g} Hz",
                file=str(t.source),
                hint="an album file needs one rate and channel count: convert the odd track",
            )
    return first.sample_rate, first.channels


def tonal_consistency(tracks: list[AlbumTrack], limit_db: float = TONAL_LIMIT_DB) -> None:
    """Flag bands where a track's octave balance departs from the album's by > ``limit_db``."""
    bands = list(tracks[0].analysis.octave_bands_db) if tracks[0].analysis else []
    table = np.array([[t.analysis.octave_bands_db[b] for b in bands] for t in tracks if t.analysis])
    finite = np.where(np.isfinite(table), table, np.nan)
    # the median track per band: one odd track does not drag the album reference with it
    reference = np.nanmedian(finite, axis=0)
    for t, row in zip(tracks, finite, strict=True):
        for band, value, centre in zip(bands, row, reference, strict=True):
            deviation = value - centre
            if np.isfinite(deviation) and abs(deviation) > limit_db:
                t.tonal_flags.append(f"{band} Hz {deviation:+.1f} dB against the album")


def _master_track(
    t: AlbumTrack,
    gain_db: float,
    meta: dict,
    fs: float,
    channels: int,
    ceiling: float,
    work: Path,
    staged: OutputSet,
) -> float:
    """Render one track through gain → limiter to its tagged file, staged in ``staged`` (and a
    float copy in ``work``)."""
    limiter = make_limiter(fs, channels, ceiling, DEFAULT_FILE_BLOCK)
    assert t.output is not None
    tags = {
        "title": t.title,
        "artist": t.artist,
        "album": meta["title"],
        "tracknumber": str(t.number),
        "isrc": t.isrc or "",
    }
    writer = _writer(t.output, fs, channels, meta, tags)
    copy = AtomicWriter(work / f"{t.number:02d}.wav", int(fs), channels, "wav", "float", dither=False)
    try:
        achieved = _render(t.source, gain_db, limiter, DEFAULT_FILE_BLOCK, _Tee(writer, copy))
        t.float_copy = copy.finish()  # a temp file in ``work``, removed with it
        written = writer.finish()
        staged.add(written, t.output)
        t.result = measure_file(written)  # the track file as it will land
    except BaseException:
        copy.abort()
        writer.abort()
        raise
    t.gain_db = gain_db
    return achieved


class _Tee:
    """Writes every block to two writers: the dithered track file and its float copy."""

    def __init__(self, *writers: BlockWriter) -> None:
        self._writers = writers

    def write(self, block: np.ndarray) -> None:
        for writer in self._writers:
            writer.write(block)


class _LimitedWriter:
    """Blocks → true-peak limiter → writer, latency compensated (``finish`` flushes the lookahead)."""

    def __init__(self, writer: BlockWriter, limiter: Stage) -> None:
        self._writer = writer
        self._limiter = limiter
        self._skip = limiter.latency
        self._block = limiter.max_block

    def write(self, block: np.ndarray) -> None:
        for start in range(0, block.shape[1], self._block):
            self._emit(self._limiter.process(np.ascontiguousarray(block[:, start : start + self._block])))

    def finish(self) -> None:
        if self._limiter.latency:
            self.write(np.zeros((self._limiter.channels, self._limiter.latency)))

    def _emit(self, y: np.ndarray) -> None:
        if self._skip:
            cut = min(self._skip, y.shape[1])
            y, self._skip = y[:, cut:], self._skip - cut
        if y.shape[1]:
            self._writer.write(y)


def _writer(path: Path, fs: float, channels: int, meta: dict, tags: dict[str, str]) -> AtomicWriter:
    """An atomic, dithered, tagged output file."""
    return AtomicWriter(path, int(fs), channels, meta["format"], int(meta["bit_depth"]), dither=True, tags=tags)


def _safe(title: str) -> str:
    return "".join(c if c.isalnum() or c in " -_." else "_" for c in title).strip() or "track"


def _probe_loudness(
    t: AlbumTrack, gain_db: float, fs: float, channels: int, ceiling: float
) -> float:
    limiter = make_limiter(fs, channels, ceiling, DEFAULT_FILE_BLOCK)
    return _render(t.source, gain_db, limiter, DEFAULT_FILE_BLOCK, None)


def _album_gain(loudest: AlbumTrack, target: LoudnessTarget, fs: float, channels: int) -> float:
    """The gain that brings this track (the loudest, in album mode) to the target after limiting."""
    assert loudest.analysis is not None
    gain = target.integrated_lufs - loudest.analysis.integrated_lufs
    history: list[tuple[float, float]] = []
    for _ in range(MAX_PASSES):
        achieved = _probe_loudness(loudest, gain, fs, channels, target.ceiling_dbtp)
        history.append((gain, achieved))
        if abs(target.integrated_lufs - achieved) <= TOLERANCE_LU:
            break
        gain = next_gain(history, target.integrated_lufs)
    return gain


def _assemble(
    tracks: list[AlbumTrack], path: Path, fs: float, channels: int, meta: dict, ceiling: float,
    staged: OutputSet,
) -> tuple[list[float], LoudnessResult]:
    """Write the continuous album file, staged in ``staged``; returns each track's start time (s)
    in it, and the file's measurement (taken once, by the ceiling check before it is staged).

    A track that crossfades into the next withholds its last ``crossfade_s``
    seconds; the next track's head is mixed over them (equal power).  Memory
    is one block plus the crossfade.  The float copies are read, and the
    whole goes through the true-peak limiter at ``ceiling`` (see the module
    docstring).
    """
    empty = np.zeros((channels, 0))
    starts: list[float] = []
    written = 0
    tail = empty
    tags = {"title": meta["title"], "artist": meta["artist"], "album": meta["title"]}
    file_writer = _writer(path, fs, channels, meta, tags)
    writer = _LimitedWriter(file_writer, make_limiter(fs, channels, ceiling, DEFAULT_FILE_BLOCK))
    try:
        for i, t in enumerate(tracks):
            last = i == len(tracks) - 1
            hold = 0 if last else int(round(t.crossfade_s * fs))
            starts.append(written / fs)  # a crossfade starts the next track
            pending, buffer = tail, empty
            assert t.float_copy is not None
            with open_audio(t.float_copy) as handle:
                for x in iter_blocks(handle, DEFAULT_FILE_BLOCK, t.float_copy):
                    buffer = np.concatenate((buffer, x), axis=1)
                    if pending.shape[1]:
                        n = pending.shape[1]
                        if buffer.shape[1] < n:
                            continue
                        writer.write(_crossfade(pending, buffer[:, :n]))
                        written += n
                        buffer, pending = buffer[:, n:], empty
                    if buffer.shape[1] > hold:
                        k = buffer.shape[1] - hold
                        writer.write(buffer[:, :k])
                        written += k
                        buffer = buffer[:, k:]
            if pending.shape[1]:
                raise SessionError(
                    f"track {t.number} ({t.title}) is shorter than the crossfade into it",
                    hint="shorten the previous track's crossfade_s",
                )
            tail = buffer
            if hold == 0 and not last and t.gap_s > 0:
                gap = np.zeros((channels, int(round(t.gap_s * fs))))
                writer.write(gap)
                written += gap.shape[1]
        writer.finish()
        measured: list[LoudnessResult] = []
        staged.add(file_writer.finish(lambda tmp: measured.append(_check_album_peak(tmp, path, ceiling))), path)
    except BaseException:
        file_writer.abort()
        raise
    return starts, measured[0]


def _check_album_peak(written: Path, path: Path, ceiling: float) -> LoudnessResult:
    """The album file as written (dithered) stays at or under the ceiling; returns its measurement."""
    result = measure_file(written)
    peak = result.true_peak_dbtp
    if peak > ceiling:
        raise RenderError(
            f"{path}: the album file's true peak is {peak:.2f} dBTP, over the {ceiling:.2f} dBTP "
            "ceiling; nothing was written",
            hint="please report this album: the limiter should have held it",
        )
    return result


def _crossfade(tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Equal-power crossfade of the previous track's tail into the next track's head."""
    n = tail.shape[1]
    theta = (np.arange(n) + 0.5) / n * (np.pi / 2)
    return tail * np.cos(theta) + head * np.sin(theta)


def _cue_time(seconds: float) -> str:
    frames = int(round(seconds * CUE_FRAMES_PER_S))
    minutes, rest = divmod(frames, 60 * CUE_FRAMES_PER_S)
    secs, ff = divmod(rest, CUE_FRAMES_PER_S)
    return f"{minutes:02d}:{secs:02d}:{ff:02d}"


def _cue_text(text: str) -> str:
    """A quoted CUE string.  The format defines no escape for a double quote (a bare
    one ends the string), so it becomes a single quote; a line break, a space."""
    return '"' + str(text).replace('"', "'").replace("\n", " ") + '"'


def cue_sheet(meta: dict, tracks: list[AlbumTrack], album_file: Path, starts: list[float]) -> str:
    kind = "WAVE"  # CUE's word for any PCM file (FLAC players accept it)
    lines = []
    if meta["artist"]:
        lines.append(f"PERFORMER {_cue_text(meta['artist'])}")
    if meta["title"]:
        lines.append(f"TITLE {_cue_text(meta['title'])}")
    lines.append(f"FILE {_cue_text(album_file.name)} {kind}")
    for t, start in zip(tracks, starts, strict=True):
        lines.append(f"  TRACK {t.number:02d} AUDIO")
        lines.append(f"    TITLE {_cue_text(t.title)}")
        if t.artist:
            lines.append(f"    PERFORMER {_cue_text(t.artist)}")
        if t.isrc:
            lines.append(f"    ISRC {t.isrc}")
        lines.append(f"    INDEX 01 {_cue_time(start)}")
    return "\n".join(lines) + "\n"


def master_album(path: str | Path, mode: str | None = None) -> AlbumReport:
    """Master every track of an album file; write the tracks, the album file and the CUE sheet.

    Every output is checked against every input before any work, written to a
    temp file beside it, and the whole set is renamed into place at the end:
    an error or an interrupt part-way leaves the previous files as they were.
    Scratch files (rendered sessions, float copies) go into a hidden folder in
    the output folder, removed at the end, or by the next run if this one is
    killed.
    """
    meta, tracks, out_dir = load_album(path)
    stem = _safe(meta["title"] or Path(path).stem)
    album_file = out_dir / f"{stem}.{meta['format']}"
    cue_file = out_dir / f"{stem}.cue"
    for t in tracks:
        t.output = out_dir / f"{t.number:02d} {_safe(t.title)}.{meta['format']}"
    hint = f"set `album.output` in {path} to a folder that holds none of the album's inputs, or retitle the track"
    read = [Path(path)] + [f for t in tracks for f in (session_files(t.session) if t.session else [t.source])]
    prepare([Output(p, hint) for p in [*(t.output for t in tracks if t.output), album_file, cue_file]], read)
    with OutputSet() as staged:
        work = staged.scratch(temp_folder_beside(album_file))
        for t in tracks:
            if t.session is not None:
                t.source = _render_session(t.session, work / f"session-{t.number:02d}")
        check_crossfades(path, tracks)
        report = _master_album(meta, tracks, album_file, cue_file, mode or meta["mode"], work, staged)
        staged.write_text(cue_file, cue_sheet(meta, tracks, album_file, report.starts))
        staged.land()
    for t in tracks:
        t.float_copy = None  # removed with the scratch folder
    return report


def _master_album(
    meta: dict, tracks: list[AlbumTrack], album_file: Path, cue_file: Path, mode: str, work: Path,
    staged: OutputSet,
) -> AlbumReport:
    target = resolve_target(str(meta["target"]))
    for t in tracks:
        t.analysis = analyze_file(t.source)
    fs, channels = _check_formats(tracks)
    tonal_consistency(tracks)
    if mode == "album":
        loudest = max(tracks, key=lambda t: t.analysis.integrated_lufs if t.analysis else -math.inf)
        gain = _album_gain(loudest, target, fs, channels)
        gains = [gain] * len(tracks)
    else:
        gains = [_album_gain(t, target, fs, channels) for t in tracks]  # each its own target
    for t, gain in zip(tracks, gains, strict=True):
        _master_track(t, gain, meta, fs, channels, target.ceiling_dbtp, work, staged)
    starts, album_result = _assemble(tracks, album_file, fs, channels, meta, target.ceiling_dbtp, staged)
    return AlbumReport(
        title=meta["title"],
        artist=meta["artist"],
        target=target,
        mode=mode,
        tracks=tracks,
        album_file=album_file,
        cue_file=cue_file,
        album_result=album_result,
        starts=starts,
    )
