"""``jack`` with ``ahead``: JACK's thread runs compiled code; a Python thread renders blocks early."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import AudioDeviceError, UserInputError
from ..libjack import address, raise_process_thread
from .base import RT_PRIORITY
from .jack import JackBackend

if TYPE_CHECKING:
    from ..engine import LiveEngine


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
        self.render_priority = "normal priority"   # what the render thread ran at, said in words

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

    def _count_xrun(self) -> None:
        self._server_xruns += 1

    def helper_priority(self) -> int | None:
        """Only under a realtime server: JACK's thread here never waits for the GIL, so nothing
        of ours needs to be realtime for it, and under a server without realtime scheduling a
        realtime render thread took the CPU from the server itself (its cycles began late)."""
        from ..scheduling import below

        return below(self._server_priority())

    def midi_inlet(self, name: str) -> Any:
        """None: the block of a cycle was rendered ``ahead`` periods before it, so MIDI read in
        the callback could not land any sooner than the surface's own thread makes it."""
        return None

    def own_latency(self) -> int:
        return super().own_latency() + self.ahead * self.max_block

    def _set_callbacks(self, client: Any) -> None:
        client.set_xrun_callback(self._xrun)
        client.set_blocksize_callback(self._blocksize)

    def _open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        opened = super()._open(engine, sample_rate, block_size)
        # importing compiles the callback: here, before the engine freezes the collector's
        # generations and starts playing, not at the start
        from .. import block_ring

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
        handle = address(self.client._ptr)
        if block_ring.set_process_callback(handle, self.ring) != 0:
            raise AudioDeviceError("JACK refused the process callback", hint="try without --ahead")
        self._running = True
        self._thread = threading.Thread(target=self._render_loop, args=(self.helper_priority(),),
                                        name="mixhost-render", daemon=True)
        self._thread.start()
        self.client.activate()
        if not self.client.realtime:  # the server left its clients' threads at normal priority
            self.raised_priority = raise_process_thread(handle, RT_PRIORITY)
        self._connect()

    # -- the render thread ---------------------------------------------------------------------
    def _render_loop(self, priority: int | None) -> None:
        # Under a realtime server, SCHED_FIFO below JACK's thread (see host.live.scheduling);
        # under a server without realtime scheduling it stays at normal priority: a realtime
        # render thread would take the CPU from the server itself (on the bench's dummy server
        # that made the server's own cycles late).
        from ..scheduling import make_realtime

        self.render_priority = make_realtime(threading.get_native_id(), priority)
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

