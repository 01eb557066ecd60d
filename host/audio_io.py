"""Audio in and out: streaming file sources and atomic output files.

Sources stream from disk block by block (memory does not grow with length)
and resample with soxr when the file's rate differs from the session's.
Outputs are written to a temp file beside the target and renamed into place
only when the render succeeds, so a failed or interrupted render leaves
nothing behind.
"""

from __future__ import annotations

import errno
import math
import os
import queue
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf

from .atomic import Writeback, temp_beside
from .errors import AudioInputError, OutputError, WriteError

MAX_CHANNELS = 2


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int                       # what the file holds (and plays)
    header_frames: int | None = None  # what its header claims, where that is more: a truncated file

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def truncation(self) -> str | None:
        """Words for a header that claims more audio than the file holds, or None."""
        if self.header_frames is None:
            return None
        return (f"{self.path.name} is truncated: its header says {self.header_frames / self.sample_rate:.2f} s, "
                f"the file holds {self.duration_s:.2f} s (it plays that long, then silence)")


# libsndfile's log for a WAV/AIFF/W64 whose audio chunk is cut short: "data : 1152000 (should be 576003)"
_SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _header_frames(frames: int, log_text: str) -> int | None:
    """The frames a truncated file's header declares (libsndfile plays only what is there)."""
    match = _SHORT_CHUNK.search(log_text)
    if match is None:
        return None
    declared, present = int(match.group(1)), int(match.group(2))
    if declared <= present or present <= 0:
        return None  # junk after the data, not missing data
    return int(round(frames * declared / present))


def probe(path: Path) -> AudioInfo:
    """Header facts of an audio file; problems become :class:`AudioInputError`."""
    if not path.exists():
        raise AudioInputError(f"audio file not found: {path}", hint="check the `source:` path; it is relative to the session file")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as error:
        raise AudioInputError(f"cannot read {path.name}: {error}", file=str(path),
                              hint="use WAV, FLAC, AIFF or OGG audio") from None
    if info.frames <= 0:
        raise AudioInputError(f"{path.name} has no audio (zero length)", file=str(path))
    if info.channels > MAX_CHANNELS:
        raise AudioInputError(f"{path.name} has {info.channels} channels; tracks take mono or stereo",
                              file=str(path), hint="split it into mono or stereo stems")
    frames = int(info.frames)
    return AudioInfo(path, int(info.samplerate), int(info.channels), frames,
                     _header_frames(frames, str(getattr(info, "extra_info", ""))))


# Containers whose PCM libsndfile converts to float64 as stored integer x 2^-(bits-1) (16-bit
# as int16 / 2^15; 24- and 32-bit as left-justified int32 / 2^31): reading those integers and
# scaling them gives the same float64 values.  FLAC, Ogg and the rest keep libsndfile's path.
_PLAIN_PCM = {"WAV", "WAVEX", "AIFF", "W64", "RF64", "CAF"}
_NATIVE = {"PCM_16": (np.int16, 2.0 ** -15), "PCM_24": (np.int32, 2.0 ** -31),
           "PCM_32": (np.int32, 2.0 ** -31), "FLOAT": (np.float32, 1.0)}
_CTYPES = {np.dtype(np.int16): "short", np.dtype(np.int32): "int", np.dtype(np.float32): "float",
           np.dtype(np.float64): "double"}


def _native_sample(file: sf.SoundFile) -> tuple[float | None, np.dtype]:
    """(scale to float64, dtype read) for ``file``; scale None means read float64 directly."""
    if file.format in _PLAIN_PCM and file.subtype in _NATIVE:
        dtype, scale = _NATIVE[file.subtype]
        return scale, np.dtype(dtype)
    return None, np.dtype(np.float64)


