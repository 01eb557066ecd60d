"""The live engine: the session's graph driven block by block by an audio backend.

:meth:`LiveEngine.process_block` is the audio callback's work.  At block
start it applies queued transport commands and parameter sets (see
:mod:`host.live.handoff`), then runs the same :class:`~host.engine.graph.Graph`
the offline render uses at the transport position, split where a loop wraps.
After the graph come the safety stages:

* a NaN/Inf guard: a track whose chain produces non-finite samples (or
  whose stage raises) is muted through the registry with source ``engine``,
  taken out of the graph until it is unmuted, and reported; a bus or master
  stage that does so is bypassed (its dry path keeps the mix going) and
  reported;
* output protection: a hard ceiling at 0 dBFS.

Panic is latched: from the block after :meth:`LiveEngine.panic` the output
is exact silence and the transport is stopped, and the audio thread leaves
the graph alone, until :meth:`LiveEngine.resume` (a control thread) has
cleared every tail and delay line and lifts the latch.

Controllers see and drive the transport through the ``transport/...``
registry parameters (:mod:`host.live.transport_params`): each block start
writes the transport's state there, and what observers have not heard yet
goes out through the registry's deferred path, so a control thread delivers
it with its source.  :meth:`LiveEngine.transport_command` is the one call a
control surface maps its buttons to.

Nothing here blocks, logs, or touches a file; buffers are allocated in
:meth:`LiveEngine.open`.  Per-callback times go into a preallocated array.
"""

from __future__ import annotations

import gc
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio_io import FileSource
from ..dsp.finite import is_finite
from ..errors import MixhostError, ParameterError, RenderError, UserInputError
from ..pm_qos import CpuLatencyRequest
from ..session import ENGINE_SOURCES, Session
from ..stages.native import NativeStage
from ..suggest import did_you_mean
from .handoff import ControlHandoff
from .lanes import LanePlayback
from .metering import LoudnessRing, MeterRing
from .streaming import PortInput, SourceClock, StreamingSource, StreamReader
from .transport import Transport
from .transport_params import TransportParams

if TYPE_CHECKING:
    from ..engine.graph import Graph, StripNode
    from .backends import Backend

CEILING = 1.0               # output protection: 0 dBFS
# While playing: how long the audio thread may wait for the GIL before it is handed over.  Under
# `jackd -R` on the loaded 2-CPU test VM, callbacks that had to wait for it waited up to 1.3-2.4 ms
# at 0.25 ms, and up to 0.4-0.7 ms at 0.1 ms with the disk reader realtime (host.live.scheduling).
GIL_SWITCH_S = 0.0001
GIL_HOLD_S = 0.005          # ... and, during its block, how long another thread waits before it may take the GIL
RING_SECONDS = 1.0          # disk read-ahead per track
PREFILL_SECONDS = 0.5       # what a locate waits for before the transport rolls on
FOLLOW_PREROLL_S = 0.2      # after a JACK locate while rolling: the sources restart this far ahead
TOUCH_HOLD_S = 0.5          # touch mode, no explicit touch: a control counts as released after this long still
RECORD_MODES = ("write", "latch", "touch")
TRANSPORT_COMMANDS = ("play", "stop", "play_stop", "locate", "loop", "unloop", "loop_toggle", "panic", "resume")

Tap = Callable[[np.ndarray, int, bool], None]


@dataclass(frozen=True)
class GuardEvent:
    """Something the safety stages did, for the status line."""

    kind: str          # "nan" | "stage-failed" | "panic"
    address: str
    position: int
    number: int = 0    # a running count: a reader can tell which events it has not seen


def missed_cycles(cycles: np.ndarray, frames: int) -> int:
    """How many JACK cycles passed without a callback, from consecutive callbacks' frame
    counters (-1: unknown).  A callback still running when its next cycle is due makes
    JACK skip that cycle for the client: the next callback sees the counter move on by
    more than one period."""
    known = cycles[cycles >= 0]
    steps = np.diff(known) // frames
    return int(np.maximum(steps - 1, 0).sum())


