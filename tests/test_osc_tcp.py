"""OSC over TCP on the UDP port: OSC 1.0 length prefixes and OSC 1.1 SLIP, over real sockets on 127.0.0.1.

python-osc's TCP client sends (its own framing code, an independent peer);
what comes back is unframed here with python-osc's SLIP decoder or a plain
int32 read, and parsed with python-osc.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from osc_helpers import Rig, message
from pythonosc import slip
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_packet import OscPacket
from pythonosc.osc_tcp_server import MODE_1_0, MODE_1_1
from pythonosc.tcp_client import TCPClient
from waiting import wait_for

from host.control.osc.packet import MAX_SIZE
from host.control.osc.stream import FRAMINGS, BadFrame, Framing, StreamError, decoder, frame

MODES = {"length": MODE_1_0, "slip": MODE_1_1}


class TcpPeer:
    """A TCP OSC peer: python-osc's client sends; a thread unframes and records what comes back."""

    def __init__(self, port: int, framing: Framing) -> None:
        self.framing = framing
        self.client = TCPClient("127.0.0.1", port, mode=MODES[framing], timeout=5.0)
        self.sock = self.client.socket
        self.got: list[tuple[str, list[Any]]] = []
        self.hung_up = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        self.sock.settimeout(0.05)
        buffer = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            buffer += data
            packets, buffer = self._unframe(buffer)
            for packet in packets:
                for timed in OscPacket(packet).messages:
                    with self._lock:
                        self.got.append((timed.message.address, list(timed.message.params)))
        self.hung_up.set()

    def _unframe(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        packets = []
        if self.framing == "length":
            while len(buffer) >= 4:
                (size,) = struct.unpack(">I", buffer[:4])
                if len(buffer) < 4 + size:
                    break
                packets.append(buffer[4:4 + size])
                buffer = buffer[4 + size:]
            return packets, buffer
        *complete, rest = buffer.split(slip.END)
        return [slip.decode(piece) for piece in complete if piece], rest

    def send(self, address: str, *args: Any) -> None:
        self.send_raw(message(address, *args))

    def send_raw(self, packet: bytes) -> None:
        self.sock.sendall(frame(packet, self.framing))

    def messages(self, address: str) -> list[list[Any]]:
        with self._lock:
            return [p for a, p in self.got if a == address]

    def ask(self, address: str, *args: Any, reply: str | None = None) -> list[Any]:
        reply = reply or address
        before = len(self.messages(reply))
        self.send(address, *args)
        return list(wait_for(lambda: self.messages(reply)[before:], what=f"a reply on {reply}")[0])

    def close(self) -> None:
        self.client.close()
        self._thread.join()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path)
    yield made
    made.close()


@pytest.fixture
def peers(rig: Rig) -> Iterator[list[TcpPeer]]:
    made: list[TcpPeer] = []
    yield made
    for peer in made:
        peer.close()


def connect(rig: Rig, peers: list[TcpPeer], framing: Framing) -> TcpPeer:
    peers.append(TcpPeer(rig.osc.port, framing))
    return peers[-1]


# -- the framings on their own ---------------------------------------------------------------------

def test_slip_frames_are_python_oscs() -> None:
    packet = message("/blob", b"\xc0\xdb\x00\xdb\xdc")
    assert frame(packet, "slip") == slip.encode(packet)


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_stream_cut_anywhere_gives_back_every_packet(framing: Framing) -> None:
    rng = np.random.default_rng(11)
    packets = [message(f"/p/{k}", bytes(rng.integers(0, 256, int(rng.integers(1, 300))).astype(np.uint8)))
               for k in range(200)]
    stream = b"".join(frame(p, framing) for p in packets)
    cuts = np.sort(rng.integers(0, len(stream), 400))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    unframe = decoder(framing, MAX_SIZE)
    assert [p for piece in pieces for p in unframe.feed(piece)] == packets


def test_an_oversized_length_prefix_ends_the_stream() -> None:
    unframe = decoder("length", 1000)
    with pytest.raises(StreamError, match="1001"):
        list(unframe.feed(struct.pack(">i", 1001) + b"x" * 10))
    with pytest.raises(StreamError):
        list(decoder("length", 1000).feed(struct.pack(">i", -4)))


def test_slip_drops_an_oversized_or_badly_escaped_frame_and_goes_on() -> None:
    unframe = decoder("slip", 100)
    good = message("/ok", 1.0)
    got = list(unframe.feed(b"\xc0" + b"a" * 150))        # no END yet: held at most 2 x limit
    got += list(unframe.feed(b"b" * 10_000 + b"\xc0"))
    got += list(unframe.feed(b"\xc0/x\xdb\x01\xc0" + frame(good, "slip")))
    assert [(g.kind if isinstance(g, BadFrame) else g) for g in got] == ["oversized", "malformed", good]
    assert len(unframe._frame) == 0                        # noqa: SLF001 - nothing kept after the frames


# -- the server ----------------------------------------------------------------------------------

