"""``jack``: a JACK client whose process callback runs the engine in JACK's thread."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import AudioDeviceError, UserInputError
from ..libjack import address, client_real_time_priority
from .base import RT_PRIORITY, Backend

if TYPE_CHECKING:
    from ..engine import LiveEngine

log = logging.getLogger(__name__)


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
        self.process_thread: int | None = None   # the native id of JACK's thread, once it called back
        self._latency: Any = None   # the PortLatency JACK calls back
        self.midi_inlets: list[Any] = []   # MidiInlet: MIDI the engine reads itself (see host.live.midi_inlet)
        self._gate: Any = None      # MidiGate: the client beside this one that keeps the MIDI of missed cycles

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
        from ..libjack import PortBuffer

        self._out_buffers = [PortBuffer(address(p._ptr)) for p in self.outputs]
        self._in_buffers: list[list[Any]] = []
        self._ports_wanted = engine.input_ports()
        self._set_callbacks(client)
        self.max_block = int(client.blocksize)
        self.sample_rate = float(client.samplerate)
        from ..libjack import CycleTimes

        self._cycle_times = CycleTimes(address(client._ptr), self.sample_rate)
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
        from ..libjack import PortBuffer

        self._in_buffers = [[PortBuffer(address(p._ptr)) for p in ports] for _, ports, _ in self.inputs]

    def midi_inlet(self, name: str) -> Any:
        """A MIDI input port ``name`` on this client, read at each block start, with an input on
        the gate client ``<client>-midi`` that keeps what a missed cycle brought (see
        :mod:`host.live.midi_inlet` and :mod:`host.live.midi_gate`)."""
        from ..midi_gate import MidiGate
        from ..midi_inlet import MidiInlet

        if self._gate is None:
            self._gate = MidiGate(self._jack, f"{self.client.name}-midi", self.server)
        port = self.client.midi_inports.register(name)
        inlet = MidiInlet(self.client, port, self._gate)
        self.midi_inlets = [*self.midi_inlets, inlet]
        return inlet

    def start(self) -> None:
        if not self.inputs:
            self._register_inputs()
        self._report_latency()
        self.client.activate()
        self._connect()
        for inlet in self.midi_inlets:   # a connection waits for an active client
            inlet.reconnect()

    def helper_priority(self) -> int | None:
        """A few steps under the client's process thread when that runs realtime: under a
        realtime server, or raised by mixhost under one without (see :meth:`_raise_priority`;
        a helper left at normal priority would hold the GIL the raised callback waits for,
        while any busy process preempts it)."""
        from ..scheduling import below, may_raise

        priority = self._server_priority()
        if self.client is not None and priority <= 0 and may_raise(RT_PRIORITY):
            priority = RT_PRIORITY
        return below(priority)

    def _server_priority(self) -> int:
        """The realtime priority the server gave the client's process thread (0 or less: none)."""
        if self.client is None:
            return 0
        return int(client_real_time_priority(ctypes.c_void_p(address(self.client._ptr))))

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
        from ..libjack import PortLatency

        inputs, outputs = self._port_addresses()
        self._latency = PortLatency(address(self.client._ptr), inputs, outputs, self.own_latency())
        self._latency.install()

    def _port_addresses(self) -> tuple[list[int], list[int]]:
        """The ``jack_port_t *`` of each input channel, and of the two outputs."""
        return ([address(p._ptr) for _, ports, _ in self.inputs for p in ports],
                [address(p._ptr) for p in self.outputs])

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
        cpu = time.thread_time()   # against the duration: how long the callback was kept waiting
        late, cycle = 0.0, -1
        try:
            # how long after its cycle began this callback got to run (wake-up, GIL), and which
            # cycle was running then
            cycle, late = self._cycle_times.read()
            if not self._priority_tried:
                self._raise_priority()
            outputs = [buffer.array(frames) for buffer in self._out_buffers]   # the GIL kept (PortBuffer)
            if self._closing or frames > self.max_block:
                for array in outputs:
                    array.fill(0.0)
                return
            if engine.follow_transport:
                client = self.client
                engine.external = (client.transport_state == self._jack.ROLLING, client.transport_frame)
            for (source, _, _), buffers in zip(self.inputs, self._in_buffers, strict=True):
                for channel, buffer in enumerate(buffers):
                    source.feed(channel, buffer.array(frames))
            out = engine.process_block(frames)
            outputs[0][:] = out[0]
            outputs[1][:] = out[1]
        except Exception as error:  # noqa: BLE001 - never let an exception into JACK's thread
            self._fail(error)
            for port in self.outputs:
                port.get_array().fill(0.0)
        engine.record_callback(time.perf_counter() - started, started, late, cycle, time.thread_time() - cpu)

    def _raise_priority(self) -> None:
        """Once, from the process thread: real-time scheduling when the server did not give it.

        A server started with --no-realtime leaves its clients' threads at normal priority,
        where any busy process on the machine can preempt the callback.  Needs the right to
        (root or an rtprio limit); without it nothing changes.
        """
        self._priority_tried = True
        self.process_thread = threading.get_native_id()
        if self.client.realtime or not hasattr(os, "sched_setscheduler"):
            return
        with contextlib.suppress(OSError):
            priority = min(RT_PRIORITY, os.sched_get_priority_max(os.SCHED_FIFO))
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            self.raised_priority = True

    def _xrun(self, delay_usecs: float) -> None:
        self._note_xrun()   # in JACK's notification thread, when the server tells

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
        if self._gate is not None:
            self._gate.close()
            self._gate = None

    def transport(self) -> Any:
        return self.client

