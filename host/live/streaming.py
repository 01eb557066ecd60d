"""Disk streaming for the live engine: a reader thread fills one ring buffer per track.

:class:`StreamingSource` has the interface of :class:`host.audio_io.FileSource`
(``read(out) -> int``, ``seek``, ``close``, ``channels``, ``frames``), so it
replaces a track node's source in the graph.  The audio thread only copies
out of the ring: it never blocks, never touches the file, never allocates.

Hand-off (single producer, single consumer, no locks):

* the consumer owns ``_read`` and ``_head`` (the timeline position of the
  next frame in the ring); the producer owns ``_write``.  Each is published
  by one plain assignment after the data it covers has been copied;
* a position jump (locate, loop change) is a *request* ``(generation,
  position, loop)`` posted by the audio thread.  Until the reader has served
  it (``ready``), the consumer leaves the ring alone and reads silence; the
  reader empties the ring, seeks, pre-fills and then publishes the generation.

On underrun the missing frames are silence and counted; the ring keeps
timeline positions, so playback catches up in step with the transport.

A source that fails to read (a file that turns unreadable, a decoder error)
ends the reader thread: it hands the failure, naming the file, to
``on_failure`` (the engine keeps it as its ``error``, which stops a run), so
a dead reader is never mistaken for a quiet passage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..audio_io import FileSource
from ..errors import MixhostError, RenderError
from .transport import next_position

log = logging.getLogger(__name__)

CHUNK = 4096            # frames per file read in the reader thread
# The reader's idle sleep: far under a ring's worth of audio (a second), and a locate waits for
# it at most once.  Each wake takes the GIL from the audio thread if it is running, so not
# more often than this.
POLL_S = 0.02


@dataclass
class SourceClock:
    """What the engine tells the sources about the block being processed."""

    position: int = 0
    rolling: bool = False
    generation: int = 0
    loop: tuple[int, int] | None = None


class StreamingSource:
    """A track's file, read ahead by :class:`StreamReader` into a ring buffer."""

    def __init__(self, inner: FileSource, clock: SourceClock, capacity: int) -> None:
        self.inner = inner
        self.clock = clock
        self.channels = inner.channels
        self.frames = inner.frames
        self.capacity = int(capacity)
        self._ring = np.zeros((self.channels, self.capacity))
        self._chunk = np.zeros((self.channels, CHUNK))
        self._write = 0          # producer: frames written (monotonic)
        self._read = 0           # consumer: frames read (monotonic)
        self._head = 0           # consumer: timeline position of the next ring frame
        self._request: tuple[int, int, tuple[int, int] | None] = (0, 0, None)
        self._ready_generation = -1
        self._file_position = 0  # producer: timeline position of the next file frame
        self._loop: tuple[int, int] | None = None
        self.underruns = 0
        self.underrun_frames = 0

    # -- the audio thread --------------------------------------------------------------
    def request(self, generation: int, position: int, loop: tuple[int, int] | None) -> None:
        """Ask the reader to refill from ``position`` (one tuple store: atomic)."""
        self._request = (generation, position, loop)

    @property
    def buffered(self) -> int:
        """Frames waiting in the ring."""
        return self._write - self._read

    @property
    def ready(self) -> bool:
        return self._ready_generation == self.clock.generation

    def read(self, out: np.ndarray) -> int:
        """Fill ``out`` from the ring at the clock's position; silence when stopped or not ready."""
        clock = self.clock
        if not clock.rolling or self._ready_generation != clock.generation:
            out.fill(0.0)
            return 0
        frames = out.shape[1]
        lead = self._align(clock.position, frames) if clock.position != self._head else 0
        if lead:
            out[:, :lead].fill(0.0)
        got = self._copy(out[:, lead:])
        if lead + got < frames:
            out[:, lead + got:].fill(0.0)
            if self._write - self._read == 0:
                self.underruns += 1
                self.underrun_frames += frames - lead - got
        return got

    def _align(self, position: int, frames: int) -> int:
        """Bring the ring head to ``position``: drop frames behind it; returns leading silence."""
        distance = position - self._head
        loop = self.clock.loop
        if distance < 0 and loop is not None and loop[0] <= position < loop[1] and self._head <= loop[1]:
            distance += loop[1] - loop[0]  # the head is before the wrap, the transport after it
        if distance < 0:  # the ring starts later (a preroll after a follow-transport locate)
            return min(-distance, frames)
        if distance > 0:  # behind after an underrun: skip what was missed
            skip = min(distance, self._write - self._read)
            self._read += skip
            self._head = next_position(self._head, skip, loop)
        return 0

    def _copy(self, out: np.ndarray) -> int:
        wanted = out.shape[1]
        got = min(wanted, self._write - self._read)
        if got <= 0:
            return 0
        start = self._read % self.capacity
        first = min(got, self.capacity - start)
        out[:, :first] = self._ring[:, start:start + first]
        if got > first:
            out[:, first:got] = self._ring[:, :got - first]
        self._read += got
        self._head = next_position(self._head, got, self.clock.loop)
        return got

    # -- the reader thread ---------------------------------------------------------------
    def service(self, prefill: int) -> bool:
        """Serve a pending request and top up the ring; True when it did any work."""
        generation, position, loop = self._request
        if generation != self._ready_generation:
            self._restart(position, loop)
            self._fill(prefill)
            self._ready_generation = generation
            return True
        return self._fill(self.capacity)

    def _restart(self, position: int, loop: tuple[int, int] | None) -> None:
        self._write = self._read   # the consumer is idle until the generation is published
        self._head = position
        self._loop = loop
        self._file_position = position
        self.inner.seek(position)

    def _fill(self, limit: int) -> bool:
        worked = False
        least = min(CHUNK, limit)  # whole chunks: fewer wakes that contend for the GIL
        while True:
            space = min(self.capacity, limit) - (self._write - self._read)
            if space < least or space <= 0:
                return worked
            count = min(CHUNK, space)
            loop = self._loop
            if loop is not None and self._file_position < loop[1]:
                count = min(count, loop[1] - self._file_position)
            chunk = self._chunk[:, :count]
            self.inner.read(chunk)
            start = self._write % self.capacity
            first = min(count, self.capacity - start)
            self._ring[:, start:start + first] = chunk[:, :first]
            if count > first:
                self._ring[:, :count - first] = chunk[:, first:]
            self._write += count  # publish after the copy
            self._file_position += count
            if loop is not None and self._file_position == loop[1]:
                self._file_position = loop[0]
                self.inner.seek(loop[0])
            worked = True

    # -- FileSource interface ------------------------------------------------------------------
    def seek(self, frame: int) -> None:
        """Jump to ``frame`` (a new generation; the engine normally does this for all tracks)."""
        self.clock.generation += 1
        self.request(self.clock.generation, frame, self.clock.loop)

    def close(self) -> None:
        self.inner.close()


