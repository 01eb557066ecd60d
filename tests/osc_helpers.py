"""OSC test parts: a live engine with the OSC surface, and peers on real UDP sockets (127.0.0.x)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket
from test_live_helpers import ControlLoopRig, make_session
from waiting import wait_for

import host
from host.control.launch import SurfaceOptions, build_surfaces
from host.live.engine import LiveEngine

BLOCK = 256


def message(address: str, *args: Any) -> bytes:
    """A message built by python-osc's builder (floats as f, ints as i, strings as s, bools as T/F)."""
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


class Peer:
    """A UDP peer: sends from one socket and records every message that comes back to it."""

    def __init__(self, server_port: int, host_ip: str = "127.0.0.1") -> None:
        self.target = ("127.0.0.1", server_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host_ip, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.got: list[tuple[float, str, list[Any]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            now = time.perf_counter()
            for timed in OscPacket(data).messages:
                with self._lock:
                    self.got.append((now, timed.message.address, list(timed.message.params)))

    def send(self, address: str, *args: Any) -> None:
        self.sock.sendto(message(address, *args), self.target)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def take(self) -> list[tuple[str, list[Any]]]:
        with self._lock:
            got, self.got = self.got, []
        return [(a, p) for _, a, p in got]

    def messages(self, address: str) -> list[list[Any]]:
        with self._lock:
            return [p for _, a, p in self.got if a == address]

    def ask(self, address: str, *args: Any, reply: str | None = None, timeout_s: float = 5.0) -> list[Any]:
        """Send and wait for the first reply on ``reply`` (default: the same address)."""
        reply = reply or address
        with self._lock:
            self.got = [g for g in self.got if g[1] != reply]
        self.send(address, *args)
        return list(wait_for(lambda: self.messages(reply), timeout_s, f"a reply on {reply}")[0])

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


class Rig(ControlLoopRig):
    """A clock-driven live engine with an OSC surface on a free port, and a control loop."""

    def __init__(self, tmp_path: Path, *, allow: list[str] | None = None, seconds: float = 2.0,
                 snapshots: str = "", meter_hz: float = 20.0, timeout_s: float | None = None) -> None:
        path = make_session(tmp_path, seconds, automation=snapshots)
        self.session = host.load_session(path)
        self.peers: list[Peer] = []
        super().__init__()
        self.engine = LiveEngine(self.session, BLOCK, "none")
        options = SurfaceOptions(osc=True, osc_port=0, osc_allow=allow or [], zeroconf=False, osc_meter_hz=meter_hz)
        self.surfaces = build_surfaces(self.session, self.engine, options)
        self.osc: Any = self.surfaces.surfaces[0]
        if timeout_s is not None:
            self.osc.subscribe_timeout_s = timeout_s
        try:
            self.play()
        except BaseException:
            self.engine.close()
            raise
        self.start_control()

    def peer(self, host_ip: str = "127.0.0.1") -> Peer:
        peer = Peer(self.osc.port, host_ip)
        self.peers.append(peer)
        return peer

    def wait_value(self, address: str, expected: Any) -> None:
        wait_for(lambda: self.get(address) == expected, what=f"{address} = {expected}")

    def close(self) -> None:
        self.stop_control()
        for peer in self.peers:
            peer.close()
        self.surfaces.close()
        self.engine.close()