@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_set_lands_and_a_query_replies_on_the_connection(rig: Rig, peers: list[TcpPeer], framing: Framing) -> None:
    peer = connect(rig, peers, framing)
    peer.send("/tracks/noise/gain_db", -12.0)
    rig.wait_value("tracks/noise/gain_db", -12.0)
    assert peer.ask("/tracks/noise/gain_db") == [-12.0]
    assert peer.ask("/mixhost/ping", reply="/mixhost/pong") == []
    assert rig.osc.counts["connections"] == 1


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_tcp_subscriber_gets_feedback_from_a_udp_peer_and_meters(rig: Rig, peers: list[TcpPeer],
                                                                  framing: Framing) -> None:
    peer = connect(rig, peers, framing)
    subscribed = peer.ask("/mixhost/subscribe", 5555, "value", "meters", reply="/mixhost/subscribed")
    assert subscribed[0] != 5555                           # replies stay on the connection
    rig.peer().send("/tracks/tone/gain_db", -9.0)
    wait_for(lambda: [-9.0] in peer.messages("/tracks/tone/gain_db"), what="the feedback")
    lufs = wait_for(lambda: peer.messages("/meters/master/lufs"), what="meters")[-1]
    assert len(lufs) == 1 and isinstance(lufs[0], float)
    peer.close()
    peers.remove(peer)
    wait_for(lambda: not rig.osc.server.clients.subscribers, what="the subscriber gone with its connection")
    assert rig.osc.counts["disconnects"] == 1


def test_an_oversized_length_prefix_gets_an_error_and_the_connection_closed(rig: Rig, peers: list[TcpPeer]) -> None:
    peer = connect(rig, peers, "length")
    peer.sock.sendall(struct.pack(">i", MAX_SIZE + 1) + b"\x00" * 64)
    error = wait_for(lambda: peer.messages("/mixhost/error"), what="the error")[0]
    assert error[0] == "" and "closed" in error[1]
    assert peer.hung_up.wait(5.0)
    assert rig.osc.counts["oversized"] == 1
    assert connect(rig, peers, "length").ask("/tracks/noise/gain_db") == [-6.0]    # others go on


def test_an_oversized_slip_frame_is_refused_and_the_stream_goes_on(rig: Rig, peers: list[TcpPeer]) -> None:
    peer = connect(rig, peers, "slip")
    peer.sock.sendall(b"\xc0/big" + b"\x00" * (MAX_SIZE + 100) + b"\xc0")
    error = wait_for(lambda: peer.messages("/mixhost/error"), what="the error")[0]
    assert str(MAX_SIZE) in error[1]
    assert rig.osc.counts["oversized"] == 1
    assert peer.ask("/tracks/noise/gain_db") == [-6.0]


@pytest.mark.parametrize("framing", FRAMINGS)
def test_garbage_frames_are_refused_counted_and_change_nothing(rig: Rig, peers: list[TcpPeer],
                                                               framing: Framing) -> None:
    values = {p.address: rig.get(p.address) for p in rig.session.registry if not p.spec.read_only
              and not p.address.startswith("transport/")}
    peer = connect(rig, peers, framing)
    peer.send("/mixhost/ping")                              # the first frame sets the framing
    wait_for(lambda: peer.messages("/mixhost/pong"), what="the pong")
    rng = np.random.default_rng(20)
    garbage = [bytes(rng.integers(0, 256, int(n)).astype(np.uint8)) for n in rng.integers(1, 200, 50)]
    garbage = [g for g in garbage if not g.startswith(b"/")]   # no chance of a valid message
    for packet in garbage:
        peer.send_raw(packet)
    wait_for(lambda: len(peer.messages("/mixhost/error")) == len(garbage), what="an error per frame")
    assert peer.ask("/tracks/noise/gain_db") == [-6.0]      # the same connection goes on
    assert values == {a: rig.get(a) for a in values}


def test_connections_from_outside_the_allowlist_are_closed_and_counted(tmp_path: Path) -> None:
    rig = Rig(tmp_path, allow=["127.0.0.1/32"])
    try:
        outsider = socket.socket()
        outsider.bind(("127.0.0.2", 0))
        outsider.connect(("127.0.0.1", rig.osc.port))
        outsider.settimeout(5.0)
        outsider.sendall(frame(message("/tracks/noise/gain_db", -20.0), "slip"))
        try:
            got = outsider.recv(100)
        except ConnectionResetError:                          # closed with our frame unread: a reset
            got = b""
        assert got == b""                                      # closed at once, nothing said
        outsider.close()
        assert rig.osc.counts["not_allowed"] == 1
        time.sleep(0.1)
        assert rig.get("tracks/noise/gain_db") == -6.0
    finally:
        rig.close()


def test_a_bundle_scheduled_by_a_peer_that_hung_up_still_lands(rig: Rig, peers: list[TcpPeer]) -> None:
    peer = connect(rig, peers, "slip")
    builder = OscBundleBuilder(time.time() + 0.3)
    builder.add_content(OscMessage(message("/tracks/noise/gain_db", -18.0)))
    peer.send_raw(builder.build().dgram)
    wait_for(lambda: rig.osc.server.scheduled == 1, what="the bundle on the schedule")
    peer.close()
    peers.remove(peer)
    rig.wait_value("tracks/noise/gain_db", -18.0)
    time.sleep(0.1)
    assert rig.osc.counts["send_error"] == 0
    assert not [c for c in rig.osc.server.clients if c.peer[0].startswith("tcp:")]   # no stand-in kept
