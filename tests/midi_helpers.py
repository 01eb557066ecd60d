"""Shared parts of the MIDI surface tests: a sender process, a feedback receiver, a live engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jack  # JACK-Client: the independent receiver of feedback
import pytest

HERE = Path(__file__).resolve().parent


class Sender:
    """A separate process with its own JACK MIDI output port."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"sender-{os.getpid()}-{time.monotonic_ns() % 100000}"
        self.process = subprocess.Popen([sys.executable, str(HERE / "midi_sender.py"), self.name],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._reply().startswith("ready")

    @property
    def port(self) -> str:
        return f"{self.name}:out"

    def _reply(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            pytest.fail("the MIDI sender process ended: is the JACK server running? "
                        "(`make test` starts one; see CONTRIBUTING)", pytrace=False)
        return line.strip()

    def command(self, **command: Any) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def send(self, *messages: list[int], gap: float = 0.0) -> None:
        self.command(messages=list(messages), gap=gap)

    def begin(self, *messages: list[int], gap: float = 0.0) -> None:
        """Start sending, and return at once (:meth:`finish` waits for the end)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"messages": list(messages), "gap": gap}) + "\n")
        self.process.stdin.flush()

    def finish(self) -> str:
        return self._reply()

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=10)


class Receiver:
    """A JACK client with one MIDI input: every event mixhost sends, in order, with its cycle."""

    def __init__(self) -> None:
        self.client = jack.Client(f"receiver-{os.getpid()}-{time.monotonic_ns() % 100000}", no_start_server=True)
        self.port = self.client.midi_inports.register("in")
        self.events: list[tuple[int, bytes]] = []      # (cycle, bytes)
        self.cycle = 0
        self._lock = threading.Lock()
        self._closing = False
        self.client.set_process_callback(self._process)
        self.client.activate()

    @property
    def name(self) -> str:
        return self.port.name

    def _process(self, frames: int) -> None:
        if self._closing:
            return
        found = [(self.cycle, bytes(data)) for _, data in self.port.incoming_midi_events()]
        if found:
            with self._lock:
                self.events.extend(found)
        self.cycle += 1

    def take(self) -> list[bytes]:
        with self._lock:
            events, self.events = self.events, []
        return [data for _, data in events]

    def take_cycles(self) -> list[tuple[int, bytes]]:
        with self._lock:
            events, self.events = self.events, []
        return events

    def close(self) -> None:
        # libjack's deactivate cancels the process thread: cancelled while it waits for the GIL
        # inside this Python callback, it leaves the GIL locked and the process hangs.  Quiesce
        # first, so the callback is a few microseconds (as host.live.backends.jack does).
        self._closing = True
        time.sleep(0.05)
        self.client.deactivate()
        self.client.close()


def cc(channel: int, number: int, value: int) -> list[int]:
    return [0xB0 | channel, number, value]


def note(channel: int, number: int, velocity: int) -> list[int]:
    return [0x90 | channel, number, velocity]


def bend(channel: int, value: int) -> list[int]:
    return [0xE0 | channel, value & 0x7F, value >> 7]
