"""Audio backends behind one small interface: ``none``, ``jack``, ``sounddevice``.

A backend opens the device, calls :meth:`LiveEngine.process_block` once per
period from its audio thread, copies the result out, and counts xruns.
Each backend's module (``jack``, ``sounddevice``) is imported only when it
is chosen, so the others need not be installed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MixhostError, UserInputError

if TYPE_CHECKING:
    from .engine import LiveEngine

log = logging.getLogger(__name__)

DEFAULT_BLOCK = 256
RT_PRIORITY = 70   # below JACK's usual server priority (80), above everything else


class AudioDeviceError(MixhostError):
    """The audio server or device cannot be opened or used."""


class Backend:
    """The interface: open (-> sample rate, block size), start, stop, close, ``xruns``."""

    name = ""
    #: a real device that misses its deadline with audible dropouts (so worth keeping CPUs awake for)
    has_deadlines = False

    def __init__(self) -> None:
        self.xruns = 0
        self.engine: LiveEngine | None = None

    @property
    def late_renders(self) -> int:
        """Cycles a render thread had no block ready for (counted in ``xruns`` too)."""
        return 0

    def open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        self.engine = engine
        return self._open(engine, sample_rate, block_size)

    def _open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        raise NotImplementedError

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass

    def _fail(self, error: BaseException) -> None:
        """The engine raised inside the audio thread: keep it for the control thread."""
        if self.engine is not None and self.engine.error is None:
            self.engine.error = error


class NoneBackend(Backend):
    """No sound: a thread calls the engine once per period, paced by the monotonic clock.

    A block that finishes after its deadline counts as an xrun.  With
    ``realtime=False`` blocks run back to back (as fast as the machine goes).
    ``clock`` and ``wait`` (seconds -> None) replace the monotonic clock and
    the pause between blocks, so a test can drive the pacing with a clock of
    its own.
    """

    name = "none"

    def __init__(self, realtime: bool = True, clock: Callable[[], float] | None = None,
                 wait: Callable[[float], object] | None = None) -> None:
        super().__init__()
        self.realtime = realtime
        self._stop = threading.Event()
        self._clock = clock or time.perf_counter
        self._wait = wait or self._stop.wait
        self._thread: threading.Thread | None = None

    def _open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        self.sample_rate = sample_rate
        self.block_size = block_size or DEFAULT_BLOCK
        return sample_rate, self.block_size

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mixhost-audio", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        engine = self.engine
        assert engine is not None
        period = self.block_size / self.sample_rate
        clock = self._clock
        deadline = clock()  # the end of the last period: when this one is due
        while not self._stop.is_set():
            started = clock()
            try:
                engine.process_block(self.block_size)
            except BaseException as error:  # noqa: BLE001 - handed to the control thread
                self._fail(error)
                return
            finished = clock()
            late = max(started - deadline, 0.0) if self.realtime else 0.0  # back to back: no periods
            engine.record_callback(finished - started, started, late)
            if not self.realtime:
                continue
            deadline += period
            if finished > deadline:
                self.xruns += 1
                deadline = finished  # start a fresh schedule rather than bursting to catch up
            else:
                self._wait(deadline - finished)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


class JackBackend(Backend):
    """A JACK client with output ports ``out_L``/``out_R`` and one input port per live-input channel."""

    name = "jack"
    has_deadlines = True

    def __init__(self, client_name: str = "mixhost", connect: Sequence[str] | None = None,
                 auto_connect: bool = True, server: str | None = None) -> None:
        super().__init__()
        self.client_name = client_name
        self.connect_to = list(connect) if connect else []
        self.auto_connect = auto_connect
        self.server = server
        self.client: Any = None
        self._closing = False
        self._priority_tried = False
        self.raised_priority = False
        self._latency: Any = None   # the PortLatency JACK calls back

    def _open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        try:
            import jack
        except ImportError as error:
            raise AudioDeviceError("the JACK backend needs the JACK-Client package",
                                   hint="pip install 'mixhost[live]'") from error
        self._jack = jack
        try:
            self.client = jack.Client(self.client_name, no_start_server=True, servername=self.server)
        except jack.JackError as error:
            raise AudioDeviceError(f"cannot connect to a JACK server: {error}",
                                   hint="start one (e.g. `jackd -d dummy`) or use --audio none") from None
        client = self.client
        if block_size is not None and block_size != client.blocksize:
            log.info("JACK runs with %d-frame periods; using that instead of %d", client.blocksize, block_size)
        self.outputs = [client.outports.register("out_L"), client.outports.register("out_R")]
        self.inputs: list[tuple[Any, list[Any], list[str]]] = []
        self._ports_wanted = engine.input_ports()
        self._set_callbacks(client)
        self.max_block = int(client.blocksize)
        self.sample_rate = float(client.samplerate)
        return int(client.samplerate), self.max_block

    def _set_callbacks(self, client: Any) -> None:
        client.set_process_callback(self._process)
        client.set_xrun_callback(self._xrun)
        client.set_blocksize_callback(self._blocksize)

    def _register_inputs(self) -> None:
        engine = self.engine
        assert engine is not None
        for track, sources in self._ports_wanted.items():
            names = ["in"] if len(sources) == 1 else ["in_L", "in_R"]
            ports = [self.client.inports.register(f"{track}_{n}") for n in names]
            self.inputs.append((engine.inputs[track], ports, sources))

    def start(self) -> None:
        if not self.inputs:
            self._register_inputs()
        self._report_latency()
        self.client.activate()
        self._connect()

    def own_latency(self) -> int:
        """Frames from a live input to the output that carries it: the graph's latency
        (lookahead, plugins), plus the blocks rendered ahead."""
        engine = self.engine
        graph = engine.graph if engine is not None else None
        return int(graph.latency) if graph is not None else 0

    def _report_latency(self) -> None:
        """Tell JACK the latency of mixhost's ports, so a DAW can line up what it routes through."""
        if self._latency is not None:
            return   # installed at the first start; JACK keeps it across deactivate/activate
        from .libjack import PortLatency

        inputs, outputs = self._port_addresses()
        self._latency = PortLatency(_address(self._jack, self.client._ptr), inputs, outputs, self.own_latency())
        self._latency.install()

    def _port_addresses(self) -> tuple[list[int], list[int]]:
        """The ``jack_port_t *`` of each input channel, and of the two outputs."""
        jack = self._jack
        return ([_address(jack, p._ptr) for _, ports, _ in self.inputs for p in ports],
                [_address(jack, p._ptr) for p in self.outputs])

    def _connect(self) -> None:
        client = self.client
        targets = self.connect_to
        if not targets and self.auto_connect:
            targets = [p.name for p in client.get_ports(is_physical=True, is_input=True, is_audio=True)][:2]
        if len(targets) == 1:
            targets = targets * 2
        for port, target in zip(self.outputs, targets, strict=False):
            self._try_connect(port.name, target)
        for _, ports, sources in self.inputs:
            for port, source in zip(ports, sources, strict=False):
                self._try_connect(source, port.name)

    def _try_connect(self, source: str, destination: str) -> None:
        try:
            self.client.connect(source, destination)
        except self._jack.JackError as error:
            raise UserInputError(f"cannot connect {source} -> {destination}: {error}",
                                 hint="`jack_lsp` lists the ports of the running server") from None

    # -- the JACK process thread ---------------------------------------------------------------
    def _process(self, frames: int) -> None:
        engine = self.engine
        assert engine is not None
        started = time.perf_counter()
        late = 0.0
        try:
            # how long after its period began this callback got to run (wake-up, GIL)
            late = self.client.frames_since_cycle_start / self.sample_rate
            if not self._priority_tried:
                self._raise_priority()
            if self._closing or frames > self.max_block:
                for port in self.outputs:
                    port.get_array().fill(0.0)
                return
            if engine.follow_transport:
                client = self.client
                engine.external = (client.transport_state == self._jack.ROLLING, client.transport_frame)
            for source, ports, _ in self.inputs:
                for channel, port in enumerate(ports):
                    source.feed(channel, port.get_array())
            out = engine.process_block(frames)
            self.outputs[0].get_array()[:] = out[0]
            self.outputs[1].get_array()[:] = out[1]
        except Exception as error:  # noqa: BLE001 - never let an exception into JACK's thread
            self._fail(error)
            for port in self.outputs:
                port.get_array().fill(0.0)
        engine.record_callback(time.perf_counter() - started, started, late)

    def _raise_priority(self) -> None:
        """Once, from the process thread: real-time scheduling when the server did not give it.

        A server started with --no-realtime leaves its clients' threads at normal priority,
        where any busy process on the machine can preempt the callback.  Needs the right to
        (root or an rtprio limit); without it nothing changes.
        """
        self._priority_tried = True
        if self.client.realtime or not hasattr(os, "sched_setscheduler"):
            return
        with contextlib.suppress(OSError):
            priority = min(RT_PRIORITY, os.sched_get_priority_max(os.SCHED_FIFO))
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            self.raised_priority = True

    def _xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    def _blocksize(self, frames: int) -> None:
        if frames > self.max_block:
            self._fail(AudioDeviceError(
                f"JACK changed its period to {frames} frames; restart `mixhost live` to use it"))

    def stop(self) -> None:
        if self.client is not None and self.client.status is not None:
            # quiesce first: deactivating while a long Python callback waits for the GIL can hang
            self._closing = True
            time.sleep(4 * self.max_block / self.client.samplerate + 0.01)
            with contextlib.suppress(self._jack.JackError):
                self.client.deactivate()
            self._closing = False

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def transport(self) -> Any:
        return self.client