class StreamReader:
    """The one reader thread that keeps every track's ring topped up."""

    def __init__(self, sources: list[StreamingSource], prefill: int,
                 on_failure: Callable[[MixhostError], None] | None = None) -> None:
        self.sources = sources
        self.prefill = prefill
        self.on_failure = on_failure
        self.failure: MixhostError | None = None   # set once, when the thread ends on an error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mixhost-reader", daemon=True)

    def start(self) -> None:
        if self.sources:
            self._thread.start()

    @property
    def native_id(self) -> int | None:
        """The reader thread's id for the OS (None before it started: no sources to read)."""
        return self._thread.native_id

    def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """Block (a control thread) until every source has served the current request."""
        deadline = time.monotonic() + timeout_s
        while not all(s.ready for s in self.sources):
            if self.failure is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            worked = False
            for source in self.sources:
                try:
                    worked |= source.service(self.prefill)
                except Exception as error:  # noqa: BLE001 - handed to the engine, which stops the run
                    self._fail(source, error)
                    return
            if not worked:
                self._stop.wait(POLL_S)

    def _fail(self, source: StreamingSource, error: Exception) -> None:
        path = source.inner.info.path
        detail = error.message if isinstance(error, MixhostError) else f"{type(error).__name__}: {error}"
        self.failure = RenderError(f"disk streaming stopped: reading {path} failed: {detail}",
                                   hint="playback was stopped; check the file (mixhost validate reads every "
                                        "source to its end)")
        log.debug("reader thread failed on %s", path, exc_info=error)
        if self.on_failure is not None:
            self.on_failure(self.failure)


class PortInput:
    """A track's live input: the backend copies the port buffers in at block start."""

    def __init__(self, channels: int, max_block: int) -> None:
        self.channels = channels
        self.frames: int | None = None
        self.buffer = np.zeros((channels, max_block))
        self.available = 0

    def feed(self, channel: int, data: np.ndarray) -> None:
        """Copy one port's block in (audio thread; float32 is converted in the copy)."""
        frames = data.shape[0]
        self.buffer[channel, :frames] = data
        self.available = frames

    def read(self, out: np.ndarray) -> int:
        frames = min(out.shape[1], self.available)
        out[:, :frames] = self.buffer[:, :frames]
        out[:, frames:] = 0.0
        return frames

    def seek(self, frame: int) -> None:
        pass

    def close(self) -> None:
        pass
