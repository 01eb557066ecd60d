"""ReplayGain 2.0 and Opus R128 gain tags: measure files, gate albums, write the tags.

The measurement is ITU-R BS.1770-4 with EBU R128 gating (:mod:`.meter`):
K-weighting, 400 ms gating blocks with 75 % overlap, the absolute gate at
−70 LUFS and the relative gate at −10 LU (BS.1770-4 Annex 1; EBU Tech 3341
§2.3).  The ReplayGain 2.0 specification ("Loudness measurement") adopts
that measurement, with its reference level at −18 LUFS ("Reference level").

Album loudness is *not* a mean of track loudnesses: the album is gated as one
programme, over the union of all its tracks' gating blocks, as r128gain
(ffmpeg's ebur128 over the concatenated tracks) and loudgain (libebur128's
``ebur128_loudness_global_multiple``) do.  Each :class:`TrackMeasurement`
carries its gating blocks as a loudness histogram (0.01 LU bins, each with a
block count and an energy sum), so :func:`album` gates their union without
reading the files again.

Decoding, streamed in blocks (memory does not grow with the length):

* libsndfile (through soundfile) for what it decodes: WAV, AIFF, FLAC, Ogg
  Vorbis, Ogg Opus and, with libsndfile ≥ 1.1, MP3;
* ffmpeg through a pipe (32-bit float PCM in a WAV stream) for the rest:
  M4A/MP4 (AAC, ALAC) and anything libsndfile refuses.

A mono file is measured as one channel (BS.1770-4 Table 3, G = 1), as
r128gain gets it too (ffmpeg's upmix to stereo feeds each side at −3 dB, which
sums back to the mono energy); it is not treated as dual mono.
"""

from __future__ import annotations

import logging
import math
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
import soundfile as sf

from .. import tags as tag_io
from ..errors import AudioInputError, UserInputError
from .meter import LoudnessMeter, gated_loudness

log = logging.getLogger(__name__)

# ReplayGain 2.0 specification, "Reference level": gains bring a track to −18 LUFS
RG2_REFERENCE_LUFS = -18.0
# RFC 7845 §5.2.1: R128_TRACK_GAIN / R128_ALBUM_GAIN are relative to −23 LUFS (EBU R128)
R128_REFERENCE_LUFS = -23.0
# RFC 7845 §5.2.1: the R128 gains are signed 16-bit Q7.8 fixed-point integers
Q78_ONE = 256
Q78_MIN, Q78_MAX = -32768, 32767

RG_TRACK_GAIN = "REPLAYGAIN_TRACK_GAIN"
RG_TRACK_PEAK = "REPLAYGAIN_TRACK_PEAK"
RG_ALBUM_GAIN = "REPLAYGAIN_ALBUM_GAIN"
RG_ALBUM_PEAK = "REPLAYGAIN_ALBUM_PEAK"
RG_REFERENCE = "REPLAYGAIN_REFERENCE_LOUDNESS"
RG_KEYS = (RG_TRACK_GAIN, RG_TRACK_PEAK, RG_ALBUM_GAIN, RG_ALBUM_PEAK, RG_REFERENCE)
R128_TRACK_GAIN = "R128_TRACK_GAIN"
R128_ALBUM_GAIN = "R128_ALBUM_GAIN"

BLOCK_FRAMES = 65536
# containers libsndfile cannot open: straight to ffmpeg, no failed open first
FFMPEG_SUFFIXES = {".m4a", ".mp4", ".m4b", ".aac", ".alac", ".wma", ".webm", ".mka"}
Decoder = Literal["soundfile", "ffmpeg"]
PeakKind = Literal["sample", "true"]


@dataclass(frozen=True, eq=False)
class TrackMeasurement:
    """What one file's tags need: its loudness, peaks and gating blocks (picklable).

    ``gating_bins``/``gating_counts``/``gating_energies`` are the non-empty bins
    of the meter's 0.01 LU histogram of 400 ms gating blocks above −70 LUFS
    (:meth:`.LoudnessMeter.gating_histogram`).
    """

    path: str
    integrated_lufs: float
    sample_peak: float  # linear, the largest over the channels
    true_peak: float  # linear (BS.1770-4 Annex 2, 4× oversampled)
    duration_s: float
    sample_rate: float
    channels: int
    decoder: Decoder
    gating_bins: np.ndarray = field(repr=False)
    gating_counts: np.ndarray = field(repr=False)
    gating_energies: np.ndarray = field(repr=False)

    @property
    def gain_db(self) -> float:
        """ReplayGain 2.0 track gain: reference minus loudness (dB)."""
        return RG2_REFERENCE_LUFS - self.integrated_lufs

    @property
    def blocks(self) -> int:
        """The number of gating blocks above the absolute gate."""
        return int(self.gating_counts.sum())