class JackAheadBackend(JackBackend):
    """JACK with a compiled process callback and blocks rendered ``ahead`` periods early.

    JACK's process thread never runs Python (see :mod:`host.live.block_ring`): a render
    thread keeps the output ring ``ahead`` blocks ahead of the cycle that plays it.  A
    render that falls behind costs a dropout, counted with the xruns; it never holds up
    the JACK graph.  Live input and control moves come out ``ahead`` periods later.
    """

    def __init__(self, ahead: int = 2, **options: Any) -> None:
        super().__init__(**options)
        if ahead < 1:
            raise UserInputError(f"--ahead {ahead}: render at least one period ahead (or leave --ahead out)")
        self.ahead = ahead
        self.ring: Any = None
        self._server_xruns = 0
        self._earlier_late = 0    # late renders in the rings of earlier starts
        self._running = False
        self._thread: threading.Thread | None = None

    @property
    def xruns(self) -> int:
        """The server's xruns and the cycles the render thread had no block ready for."""
        return self._server_xruns + self.late_renders

    @xruns.setter
    def xruns(self, value: int) -> None:
        self._server_xruns = value

    @property
    def late_renders(self) -> int:
        return self._earlier_late + (self.ring.underruns if self.ring is not None else 0)

    def _xrun(self, delay_usecs: float) -> None:
        self._server_xruns += 1

    def own_latency(self) -> int:
        return super().own_latency() + self.ahead * self.max_block

    def _set_callbacks(self, client: Any) -> None:
        client.set_xrun_callback(self._xrun)
        client.set_blocksize_callback(self._blocksize)

    def _open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        opened = super()._open(engine, sample_rate, block_size)
        # importing compiles the callback: here, before the engine freezes the collector's
        # generations and starts playing, not at the start
        from . import block_ring

        self._block_ring = block_ring
        return opened

    def start(self) -> None:
        block_ring = self._block_ring
        if not self.inputs:
            self._register_inputs()
        if self.ring is not None:    # started again after a stop: the old ring is out of use
            self._earlier_late += self.ring.underruns
            self.ring.free()
        inputs, outputs = self._port_addresses()
        self.ring = block_ring.BlockRing(self.max_block, len(inputs), self.ahead)
        self.ring.set_ports(outputs, inputs)
        self._silence = np.zeros(self.max_block, dtype=np.float32)
        self._render_due()                      # the first `ahead` blocks, before the first cycle
        self._report_latency()
        handle = _address(self._jack, self.client._ptr)
        if block_ring.set_process_callback(handle, self.ring) != 0:
            raise AudioDeviceError("JACK refused the process callback", hint="try without --ahead")
        self._running = True
        self._thread = threading.Thread(target=self._render_loop, name="mixhost-render", daemon=True)
        self._thread.start()
        self.client.activate()
        if not self.client.realtime:  # the server left its clients' threads at normal priority
            self.raised_priority = block_ring.make_realtime(block_ring.thread_id(handle), RT_PRIORITY)
        self._connect()

    # -- the render thread ---------------------------------------------------------------------
    def _render_loop(self) -> None:
        # Normal priority on purpose: the blocks ahead absorb its scheduling delays, and a
        # real-time render thread takes the CPU from a server that runs without real-time
        # priority (on the bench's dummy server that made the server's own cycles late).
        ring = self.ring
        try:
            while self._running:
                ring.wait(0.1)
                self._render_due()
        except BaseException as error:  # noqa: BLE001 - handed to the control thread, not lost with the thread
            self._fail(error)

    def _render_due(self) -> None:
        """Render until ``ahead`` blocks wait before the cycle that plays next."""
        ring = self.ring
        engine = self.engine
        assert engine is not None
        if ring.due() > ring.capacity - ring.ahead:   # so far behind that the input ring moved on
            ring.skip_to(ring.cycle)
        while ring.due() > 0:
            started = time.perf_counter()
            late = ring.since_cycle_s() if ring.cycle else 0.0
            ring.publish(self._render(ring.written))
            engine.record_callback(time.perf_counter() - started, started, late)

    def _render(self, number: int) -> np.ndarray:
        engine = self.engine
        assert engine is not None
        ring = self.ring
        try:
            if engine.follow_transport:  # the block is heard (number - cycle) periods from now
                client = self.client
                rolling = client.transport_state == self._jack.ROLLING
                ahead = max(number - ring.cycle, 0) * self.max_block if rolling else 0
                engine.external = (rolling, client.transport_frame + ahead)
            block_in = ring.input_block(number)
            channel = 0
            for source, ports, _ in self.inputs:
                for index in range(len(ports)):
                    source.feed(index, self._silence if block_in is None else block_in[channel])
                    channel += 1
            return engine.process_block(self.max_block)
        except Exception as error:  # noqa: BLE001 - handed to the control thread
            self._fail(error)
            return np.zeros((2, self.max_block))

    def stop(self) -> None:
        if self.client is None or self.client.status is None or self.ring is None:
            return
        self.ring.close()                     # the callback plays silence from now on
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(self._jack.JackError):
            self.client.deactivate()

    def close(self) -> None:
        super().close()
        if self.ring is not None:
            self.ring.free()