def _frame_reader(file: sf.SoundFile, dtype: np.dtype) -> Callable[[np.ndarray, int], int]:
    """``read(buffer, frames) -> frames read`` into a C-contiguous ``buffer`` of ``dtype``.

    It calls libsndfile's sf_readf_* directly: pysoundfile's read() brackets every
    call with a tell and a seek (to check the frame count), which on 8192-frame
    blocks costs about as much as the read.  libsndfile keeps the position, so
    ``SoundFile.seek`` still works.  Without those internals, the public
    ``buffer_read_into``.
    """
    ctype = _CTYPES[dtype]
    snd, ffi, handle = getattr(sf, "_snd", None), getattr(sf, "_ffi", None), getattr(file, "_file", None)
    function = getattr(snd, f"sf_readf_{ctype}", None)
    if ffi is None or handle is None or function is None:
        return lambda buffer, frames: int(file.buffer_read_into(buffer[:frames], dtype=dtype.name))
    pointer = f"{ctype} *"

    def read(buffer: np.ndarray, frames: int) -> int:
        assert buffer.dtype == dtype and buffer.flags.c_contiguous and buffer.shape[0] >= frames
        return int(function(handle, ffi.cast(pointer, buffer.ctypes.data), frames))

    return read


class FileSource:
    """Streams a file as float64 blocks of shape (channels, frames), at the session rate."""

    def __init__(self, info: AudioInfo, sample_rate: int) -> None:
        self.info = info
        self.channels = info.channels
        self.sample_rate = float(sample_rate)
        self._ratio = sample_rate / info.sample_rate
        self.frames: int | None = math.ceil(info.frames * self._ratio)
        self._file = sf.SoundFile(str(info.path))
        self._resampler = None
        self._fifo = np.zeros((0, self.channels))
        self._scale, dtype = _native_sample(self._file)
        self._integer = dtype.kind == "i"  # integer samples cannot hold NaN or Inf
        self._interleaved = np.empty((0, self.channels), dtype=dtype)
        self._readf = _frame_reader(self._file, dtype)
        self._position = 0
        if info.sample_rate != sample_rate:
            self._new_resampler()

    def _new_resampler(self) -> None:
        import soxr  # only sessions that mix rates pay for the import

        self._resampler = soxr.ResampleStream(
            self.info.sample_rate, self.sample_rate, self.channels, dtype="float64", quality="HQ"
        )
        self._fifo = np.zeros((0, self.channels))
        self._flushed = False  # soxr takes no input after its last chunk: past that, only the fifo is left

    def read(self, out: np.ndarray) -> int:
        """Fill ``out`` (channels, n); returns the frames that came from the file (rest is zero)."""
        wanted = out.shape[1]
        if self._resampler is None:
            got = self._read_file(out)
        else:
            data = self._read_resampled(wanted)
            got = data.shape[0]
            out[:, :got] = data.T
        out[:, got:] = 0.0
        if got and not (self._integer and self._resampler is None) and not math.isfinite(float(out[:, :got].sum())):
            bad = int(np.argwhere(~np.isfinite(out[:, :got]))[0][1])
            seconds = (self._position + bad) / self.sample_rate
            raise AudioInputError(f"{self.info.path.name} holds NaN or Inf at {seconds:.3f} s",
                                  file=str(self.info.path), hint="fix or re-export the file")
        self._position += got
        return got

    def _read_file(self, out: np.ndarray) -> int:
        """Read the file's own samples, then scale and de-interleave them into ``out`` in one pass.

        libsndfile's own conversion to float64 goes through a small internal
        buffer; reading the stored integers and scaling them here (by the same
        power of two, so the same values) is several times faster.  A float64
        file (or one without a native type here) reads straight into ``out``.
        """
        frames = out.shape[1]
        if self._scale is None and self.channels == 1:
            return self._checked(self._readf(out[0], frames), frames)
        if self._interleaved.shape[0] < frames:
            self._interleaved = np.empty((frames, self.channels), dtype=self._interleaved.dtype)
        got = self._checked(self._readf(self._interleaved, frames), frames)
        stored = self._interleaved[:got].T
        if self._scale is None or self._scale == 1.0:
            out[:, :got] = stored
        else:
            np.multiply(stored, self._scale, out=out[:, :got])
        return got

    def _checked(self, got: int, wanted: int) -> int:
        """A short read is the end of the file, unless libsndfile reports an error."""
        code = self._file._errorcode if got < wanted else 0  # noqa: SLF001 - libsndfile's sf_error
        if code:
            raise AudioInputError(f"cannot read {self.info.path.name}: {sf.LibsndfileError(code).error_string}",
                                  file=str(self.info.path), hint="fix or re-export the file")
        return got

    def _read_resampled(self, frames: int) -> np.ndarray:
        assert self._resampler is not None
        while self._fifo.shape[0] < frames and not self._flushed:
            chunk = self._file.read(max(1024, int(frames / self._ratio) + 64), dtype="float64", always_2d=True)
            self._flushed = chunk.shape[0] == 0
            produced = self._resampler.resample_chunk(chunk, last=self._flushed)
            self._fifo = np.concatenate([self._fifo, produced]) if self._fifo.size else produced
        data, self._fifo = self._fifo[:frames], self._fifo[frames:]
        return data

    def seek(self, frame: int) -> None:
        self._file.seek(min(int(frame / self._ratio), self.info.frames))
        self._position = frame
        if self._resampler is not None:
            self._new_resampler()

    def close(self) -> None:
        self._file.close()


SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "PCM_32", "float": "FLOAT"}



class AtomicWriter:
    """Writes audio to ``path`` through a temp file; ``commit()`` renames it into place.

    Used as a context manager: leaving the block by an exception (including
    KeyboardInterrupt) deletes the temp file, so no partial output remains.
    """

    def __init__(self, path: Path, sample_rate: int, channels: int, fmt: str = "wav",
                 bit_depth: int | str = 24, dither: bool = True, seed: int = 0,
                 file_rate: int | None = None, tags: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.fmt = fmt
        self.tags = dict(tags or {})
        self.sample_rate = sample_rate
        self.file_rate = file_rate or sample_rate
        self._resampler = None
        if self.file_rate != sample_rate:
            import soxr

            self._resampler = soxr.ResampleStream(sample_rate, self.file_rate, channels, dtype="float64",
                                                  quality="VHQ")
        self.channels = channels
        self.peak = 0.0
        self.frames = 0
        self.bit_depth = bit_depth
        self._rng = np.random.default_rng(seed) if dither and bit_depth in (16, 24) else None
        subtype = SUBTYPES[bit_depth]
        # libsndfile takes interleaved frames.  A float file gets float32 from us (the same
        # round-to-nearest cast libsndfile does, in one numpy pass instead of a copy plus a cast);
        # an integer file gets left-justified int32, dithered and rounded here (host.dsp.dither.pcm_frames)
        self._frame_dtype = np.float32 if subtype == "FLOAT" else np.int32
        self._interleaved = np.empty((0, channels), dtype=self._frame_dtype)
        if fmt == "flac" and subtype in ("PCM_32", "FLOAT"):
            raise OutputError(f"FLAC holds 16- or 24-bit audio, not {bit_depth}", hint="use bit_depth: 24 or format: wav")
        self._tmp = temp_beside(path)
        try:
            self._file = sf.SoundFile(str(self._tmp), "w", samplerate=self.file_rate, channels=channels,
                                      subtype=subtype, format=fmt.upper())
        except (sf.LibsndfileError, OSError) as error:
            self._tmp.unlink(missing_ok=True)
            raise self._write_error(error, None) from None
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self._writeback = Writeback(self._tmp)
        for key, value in self.tags.items():
            if value and key in ("title", "artist", "album", "tracknumber"):
                setattr(self._file, key, str(value))  # RIFF INFO / Vorbis comments, read by libsndfile

    def write(self, block: np.ndarray) -> None:
        """Write a (channels, frames) float block."""
        if block.shape[1] == 0:
            return
        self.frames += block.shape[1]
        if self._resampler is not None:
            block = self._resampler.resample_chunk(block.T).T
        self._write(block)

    def _write(self, block: np.ndarray) -> None:
        if block.shape[1] == 0:
            return
        self.peak = max(self.peak, float(block.max()), -float(block.min()))
        try:
            self._file.write(self._frames_of(block))
        except (sf.LibsndfileError, OSError) as error:
            raise self._write_error(error, self._file) from None
        self._writeback.wrote(block.shape[1])

    def _frames_of(self, block: np.ndarray) -> np.ndarray:
        """``block`` (channels, frames) as the (frames, channels) array libsndfile writes, in a reused buffer."""
        frames = block.shape[1]
        if self._interleaved.shape[0] < frames:
            self._interleaved = np.empty((frames, self.channels), dtype=self._frame_dtype)
        if self._frame_dtype is np.int32:
            from .dsp.dither import pcm_frames

            return pcm_frames(block, int(self.bit_depth), self._rng, self._interleaved)
        out = self._interleaved[:frames]
        for channel in range(self.channels):
            out[:, channel] = block[channel]
        return out

    @property
    def temp(self) -> Path:
        """The temp file the audio goes to until it is renamed into place."""
        return self._tmp

    def commit(self, verify: Callable[[Path], None] | None = None) -> Path:
        """Close and rename into place; ``verify(temp_path)`` may first refuse the file by raising.

        A write that fails here (the header and the last frames go out as the file
        closes) deletes the temp file and raises :class:`WriteError`.
        """
        self.finish(verify)
        try:
            os.replace(self._tmp, self.path)
        except OSError as error:
            self.abort()
            raise self._write_error(error, None) from None
        return self.path

    def finish(self, verify: Callable[[Path], None] | None = None) -> Path:
        """Close the temp file, complete and verified, without renaming it (an :class:`OutputSet`
        lands it with the others); returns the temp file.  A failed or refused file is removed."""
        try:
            if self._resampler is not None:
                self._write(self._resampler.resample_chunk(np.zeros((0, self.channels)), last=True).T)
            self._close_file()
            if self.tags:
                from .tags import write_tags

                write_tags(self._tmp, self.fmt, self.tags)
            if verify is not None:
                verify(self._tmp)
        except OSError as error:
            self.abort()
            raise self._write_error(error, None) from None
        except BaseException:
            self.abort()  # a refused or failed file leaves nothing behind
            raise
        return self._tmp

    def _close_file(self) -> None:
        try:
            self._file.close()
        except (sf.LibsndfileError, OSError) as error:
            raise self._write_error(error, self._file) from None
        finally:
            self._writeback.close()

    def _write_error(self, error: BaseException, file: sf.SoundFile | None) -> WriteError:
        """The failed write as a message that says what filled up, or what the system said."""
        detail = _system_detail(error, file)
        hint = "nothing was written; free some space there, or write the output elsewhere"
        if "No space left" in detail or (isinstance(error, OSError) and error.errno == errno.ENOSPC):
            return WriteError(f"no space left on device writing {self.path}", hint=hint)
        if isinstance(error, OSError) and error.errno == errno.EDQUOT:
            return WriteError(f"disk quota exceeded writing {self.path}", hint=hint)
        return WriteError(f"cannot write {self.path}: {detail}", hint="nothing was written")

    def abort(self) -> None:
        try:
            if not self._file.closed:
                self._file.close()
        except (sf.LibsndfileError, OSError):
            pass  # closing flushes: on a full disk that fails too, and the file goes anyway
        finally:
            self._writeback.close()
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()


def _system_detail(error: BaseException, file: sf.SoundFile | None) -> str:
    """What the system said about a failed write.

    pysoundfile reports every failed write as libsndfile's generic "System
    error"; libsndfile's own log for the file (``sf_strerror``) holds the
    errno's text ("No space left on device").  Without pysoundfile's
    internals, the exception's own text.
    """
    if isinstance(error, OSError):
        return error.strerror or str(error)
    snd, ffi, handle = getattr(sf, "_snd", None), getattr(sf, "_ffi", None), getattr(file, "_file", None)
    if snd is not None and ffi is not None and handle is not None and hasattr(snd, "sf_strerror"):
        text = ffi.string(snd.sf_strerror(handle)).decode(errors="replace").strip()
        if text:
            return text.rstrip(".")
    return str(error).rstrip(".")


class WriteBehind:
    """Hands an :class:`AtomicWriter`'s writes to a thread, so encoding overlaps the render.

    Blocks are copied into a few chunk buffers (memory stays bounded: at most
    ``depth`` chunks wait); the thread writes whole chunks.  libsndfile calls
    and numpy's copies release the GIL, so on a parallel render the file is
    written on whichever core is idle.  A failure in the thread is raised by
    the next ``write`` or by ``finish``; ``stop`` ends the thread without
    writing the rest (the caller then aborts the writer).
    """

    def __init__(self, writer: AtomicWriter, chunk_frames: int = 65536, depth: int = 3) -> None:
        self.writer = writer
        self._free: queue.Queue[np.ndarray] = queue.Queue()
        for _ in range(depth):
            self._free.put(np.empty((writer.channels, chunk_frames)))
        self._full: queue.Queue[tuple[np.ndarray, int] | None] = queue.Queue()
        self._buffer = self._free.get()
        self._fill = 0
        self._reserved: np.ndarray | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mixhost-write-behind", daemon=True)
        self._thread.start()

    def reserve(self, frames: int) -> np.ndarray | None:
        """The next ``frames`` columns of the chunk buffer, to be filled and then passed to
        ``write`` (which then copies nothing); None when they would straddle two chunks."""
        if self._fill + frames > self._buffer.shape[1]:
            self._reserved = None
            return None
        self._reserved = self._buffer[:, self._fill:self._fill + frames]
        return self._reserved

    def write(self, block: np.ndarray) -> None:
        """Queue a (channels, frames) block; it is copied, so the caller may reuse it at once."""
        reserved, self._reserved = self._reserved, None
        if reserved is not None and block.shape == reserved.shape and block.ctypes.data == reserved.ctypes.data:
            self._fill += block.shape[1]  # already in place: filled through ``reserve``
            if self._fill == self._buffer.shape[1]:
                self._hand_over()
            return
        done, frames = 0, block.shape[1]
        while done < frames:
            n = min(frames - done, self._buffer.shape[1] - self._fill)
            self._buffer[:, self._fill:self._fill + n] = block[:, done:done + n]
            self._fill += n
            done += n
            if self._fill == self._buffer.shape[1]:
                self._hand_over()

    def finish(self) -> None:
        """Write what is queued and end the thread; raises the thread's failure, if any."""
        self._hand_over()
        self._end()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """End the thread, dropping what is queued (the render failed)."""
        self._error = self._error or _Stopped()
        self._end()

    def _hand_over(self) -> None:
        if self._error is not None:
            raise self._error
        if self._fill:
            self._full.put((self._buffer, self._fill))
            self._buffer, self._fill = self._free.get(), 0

    def _end(self) -> None:
        if self._thread.is_alive():
            self._full.put(None)
            self._thread.join()

    def _run(self) -> None:
        while (item := self._full.get()) is not None:
            buffer, frames = item
            if self._error is None:
                try:
                    self.writer.write(buffer[:, :frames])
                except BaseException as error:  # noqa: BLE001 - raised in the rendering thread
                    self._error = error
            self._free.put(buffer)


class _Stopped(Exception):
    """The render ended before the queued writes (never reaches a user)."""