@dataclass(frozen=True)
class AlbumGain:
    """Album loudness (gated over the union of its tracks' blocks) and album peaks."""

    integrated_lufs: float
    sample_peak: float
    true_peak: float
    tracks: int

    @property
    def gain_db(self) -> float:
        """ReplayGain 2.0 album gain: reference minus album loudness (dB)."""
        return RG2_REFERENCE_LUFS - self.integrated_lufs


class TaggingError(UserInputError):
    """A file cannot be given loudness tags (silent, or an album with no tracks)."""


# -- measure ------------------------------------------------------------------------------------


def measure(path: str | Path, *, block: int = BLOCK_FRAMES) -> TrackMeasurement:
    """Measure a file for its tags, streaming it ``block`` frames at a time.

    Decodes with libsndfile where it can (WAV, FLAC, Ogg Vorbis, Opus, MP3),
    else with ffmpeg through a pipe (M4A/AAC and the rest).  Raises
    :class:`AudioInputError` naming the file when it is missing, empty,
    undecodable, or holds NaN/Inf.
    """
    p = Path(path)
    _check_file(p)
    with _Decoding(p, block) as (decoder, channels, rate, blocks):
        meter = LoudnessMeter(channels, rate)
        for x in blocks:
            meter.process(x)
    if meter.frames == 0:
        raise AudioInputError("the file holds no audio frames", file=str(p),
                              hint="re-export the file, or leave it out")
    bins, counts, energies = meter.gating_histogram()
    return TrackMeasurement(
        path=str(p),
        integrated_lufs=meter.integrated(),
        sample_peak=float(meter.sample_peak().max()),
        true_peak=float(meter.true_peak().max()),
        duration_s=meter.frames / rate,
        sample_rate=float(rate),
        channels=channels,
        decoder=decoder,
        gating_bins=bins,
        gating_counts=counts,
        gating_energies=energies,
    )


def _check_file(p: Path) -> None:
    if not p.exists():
        raise AudioInputError("no such file", file=str(p), hint="check the path")
    if p.is_dir():
        raise AudioInputError("is a folder, not an audio file", file=str(p))
    if p.stat().st_size == 0:
        raise AudioInputError("the file is empty (0 bytes)", file=str(p),
                              hint="re-export or re-download the file, or leave it out")


class _Decoding:
    """Context manager giving ``(decoder, channels, rate, blocks)``; closes the file or ffmpeg."""

    def __init__(self, path: Path, block: int) -> None:
        self.path, self.block = path, block
        self._handle: sf.SoundFile | None = None
        self._ffmpeg: _FfmpegStream | None = None

    def __enter__(self) -> tuple[Decoder, int, int, Iterator[np.ndarray]]:
        if self.path.suffix.lower() not in FFMPEG_SUFFIXES:
            try:
                self._handle = sf.SoundFile(str(self.path))
            except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as error:
                log.debug("libsndfile cannot open %s (%s): decoding with ffmpeg", self.path, error)
        if self._handle is not None:
            h = self._handle
            return "soundfile", h.channels, h.samplerate, self._soundfile_blocks(h)
        self._ffmpeg = _FfmpegStream(self.path)
        s = self._ffmpeg
        return "ffmpeg", s.channels, s.sample_rate, s.blocks(self.block)

    def _soundfile_blocks(self, handle: sf.SoundFile) -> Iterator[np.ndarray]:
        try:
            for chunk in handle.blocks(blocksize=self.block, dtype="float64", always_2d=True):
                yield _finite(np.ascontiguousarray(chunk.T), self.path)
        except (sf.LibsndfileError, RuntimeError) as error:
            raise AudioInputError(f"cannot decode the audio ({error})", file=str(self.path),
                                  hint="the file is damaged: re-export or re-download it") from None

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
        if self._ffmpeg is not None:
            self._ffmpeg.close()


def _finite(x: np.ndarray, path: Path) -> np.ndarray:
    # one pass: any NaN or Inf makes the sum non-finite
    if not math.isfinite(float(x.sum())):
        raise AudioInputError("the audio holds NaN or infinite samples", file=str(path),
                              hint="fix or re-export the file")
    return x