@dataclass(frozen=True)
class CallbackTiming:
    """Audio callbacks as the backend timed them, oldest first (seconds)."""

    durations: np.ndarray
    starts: np.ndarray    # time.perf_counter at entry (NaN where the backend did not say)
    late: np.ndarray      # from the start of its cycle to its entry: what it waited for (wake-up, GIL)
    cycles: np.ndarray    # JACK's frame counter of that cycle (-1 where the backend did not say)
    cpu: np.ndarray       # the CPU time its thread spent in it (NaN where the backend did not say)

    def waited(self) -> np.ndarray:
        """How long each callback was off the CPU while it ran: waiting (for the GIL, for a
        lock) or kept off it (a higher priority, a machine stall); NaN where not measured."""
        return self.durations - self.cpu

    def deadline_use(self, period_s: float) -> np.ndarray:
        """How far into its period each callback ended, as a share of the period: the
        headroom a period really had (lateness, such as a late wake-up, included)."""
        return (self.late + self.durations) / period_s

    def missed_cycles(self, frames: int) -> int:
        """Cycles JACK ran without one of these callbacks (see :func:`missed_cycles`)."""
        return missed_cycles(self.cycles, frames)

    def overruns(self, period_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Which callbacks were still running when the next period began, and how long
        their own period lasted.  A server that wakes late catches up with a short
        period; a callback can overrun that without ever taking a full period."""
        began = self.starts - self.late          # when each period began
        length = np.diff(began)                  # until the next one began
        overran = self.starts[:-1] + self.durations[:-1] > began[1:]
        return overran, length


class LiveEngine:
    """Plays a session in real time through a backend (``none``, ``jack``, ``sounddevice``)."""

    def __init__(self, session: Session, block_size: int | None = None, backend: str | Backend = "none", *,
                 follow_transport: bool = False, record: str | None = None,
                 history: int = 1 << 16, keep_cpu_awake: bool | None = None, **backend_options: Any) -> None:
        if record is not None and record not in RECORD_MODES:
            raise UserInputError(f"unknown automation mode {record!r}; use write, latch or touch")
        self.session = session
        self.requested_block = block_size
        self.follow_transport = follow_transport
        self.record_mode = record
        if isinstance(backend, str):
            from .backends import make_backend

            backend = make_backend(backend, **backend_options)
        self.backend = backend
        # held while playing to a real device (None: whenever the backend has deadlines); see pm_qos
        awake = backend.has_deadlines if keep_cpu_awake is None else keep_cpu_awake
        self.cpu_request = CpuLatencyRequest(0) if awake else None
        self.transport = Transport(session.sample_rate)
        self.handoff = ControlHandoff(session.registry)
        self.handoff.keep_carried = record is not None
        self.transport_params = TransportParams(session.registry, self.transport, following=follow_transport)
        self.handoff.divert(self.transport_params.slots, self.transport_params.write)
        self.clock = SourceClock()
        self.events: deque[GuardEvent] = deque(maxlen=64)   # the latest; ``event_count`` counts all
        self.event_count = 0
        self.callback_times = np.zeros(history)   # each callback's duration (s)
        self.callback_starts = np.zeros(history)  # ... when it began (time.perf_counter)
        self.callback_late = np.zeros(history)    # ... and how long after its period began
        self.callback_cycles = np.full(history, -1, dtype=np.int64)   # ... JACK's frame counter then
        self.callback_cpu = np.full(history, np.nan)  # ... and the CPU time its thread spent on it
        self.callback_count = 0
        self.error: BaseException | None = None
        self.external: tuple[bool, int] = (False, 0)   # (rolling, frame) from JACK transport
        self.taps: list[Tap] = []
        self.midi_inlets: list[Any] = []   # MIDI read at block start (host.live.midi_inlet)
        self._panic = False       # requested (any thread)
        self.panicked = False     # latched: silent, transport stopped, graph untouched
        self._realtime = False
        self._opened = False
        self.graph: Graph | None = None
        self.reader_scheduling = "normal priority"   # what the disk reader runs at, in words

    # -- life cycle (control thread) ---------------------------------------------------
    def open(self) -> None:
        """Open the backend, build and prepare the graph, start disk streaming."""
        if self._opened:
            return
        sample_rate, block_size = self.backend.open(self, self.session.sample_rate, self.requested_block)
        try:
            if sample_rate != self.session.sample_rate:
                raise UserInputError(
                    f"the audio device runs at {sample_rate} Hz but the session is {self.session.sample_rate} Hz",
                    hint="set `session: sample_rate:` to the device rate, or restart the device at the session rate",
                )
            self.block_size = block_size
            self.period_s = block_size / sample_rate
            self.transport.min_loop = block_size
            self._build_graph(block_size)
            self.handoff.install()
        except BaseException:
            self._abandon()
            raise
        self._opened = True

    def _abandon(self) -> None:
        """A failed open: stop what was started (the reader thread, open files, the device)."""
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.stop()
        for source in getattr(self, "sources", []):
            source.close()
        self.backend.close()

    def _build_graph(self, block_size: int) -> None:
        from ..engine.graph import Graph

        graph = Graph(self.session, block_size=block_size)
        self.inputs: dict[str, PortInput] = {}
        ports = self.input_ports()
        for node in graph.tracks:
            if node.name in ports:
                node.in_channels = len(ports[node.name])
        graph.prepare()
        graph.reset()
        rate = graph.sample_rate
        self.sources: list[StreamingSource] = []
        for node in graph.tracks:
            if node.name in ports:
                if node.source is not None:
                    node.source.close()
                live_input = self.inputs.setdefault(node.name, PortInput(node.in_channels, block_size))
                node.source = live_input
            elif isinstance(node.source, FileSource):  # instrument tracks render in place
                stream = StreamingSource(node.source, self.clock, int(RING_SECONDS * rate))
                node.source = stream
                self.sources.append(stream)
        self.reader = StreamReader(self.sources, int(PREFILL_SECONDS * rate), on_failure=self._stream_failed)
        self.reader.start()
        if not self.reader.wait_ready():
            raise self.reader.failure or MixhostError("disk streaming could not read the sources in time")
        self.graph = graph
        self.length = graph.length
        self._warm_up(graph, block_size)
        self._out = np.zeros((2, block_size))
        # post-fader meters of every strip (mixer order) and the master, for any number of readers
        self._metered = [*graph.tracks, *graph.buses]
        for node in self._metered:
            node.keep_post = True
        self.meters = MeterRing([*(n.address for n in self._metered), "master"],
                                loudness=LoudnessRing(rate, block_size))
        self._peaks_seen = 0
        self._segments: list[tuple[int, int]] = []
        self._lanes = LanePlayback(graph)
        self._guarded: dict[str, StripNode] = {}
        self._bypassed: dict[str, Any] = {}     # bus/master stage address -> its bypass parameter
        self._mix_reported = False              # NaN with no culprit to take out: reported once
        self._touch_last: dict[int, int] = {}
        self._held: set[int] = set()            # explicitly touched (LiveEngine.touch), not yet released
        self._expected = 0

    def _stream_failed(self, error: MixhostError) -> None:
        """The reader thread ended on an error (reader thread): kept as the engine's error, which
        ends a run, and the transport stops at the next block (the sources could only play
        silence from now on)."""
        if self.error is None:
            self.error = error
        self.transport.stop(source="engine")

    @staticmethod
    def _warm_up(graph: Graph, block_size: int) -> None:
        """Run a few silent blocks and forget them: lazy imports and first-call costs happen now,
        not in the audio callback.

        A compiled kernel is compiled again for each new argument layout, which can take
        seconds: so the blocks cover what the callback will meet later, gliding parameters
        (sub-block slices) and a short block (a loop wrap's part of a period).
        """
        graph.process(0, block_size)
        for frames in (block_size, max(1, block_size - 1)):
            for stage in graph.stages():
                if isinstance(stage, NativeStage):
                    stage.unsettle()
            graph.process(0, frames)
        graph.reset()

    def midi_inlet(self, name: str, source: str = "midi") -> Any:
        """A MIDI input port ``name`` on the engine's own audio client, read at each block start,
        so the controls routed through it land in the block of the cycle that delivers them
        (:class:`host.live.midi_inlet.MidiInlet`; ``source`` is who the recorder says moved
        them).  None where the backend has no such port (``none``, ``sounddevice``,
        ``--ahead``): a surface reads its own port then.  After :meth:`open`."""
        if not self._opened:
            raise MixhostError("open the engine before asking for its MIDI input")
        inlet = self.backend.midi_inlet(name)
        if inlet is not None:
            inlet.source = source
            self.midi_inlets = [*self.midi_inlets, inlet]
        return inlet

    def input_ports(self) -> dict[str, list[str]]:
        """Track name -> the port names its `input:` asks for (one per channel)."""
        found = {}
        for track in self.session.plan.tracks:
            spec = track.settings.get("input")
            if spec:
                names = [str(p) for p in spec] if isinstance(spec, list) else [str(spec)]
                if len(names) > 2:
                    raise track.where.error("a live input takes one or two ports", at=("input",))
                found[track.name] = names
        return found

    def start(self, play: bool = True) -> None:
        """Start audio; with ``play`` the transport rolls from its position."""
        self.open()
        # A full collection walks every object numpy, scipy and numba created (~50 ms here):
        # once inside a callback it is an xrun.  Freezing what exists now keeps the collector
        # to the few objects made while playing.
        gc.collect()
        gc.freeze()
        self._realtime = True
        # The audio thread waits for the GIL while another thread of ours (control, disk reader,
        # observers) runs Python; after the switch interval, 5 ms by default, the holder is made
        # to let go.  At 128 frames a period is 2.7 ms: ask sooner (and see process_block).
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_S)
        if self.cpu_request is not None:
            self.cpu_request.hold()
        self._schedule_reader()
        if play and not self.follow_transport:
            self.transport.play()
        self.backend.start()

    def _schedule_reader(self) -> None:
        """Under a realtime JACK server the disk reader runs SCHED_FIFO just below JACK's
        thread: it takes the GIL the callback needs, and must not be kept from giving it back
        by an ordinary busy process (see :mod:`host.live.scheduling`)."""
        from .scheduling import make_realtime

        reader = self.reader.native_id
        if reader is not None:
            self.reader_scheduling = make_realtime(reader, self.backend.helper_priority())

    def schedule_helper(self, native_id: int) -> str:
        """A surface's thread that takes the GIL while the audio plays (a web server's loop):
        while JACK's thread runs realtime (a realtime server, or raised by mixhost), SCHED_FIFO
        one step under the disk reader, so no busy process (a browser on the same machine)
        preempts it while the callback waits for the GIL it holds; otherwise normal priority.
        Says what it runs at (engine opened first)."""
        from .scheduling import make_realtime

        priority = self.backend.helper_priority()
        return make_realtime(native_id, None if priority is None else max(1, priority - 1), children_normal=True)

    def stop(self) -> None:
        """Stop audio (the transport state is kept)."""
        if self._opened:
            self.backend.stop()
        if self.cpu_request is not None:
            self.cpu_request.release()

    def close(self) -> None:
        if not self._opened:
            return
        self.stop()
        self.backend.close()
        self.reader.stop()
        self.handoff.uninstall()
        if self._realtime:
            gc.unfreeze()
            self._realtime = False
            sys.setswitchinterval(self._switch_interval)
        for source in self.sources:
            source.close()
        if self.graph is not None:
            self.graph.close()
        self._opened = False

    def __enter__(self) -> LiveEngine:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def panic(self) -> None:
        """Stop the transport and silence everything from the next block until :meth:`resume` (any thread)."""
        self._panic = True

    def resume(self, timeout_s: float = 2.0) -> bool:
        """Lift a panic (control thread): clear every tail and delay line, then un-silence.

        The reset runs here, not in the audio thread: while latched the audio thread
        does not touch the graph.  The transport stays stopped.  False if the audio
        thread has not latched yet (nothing is changed then).
        """
        deadline = time.monotonic() + timeout_s
        while self._panic and not self.panicked:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        if not self.panicked:
            return True
        assert self.graph is not None
        self.graph.reset(self.transport.position)
        self._panic = False
        self.panicked = False
        return True

    def locate_and_wait(self, frame: int, timeout_s: float = 10.0) -> bool:
        """Locate, then wait (control thread, audio running) until the sources have refilled."""
        generation = self.transport.generation
        self.transport.locate(frame)
        deadline = time.monotonic() + timeout_s
        while self.transport.generation == generation or not all(s.ready for s in self.sources):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    # -- the audio thread --------------------------------------------------------------------
    def process_block(self, frames: int) -> np.ndarray:
        """One block of output (2, frames): commands, controls, graph, guard, ceiling."""
        if not self._realtime:  # not playing (a test, a warm-up): Python's switching as it was
            return self._process_block(frames)
        # CPython hands the GIL over when a waiting thread has waited the switch interval.
        # While this block runs, a control or reader thread that wants the GIL waits for the
        # block's end (a long interval); between blocks the short one holds, so the next
        # block waits at most that long for whoever has the GIL then.
        sys.setswitchinterval(GIL_HOLD_S)
        try:
            return self._process_block(frames)
        finally:
            sys.setswitchinterval(GIL_SWITCH_S)

    def _process_block(self, frames: int) -> np.ndarray:
        graph = self.graph
        assert graph is not None
        frames = min(frames, self.block_size)
        out = self._out[:, :frames]
        if self._panic:
            return self._silence(out)
        transport = self.transport
        jumped = transport.apply_pending(self.transport_params.applied)
        if self.follow_transport:
            jumped |= self._follow()
        self.transport_params.publish(jumped, self.backend.xruns)
        if jumped:
            self._relocate_sources()
        ready = self.follow_transport or all(s.ready for s in self.sources)
        rolling = transport.rolling and ready
        self._plan_segments(frames, rolling)
        recording = self.record_mode is not None
        self.handoff.apply(self._segments[0][0], rolling, self._carried if recording else None,
                           self._touched if recording else None)
        if self.midi_inlets:   # after the queue: a control moved in this cycle wins over an older set
            self._take_midi(frames, self._segments[0][0], rolling, self._carried if recording else None)
        if self.record_mode == "touch" and self._touch_last:
            self._release_touches(self._segments[0][0])
        self._restore_unmuted()
        self._run_segments(graph, out)
        if not is_finite(out):
            self._guard(graph, out)
        # the output protection: a hard ceiling (two ufuncs cost less than np.clip's wrapping)
        np.minimum(out, CEILING, out=out)
        np.maximum(out, -CEILING, out=out)
        self._meter(out)
        for tap in self.taps:
            tap(out, self._segments[0][0], rolling)
        return out

    def record_callback(self, seconds: float, started: float = math.nan, late: float = 0.0,
                        cycle: int = -1, cpu: float = math.nan) -> None:
        """Backends report each callback (audio thread): its duration, when it began
        (``time.perf_counter``), how long after the start of the cycle running then, as far
        as the backend can tell (JACK tells; 0 where it cannot), JACK's frame counter
        for that cycle (-1 where there is none), and the CPU time the thread spent on it
        (``time.thread_time``; NaN where not measured)."""
        index = self.callback_count % len(self.callback_times)
        self.callback_times[index] = seconds
        self.callback_starts[index] = started
        self.callback_late[index] = late
        self.callback_cycles[index] = cycle
        self.callback_cpu[index] = cpu
        self.callback_count += 1

    def _event(self, kind: str, address: str, position: int) -> None:
        self.events.append(GuardEvent(kind, address, position, self.event_count))
        self.event_count += 1

    def _plan_segments(self, frames: int, rolling: bool) -> None:
        """The (position, frames) runs of this block; tells the recorder where passes start and stop."""
        transport = self.transport
        segments = self._segments
        was_rolling = self.clock.rolling
        if rolling:
            transport.segments(frames, segments)
            if not was_rolling or segments[0][0] != self._expected:
                self.handoff.mark("pass", segments[0][0], previous_end=self._expected if was_rolling else -1)
            last_position, last_count = segments[-1]
            self._expected = last_position + last_count  # unwrapped: a wrap at the block end is a new pass
        else:
            segments.clear()
            segments.append((transport.position, frames))
            if was_rolling:
                self.handoff.mark("stop", transport.position)
        self.clock.rolling = rolling

    def _run_segments(self, graph: Graph, out: np.ndarray) -> None:
        offset = 0
        for index, (position, count) in enumerate(self._segments):
            if index:  # a loop wrap inside this block starts a new pass
                previous = self._segments[index - 1]
                self.handoff.mark("pass", position, previous_end=previous[0] + previous[1])
            self.clock.position = position
            try:
                block = graph.process(position, count)
                out[:, offset:offset + count] = block
            except RenderError as error:
                out[:, offset:offset + count] = 0.0
                self._stage_failed(graph, error, position)
            offset += count

    def _silence(self, out: np.ndarray) -> np.ndarray:
        """A panicked block: silence, the transport held stopped, the graph left alone."""
        transport = self.transport
        transport.drop_pending(self.transport_params.dropped)  # while panicked, commands are dropped
        if not self.panicked:
            transport.rolling = False
            self.clock.rolling = False
            self._event("panic", "", transport.position)
            self.handoff.mark("stop", transport.position)
            self.panicked = True  # from now on resume() may reset the graph from its own thread
        self.transport_params.publish(False, self.backend.xruns)
        if self.midi_inlets:   # values still land (the graph takes them after resume); the surface hears all
            self._take_midi(out.shape[1], transport.position, False, None)
        out.fill(0.0)
        self._meter(out, ran=False)
        return out

    def _take_midi(self, frames: int, position: int, rolling: bool, hook: Any) -> None:
        """The MIDI inlets' events of this cycle: routed controls into the registry's values."""
        values = self.session.registry.values
        for inlet in self.midi_inlets:
            moved = inlet.take(frames, values)
            if hook is not None or self.handoff.keep_carried:
                for slot in moved:
                    self.handoff.carry(inlet.param(int(slot)), float(values[slot]), inlet.source, position,
                                       rolling, hook)

    def _relocate_sources(self) -> None:
        transport = self.transport
        position = transport.position
        if self.follow_transport and transport.rolling:
            position += int(FOLLOW_PREROLL_S * transport.sample_rate)
        self.clock.generation = transport.generation
        self.clock.loop = transport.loop
        self.clock.position = transport.position
        for source in self.sources:
            source.request(transport.generation, position, transport.loop)

    def _follow(self) -> bool:
        rolling, frame = self.external
        transport = self.transport
        if frame != transport.position:
            return transport.force(frame, rolling)
        transport.rolling = rolling
        return False

    def _meter(self, out: np.ndarray, ran: bool = True) -> None:
        frames = out.shape[1]
        meters = self.meters
        active = self.graph.active if self.graph is not None else ()
        for index, node in enumerate(self._metered):
            # a track taken out (or a panic) did not run: its post-fader buffer is stale
            running = ran and (node.plan.kind != "track" or node in active)
            meters.write(index, node.post_fader(frames) if running else None, frames)
        meters.write_master(out, frames)
        meters.commit(frames)

    # -- safety ------------------------------------------------------------------------------------
    def _guard(self, graph: Graph, out: np.ndarray) -> None:
        """Mute and take out every track whose chain produced NaN/Inf, bypass a bus or master
        stage that did; clear the mix state.  Reports each culprit once."""
        position = self.transport.position
        found = False
        for node in list(graph.active):
            chain_out = node.chain_out
            if chain_out is not None and not np.isfinite(chain_out).all():
                self._take_out(graph, node, "nan", position)
                found = True
        if not found:
            found = self._bypass_non_finite(graph, position)
        if not found and not self._mix_reported:
            self._mix_reported = True   # nothing to take out: reported once, silenced each time
            self._event("nan", "mix", position)
        for node in [*graph.buses, graph.master]:
            node.reset()  # their filters and tails may hold the NaN now
        out.fill(0.0)

    def _bypass_non_finite(self, graph: Graph, position: int) -> bool:
        """The first bus or master stage whose last output is non-finite: bypass it."""
        for node in [*graph.buses, graph.master]:
            for slot in node.chain.slots:
                last = slot.last_out
                if last is None or np.isfinite(last).all():
                    continue
                if slot.address not in self._bypassed:  # a second NaN block while the bypass fades in
                    self.session.registry.set_deferred(slot.built.bypass, 1.0, source="engine")
                    self._bypassed[slot.address] = slot.built.bypass
                    self._event("nan", slot.address, position)
                return True
        return False

    def _stage_failed(self, graph: Graph, error: RenderError, position: int) -> None:
        address = str(error.message).split(": ", 1)[0]
        for node in graph.active:
            if address.startswith(node.address + "/"):
                self._take_out(graph, node, "stage-failed", position)
                return
        # a bus or master stage: bypass it (its dry path keeps the mix going)
        for built in (b for stages in self.session.stages.values() for b in stages):
            if built.plan.address == address:
                self.session.registry.set_deferred(built.bypass, 1.0, source="engine")
        self._event("stage-failed", address, position)

    def _take_out(self, graph: Graph, node: StripNode, kind: str, position: int) -> None:
        registry = self.session.registry
        mute = registry.param(f"{node.address}/mute")
        registry.set_deferred(mute, 1.0, source="engine")
        graph.active.remove(node)
        node.reset()
        self._guarded[node.name] = node
        self._event(kind, node.address, position)

    def _restore_unmuted(self) -> None:
        values = self.session.registry.values
        if self._bypassed:  # a guarded stage switched back on: it may be reported again
            for address, param in list(self._bypassed.items()):
                if values[param.slot] < 0.5:
                    del self._bypassed[address]
        if not self._guarded:
            return
        graph = self.graph
        assert graph is not None
        for name, node in list(self._guarded.items()):
            if node.mute is not None and values[node.mute.param.slot] < 0.5:
                node.reset()
                del self._guarded[name]
                graph.active = [t for t in graph.tracks if t in graph.active or t is node]

    # -- automation recording (audio thread side) -------------------------------------------------------
    def _carried(self, param: Any, position: int) -> None:
        """A recorded control moved: its lane stops playing so the move is what is heard."""
        slot = param.slot
        self._lanes.suspend(slot)
        if self.record_mode == "touch" and slot not in self._held:  # no touch sent: guess the release
            self._touch_last[slot] = position

    def _touched(self, param: Any, touched: bool, position: int) -> None:
        """An explicit touch or release: latch and touch record from the touch; touch returns at release."""
        mode, slot = self.record_mode, param.slot
        if mode == "write":
            return  # write mode writes from the first move, touched or not
        if touched:
            self._held.add(slot)
            self._touch_last.pop(slot, None)   # held: no release is guessed
            self._lanes.suspend(slot)          # the control holds its value under the hand
            self.handoff.mark("touch", position, slot, value=float(self.session.registry.values[slot]))
        elif slot in self._held:
            self._held.discard(slot)
            if mode == "touch":
                self._lanes.resume(slot)       # the lane takes over again from this block
                self.handoff.mark("release", position, slot)

    def _release_touches(self, position: int) -> None:
        hold = int(TOUCH_HOLD_S * self.transport.sample_rate)
        for slot, last in list(self._touch_last.items()):
            if position - last >= hold or position < last:
                del self._touch_last[slot]
                self._lanes.resume(slot)
                self.handoff.mark("release", position, slot)

    # -- for controllers (control threads) ---------------------------------------------------------
    def touch(self, address: str, touched: bool, source: str = "api") -> None:
        """A control surface reports a control taken hold of (``touched``) or let go (any thread).

        While recording in ``touch`` mode, recording of the control starts at the
        touch and its earlier lane takes over again at the release; in ``latch``
        mode recording starts at the touch and runs on to the end of the pass.
        Both land at a block start, in order with the sets queued before them.
        A control nobody touched falls back to a release guessed after
        ``TOUCH_HOLD_S`` without a move.  Touches from ``automation`` or
        ``engine`` are no hand on a control and are ignored.
        """
        param = self.session.registry.param(address)
        if param.slot in self.transport_params.slots:
            raise ParameterError(f"{address}: transport parameters are not recorded; touch a mix control")
        if self.record_mode is None or source in ENGINE_SOURCES:
            return
        self.handoff.touch(param, bool(touched), source)

    def transport_command(self, command: str, value: float | None = None, *, source: str = "api") -> None:
        """A controller's transport button (any thread, once open): lands at the next block start.

        ``play``, ``stop``, ``play_stop`` (toggle), ``locate`` (``value``: seconds),
        ``loop`` / ``unloop`` / ``loop_toggle`` (over ``transport/loop_start_s`` ..
        ``loop_end_s``), ``panic``, ``resume``.  All but panic and resume are sets of
        the ``transport/...`` parameters with ``source``, so observers hear them, and
        an observer with ``skip_source=source`` does not.
        """
        if command not in TRANSPORT_COMMANDS:
            raise UserInputError(f"unknown transport command {command!r}; {did_you_mean(command, TRANSPORT_COMMANDS)}")
        if command == "locate" and value is None:
            raise UserInputError("transport command locate needs a position in seconds")
        self._transport_command(command, value, source)

    def _transport_command(self, command: str, value: float | None, source: str) -> None:
        if command == "panic":
            self.panic()
            return
        if command == "resume":
            self.resume()
            return
        registry = self.session.registry
        values = registry.values
        params = self.transport_params.params
        if command == "locate":
            registry.set("transport/position_s", float(value or 0.0), source)
        elif command in ("play", "stop", "play_stop"):
            on = command == "play" or (command == "play_stop" and bool(values[params["play"].slot] < 0.5))
            registry.set("transport/play", on, source)
        else:
            on = command == "loop" or (command == "loop_toggle" and bool(values[params["loop"].slot] < 0.5))
            registry.set("transport/loop", on, source)

    def transport_state(self) -> dict[str, Any]:
        """What a control surface shows: position, rolling, loop, and the engine's health."""
        transport = self.transport
        rate = transport.sample_rate
        loop = transport.loop
        return {
            "position": transport.position,
            "seconds": transport.position / rate,
            "rolling": self.clock.rolling,
            "loop_s": None if loop is None else (loop[0] / rate, loop[1] / rate),
            "following": self.follow_transport,
            "xruns": self.xruns,
            "underruns": self.underruns,
        }

    # -- statistics (control thread) ----------------------------------------------------------------------
    def callback_load(self, since: int = 0) -> np.ndarray:
        """The duration of each callback from number ``since`` on (as far as the history
        reaches), oldest first, as a share of the period."""
        return self.callback_timing(since).durations / self.period_s

    def callback_timing(self, since: int = 0) -> CallbackTiming:
        """Each callback's duration, start and lateness from number ``since`` on (as far
        as the history reaches), oldest first."""
        count = self.callback_count   # one read: the audio thread keeps counting
        size = len(self.callback_times)
        first = max(since, count - size, 0)
        rings = (self.callback_times, self.callback_starts, self.callback_late, self.callback_cycles,
                 self.callback_cpu)
        if first >= count:
            return CallbackTiming(*(np.zeros(0) for _ in rings))
        start, stop = first % size, count % size or size
        if start < stop:
            return CallbackTiming(*(ring[start:stop].copy() for ring in rings))
        # the window wraps round the ring
        return CallbackTiming(*(np.concatenate([ring[start:], ring[:stop]]) for ring in rings))

    def recent_load(self, seconds: float = 1.0) -> float:
        """Mean callback duration over the last ``seconds`` of callbacks, as a share of the period."""
        callbacks = max(1, int(seconds / self.period_s))
        loads = self.callback_load(self.callback_count - callbacks)
        return float(loads.mean()) if len(loads) else 0.0

    def take_peaks(self) -> np.ndarray:
        """The master's peaks since the previous call (this caller's own place in the meter
        ring: other readers, :class:`host.control.meters.MeterReader`, are not affected)."""
        peak, _, _, self._peaks_seen = self.meters.since(self._peaks_seen)
        return peak[-1].copy()

    @property
    def xruns(self) -> int:
        return self.backend.xruns

    @property
    def underruns(self) -> int:
        return sum(s.underruns for s in self.sources)