class SoundDeviceBackend(Backend):
    """PortAudio through ``sounddevice``: stereo out, live-input channels by number (``input: 1``)."""

    name = "sounddevice"
    has_deadlines = True

    def __init__(self, device: Any = None) -> None:
        super().__init__()
        self.device = device
        self.stream: Any = None

    def _open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as error:
            raise AudioDeviceError(f"the sounddevice backend is not available: {error}",
                                   hint="install PortAudio and `pip install sounddevice`") from error
        self.block_size = block_size or DEFAULT_BLOCK
        wanted = engine.input_ports()
        self.channel_map = [(track, [_channel_number(p) for p in ports]) for track, ports in wanted.items()]
        in_channels = max((c for _, chans in self.channel_map for c in chans), default=0)
        output = _device_index(sd, self.device, "output")
        device: Any = (_device_index(sd, self.device, "input"), output) if in_channels else output
        try:
            if in_channels:
                self.stream = sd.Stream(samplerate=sample_rate, blocksize=self.block_size, device=device,
                                        channels=(in_channels, 2), dtype="float32", callback=self._duplex)
            else:
                self.stream = sd.OutputStream(samplerate=sample_rate, blocksize=self.block_size,
                                              device=device, channels=2, dtype="float32",
                                              callback=self._output)
        except sd.PortAudioError as error:
            raise AudioDeviceError(f"cannot open the audio device: {error}") from None
        return int(self.stream.samplerate), self.block_size

    def start(self) -> None:
        self.stream.start()

    def _duplex(self, indata: np.ndarray, outdata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        engine = self.engine
        assert engine is not None
        for track, channels in self.channel_map:
            source = engine.inputs[track]
            for index, channel in enumerate(channels):
                source.feed(index, indata[:, channel - 1])
        self._output(outdata, frames, when, status)

    def _output(self, outdata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        engine = self.engine
        assert engine is not None
        started = time.perf_counter()
        if status.output_underflow or status.input_overflow:
            self.xruns += 1
        try:
            outdata[:] = engine.process_block(frames).T
        except Exception as error:  # noqa: BLE001 - never let an exception into PortAudio's thread
            self._fail(error)
            outdata.fill(0.0)
        engine.record_callback(time.perf_counter() - started, started)

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.stop()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


def _address(jack: Any, pointer: Any) -> int:
    """A JACK-Client cffi pointer (client, port) as an integer address."""
    return int(jack._ffi.cast("uintptr_t", pointer))


def _device_index(sd: Any, device: Any, kind: str) -> int | None:
    """The PortAudio device a user named, by number or by part of its name (None: the default)."""
    if device is None:
        return None
    wanted: int | str = int(device) if str(device).strip().isdigit() else str(device)
    try:
        return int(sd.query_devices(wanted, kind=kind)["index"])
    except (ValueError, sd.PortAudioError) as error:
        from ..suggest import did_you_mean

        names = [str(d["name"]) for d in sd.query_devices() if d[f"max_{kind}_channels"] > 0]
        raise UserInputError(f"no {kind} device {device!r} ({error}); {did_you_mean(str(device), names)}",
                             hint="give a device number or part of its name, as `python -m sounddevice` "
                                  "lists them") from None


def _channel_number(port: str) -> int:
    digits = "".join(ch for ch in str(port) if ch.isdigit())
    if not digits:
        raise UserInputError(f"input {port!r}: with the sounddevice backend give an input channel number")
    return int(digits)


BACKENDS = {"none": NoneBackend, "jack": JackBackend, "sounddevice": SoundDeviceBackend}


def make_backend(name: str, **options: Any) -> Backend:
    ahead = options.pop("ahead", None)
    if ahead:
        if name != "jack":
            raise UserInputError(f"rendering ahead is for the JACK backend, not {name!r}",
                                 hint="use --audio jack, or leave --ahead out")
        return JackAheadBackend(ahead=int(ahead), **options)
    try:
        cls = BACKENDS[name]
    except KeyError:
        from ..suggest import did_you_mean

        raise UserInputError(f"unknown audio backend {name!r}; {did_you_mean(name, BACKENDS)}") from None
    return cls(**options)