class _FfmpegStream:
    """ffmpeg decoding a file's first audio stream to 32-bit float PCM in a WAV stream on a pipe.

    The WAV header gives the channels and rate (no ffprobe run); ffmpeg's
    messages go to a temp file, so a chatty corrupt file cannot fill a pipe
    and stall it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise AudioInputError("libsndfile cannot decode this file and ffmpeg is not installed",
                                  file=str(path), hint="install ffmpeg to read M4A/AAC files")
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close(), with the process
        self._proc = subprocess.Popen(
            [exe, "-nostdin", "-hide_banner", "-v", "error", "-i", str(path),
             "-map", "0:a:0", "-c:a", "pcm_f32le", "-f", "wav", "-"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log,
        )
        assert self._proc.stdout is not None
        self._out: IO[bytes] = self._proc.stdout
        try:
            self.channels, self.sample_rate = self._read_header()
        except BaseException:
            self.close()
            raise

    def _fail(self, what: str) -> AudioInputError:
        self._proc.wait()
        self._log.seek(0)
        said = self._log.read().decode("utf-8", "replace").strip().splitlines()
        reason = said[-1] if said else what
        return AudioInputError(f"cannot decode the audio (ffmpeg: {reason})", file=str(self.path),
                               hint="the file is damaged or not audio: re-export or re-download it")

    def _read_header(self) -> tuple[int, int]:
        """Walk the RIFF chunks (WAV: "fmt " then "data") to the start of the samples."""
        riff = self._out.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            raise self._fail("no audio stream")
        channels = rate = 0
        while True:
            head = self._out.read(8)
            if len(head) < 8:
                raise self._fail("no audio data")
            name, size = head[:4], struct.unpack("<I", head[4:])[0]
            if name == b"data":
                if not channels:
                    raise self._fail("no format chunk")
                return channels, rate
            body = self._out.read(size + (size & 1))  # chunks are padded to even sizes
            if name == b"fmt ":
                channels, rate = struct.unpack("<HI", body[2:8])

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        width = 4 * self.channels
        size = frames * width
        buffer = bytearray(size)
        view = memoryview(buffer)
        while True:
            got = 0
            while got < size:
                n = self._out.readinto(view[got:])  # type: ignore[attr-defined]
                if not n:
                    break
                got += n
            usable = got - got % width
            if usable:
                x = np.frombuffer(buffer, dtype="<f4", count=usable // 4).reshape(-1, self.channels)
                yield _finite(x.T.astype(np.float64), self.path)
            if got < size:
                break
        if self._proc.wait() != 0:
            raise self._fail("decoding failed")

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._out.close()
        self._log.close()


# -- album --------------------------------------------------------------------------------------


def album(measurements: Iterable[TrackMeasurement]) -> AlbumGain:
    """Album loudness and peaks of the tracks ``measurements``.

    BS.1770-4 Annex 1 gating over the union of the tracks' gating blocks (the
    album measured as one programme, ReplayGain 2.0 "Album gain"); the album
    peak is the largest track peak ("Peak amplitude").
    """
    tracks = list(measurements)
    if not tracks:
        raise TaggingError("an album needs at least one measured track")
    loudness = gated_loudness(
        np.concatenate([t.gating_bins for t in tracks]),
        np.concatenate([t.gating_counts for t in tracks]),
        np.concatenate([t.gating_energies for t in tracks]),
    )
    return AlbumGain(
        integrated_lufs=loudness,
        sample_peak=max(t.sample_peak for t in tracks),
        true_peak=max(t.true_peak for t in tracks),
        tracks=len(tracks),
    )


# -- tags ---------------------------------------------------------------------------------------


def write_tags(
    path: str | Path,
    track: TrackMeasurement,
    album: AlbumGain | None,
    *,
    peak: PeakKind = "sample",
) -> None:
    """Write the loudness tags of ``track`` (and ``album``, when given) into ``path``, audio untouched.

    FLAC, Ogg Vorbis, MP3 and M4A get ReplayGain 2.0 tags; Opus gets R128
    gains and loses any ReplayGain tags (RFC 7845 §5.2.1).  Without an
    album, album tags left from an earlier run are removed.  ``peak`` picks
    the sample peak (ReplayGain's "peak amplitude", what r128gain writes) or
    the true peak.
    """
    p = Path(path)
    values, remove = tag_values(p, track, album, peak=peak)
    tag_io.update_text_tags(p, values, remove)


def tag_values(path: str | Path, track: TrackMeasurement, album: AlbumGain | None, *,
               peak: PeakKind = "sample") -> tuple[dict[str, str], tuple[str, ...]]:
    """The tags :func:`write_tags` would set in ``path`` (by its container), and the keys it would remove.

    Raises :class:`TaggingError` for a silent track or album (it has no gain).
    """
    p = Path(path)
    if peak not in ("sample", "true"):
        raise UserInputError(f"peak must be 'sample' or 'true', not {peak!r}")
    kind = tag_io.container(p)
    for what, loudness in (("the track", track.integrated_lufs),
                           ("the album", album.integrated_lufs if album else 0.0)):
        if not math.isfinite(loudness):
            raise TaggingError(f"{p}: {what} is silent (no block above −70 LUFS), so it has no gain",
                               hint="leave silent files out of the tagging")
    if kind == "ogg-opus":
        return _r128_tags(track, album)
    return _replaygain_tags(track, album, peak)


def format_gain(gain_db: float) -> str:
    """ReplayGain 2.0 "Metadata format": the gain with two decimals and " dB"."""
    return f"{gain_db:.2f} dB"


def format_peak(peak: float) -> str:
    """ReplayGain 2.0 "Metadata format": the linear peak amplitude with six decimals."""
    return f"{peak:.6f}"


def q78(gain_db: float) -> int:
    """A gain as the Q7.8 integer of RFC 7845 §5.2.1, clamped to the signed 16-bit range."""
    value = int(round(gain_db * Q78_ONE))
    if not Q78_MIN <= value <= Q78_MAX:
        log.warning("R128 gain %.2f dB is outside Q7.8's range; clamped", gain_db)
    return max(Q78_MIN, min(Q78_MAX, value))


def _replaygain_tags(track: TrackMeasurement, album: AlbumGain | None,
                     peak: PeakKind) -> tuple[dict[str, str], tuple[str, ...]]:
    # ReplayGain 2.0 "Metadata format": REPLAYGAIN_{TRACK,ALBUM}_{GAIN,PEAK}, and the reference
    # loudness the gains lead to
    values = {
        RG_TRACK_GAIN: format_gain(track.gain_db),
        RG_TRACK_PEAK: format_peak(track.sample_peak if peak == "sample" else track.true_peak),
        RG_REFERENCE: f"{RG2_REFERENCE_LUFS:.2f} LUFS",
    }
    if album is not None:
        values[RG_ALBUM_GAIN] = format_gain(album.gain_db)
        values[RG_ALBUM_PEAK] = format_peak(album.sample_peak if peak == "sample" else album.true_peak)
        return values, ()
    return values, (RG_ALBUM_GAIN, RG_ALBUM_PEAK)


def _r128_tags(track: TrackMeasurement, album: AlbumGain | None) -> tuple[dict[str, str], tuple[str, ...]]:
    # RFC 7845 §5.2.1: R128_TRACK_GAIN / R128_ALBUM_GAIN, Q7.8 dB relative to −23 LUFS, applied on
    # top of the header's output gain (which the decoder applied before we measured); the
    # comment header SHOULD NOT hold REPLAYGAIN_* tags, so any are removed
    values = {R128_TRACK_GAIN: str(q78(R128_REFERENCE_LUFS - track.integrated_lufs))}
    remove: tuple[str, ...] = RG_KEYS
    if album is not None:
        values[R128_ALBUM_GAIN] = str(q78(R128_REFERENCE_LUFS - album.integrated_lufs))
    else:
        remove += (R128_ALBUM_GAIN,)
    return values, remove


# -- albums -------------------------------------------------------------------------------------


def group_albums(paths: Iterable[str | Path], by: Literal["folder", "tag"] = "folder") -> dict[str, list[Path]]:
    """Files grouped into albums: by their folder, or by their (album artist, album) tags.

    With ``by="tag"`` a file without an album tag (or whose tags cannot be
    read) is an album of its own (its album gain is its track gain), keyed by
    its path.  Keys are the folder,
    ``"<album artist> — <album>"``, or the path; each list is sorted.
    """
    if by not in ("folder", "tag"):
        raise UserInputError(f"albums are grouped by 'folder' or 'tag', not {by!r}")
    groups: dict[str, list[Path]] = {}
    for raw in paths:
        p = Path(raw)
        if by == "folder":
            key = str(p.resolve().parent)
        else:
            try:
                found = tag_io.album_key(p)
            except AudioInputError:
                found = None  # unreadable: an album of its own, whose measure() says why
            key = f"{found[0]} — {found[1]}" if found else str(p.resolve())
        groups.setdefault(key, []).append(p)
    return {key: sorted(files) for key, files in groups.items()}
