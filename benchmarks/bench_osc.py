"""The OSC surface over UDP on 127.0.0.1: sustained sets, round trip, feedback fan-out.

mixhost plays clock-driven (``--audio none``, 128-frame blocks at 48 kHz)
with an OSC surface; the peers run in a separate process (``PEER``), so
their Python does not share mixhost's GIL.

* ``osc.sustained``: one client sends 10,000 sets per second (paced) for
  some seconds; target: every one applied (the surface's count), the rate
  held; the ratio is applied over sent.
* ``osc.roundtrip``: a set at client A, every 20-30 ms at a random phase (slower than the
  60 Hz feedback limit, which would otherwise be what is measured), to
  its feedback at subscribed client B (both clocks are the peer process's);
  target p99 <= one period + 2 ms, the ratio is p99 over that.
* ``osc.fanout``: 8 subscribed clients while the API moves all faders of
  a 16-track session 200 times a second; target: every client ends with
  every fader's last value (nothing lost) and no address reaches a client
  faster than 60 Hz; the ratio is the fastest address's rate over 60 Hz.

The machine may be loaded by other work: the figures say what this run saw.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
from live_rig import LiveRig
from run import row
from sessions import tone_session

SR = 48_000
BLOCK = 128
RATE = 10_000
PEER = textwrap.dedent('''
    import json, random, select, socket, sys, time
    from pythonosc.osc_message_builder import OscMessageBuilder
    from pythonosc.osc_packet import OscPacket
    job = json.loads(sys.argv[1]); target = ("127.0.0.1", job["port"])
    def msg(address, *args):
        b = OscMessageBuilder(address)
        for a in args: b.add_arg(a)
        return b.build().dgram
    def sock():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20); s.bind(("127.0.0.1", 0)); return s
    def subscribe(s, *what):
        s.sendto(msg("/mixhost/subscribe", *what), target)
    def drain(s, until, got, stop=None):
        while time.perf_counter() < until:
            r, _, _ = select.select([s], [], [], 0.005)
            if not r: continue
            now = time.perf_counter()
            data = s.recv(65536)
            for m in OscPacket(data).messages:
                got.append((now, m.message.address, m.message.params))
                if stop and stop(m.message): return
    if job["kind"] == "sustained":
        s = sock(); n = int(job["rate"] * job["seconds"]); interval = 1.0 / job["rate"]
        data = [msg("/tracks/t%02d/gain_db" % (i % 16), -float(i % 50)) for i in range(64)]
        start = time.perf_counter()
        for i in range(n):
            due = start + i * interval
            while time.perf_counter() < due: pass
            s.sendto(data[i % 64], target)
        print(json.dumps({"sent": n, "took": time.perf_counter() - start}))
    elif job["kind"] == "roundtrip":
        a, b = sock(), sock(); subscribe(b, "value", "/tracks/t00/gain_db")
        drain(b, time.perf_counter() + 0.5, [])
        lat = []
        for i in range(job["count"]):
            time.sleep(0.02 + 0.01 * random.random())
            value = -float(1 + i % 40) - 0.25 * (i % 3)
            got = []
            sent = time.perf_counter()
            a.sendto(msg("/tracks/t00/gain_db", value), target)
            drain(b, sent + 1.0, got, lambda m: m.params and abs(m.params[0] - value) < 1e-6)
            if got and abs(got[-1][2][0] - value) < 1e-6: lat.append(got[-1][0] - sent)
        print(json.dumps({"latencies": lat, "sent": job["count"]}))
    else:
        clients = [sock() for _ in range(job["clients"])]
        for c in clients: subscribe(c, "value", "/tracks")
        got = {i: [] for i in range(len(clients))}
        print("ready", flush=True)
        end = time.perf_counter() + job["seconds"]
        while time.perf_counter() < end:
            r, _, _ = select.select(clients, [], [], 0.01)
            for c in r:
                now = time.perf_counter(); i = clients.index(c)
                for m in OscPacket(c.recv(65536)).messages:
                    if m.message.address.endswith("/gain_db"):
                        got[i].append((now, m.message.address, m.message.params[0]))
        print(json.dumps(got))
''')


class Live(LiveRig):
    """A clock-driven live engine with an OSC surface and the control loop of `mixhost live`."""

    def __init__(self, path: Path) -> None:
        import host
        from host.control.launch import SurfaceOptions, build_surfaces
        from host.live.engine import LiveEngine

        session = host.load_session(path)
        engine = LiveEngine(session, BLOCK, "none")
        surfaces = build_surfaces(session, engine, SurfaceOptions(osc=True, osc_port=0, zeroconf=False, osc_meter_hz=0))
        self.osc: Any = surfaces.surfaces[0]
        super().__init__(engine, surfaces)

    def peer(self, **job: Any) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", PEER, json.dumps({"port": self.osc.port, **job})],
                                stdout=subprocess.PIPE, text=True)


def sustained(live: Live, seconds: float) -> dict[str, Any]:
    before = live.osc.counts["applied"]
    out, _ = live.peer(kind="sustained", rate=RATE, seconds=seconds).communicate(timeout=seconds + 60)
    result = json.loads(out)
    deadline = time.monotonic() + 10
    while live.osc.counts["applied"] - before < result["sent"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return {**result, "applied": live.osc.counts["applied"] - before}


def roundtrip(live: Live, count: int) -> dict[str, Any]:
    out, _ = live.peer(kind="roundtrip", count=count).communicate(timeout=count * 0.1 + 60)
    return dict(json.loads(out))


def fanout(live: Live, seconds: float, clients: int = 8, tracks: int = 16) -> dict[str, Any]:
    peer = live.peer(kind="fanout", clients=clients, seconds=seconds + 1.5)
    assert peer.stdout is not None and peer.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    registry = live.session.registry
    addresses = [f"tracks/t{i:02d}/gain_db" for i in range(tracks)]
    start = time.perf_counter()
    step = 0
    while time.perf_counter() - start < seconds:        # the API moves every fader 200 times a second
        step += 1
        registry.set_many([(a, -float((step + i) % 60) - 0.5) for i, a in enumerate(addresses)], "api")
        time.sleep(max(0.0, start + step / 200 - time.perf_counter()))
    last = {"/" + a: -float((step + i) % 60) - 0.5 for i, a in enumerate(addresses)}
    out, _ = peer.communicate(timeout=seconds + 60)
    got = json.loads(out)
    lost = 0
    fastest = 0.0
    for messages in got.values():
        final: dict[str, float] = {}
        times: dict[str, list[float]] = {}
        for stamp, address, value in messages:
            final[address] = value
            times.setdefault(address, []).append(stamp)
        lost += sum(1 for a, v in last.items() if abs(final.get(a, 1e9) - v) > 1e-4)
        for stamps in times.values():
            inside = [t for t in stamps if t >= stamps[0] + 0.5]      # the first state burst left out
            if len(inside) > 1:
                fastest = max(fastest, (len(inside) - 1) / (inside[-1] - inside[0]))
    return {"lost": lost, "fastest_hz": fastest, "sets": step * tracks, "clients": clients}


def run(quick: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seconds = 2.0 if quick else 5.0
    with tempfile.TemporaryDirectory(prefix="bench-osc-") as tmp:
        live = Live(tone_session(Path(tmp), 16))
        try:
            s = sustained(live, seconds)
            r = roundtrip(live, 100 if quick else 400)
            f = fanout(live, seconds)
            period = live.engine.period_s
        finally:
            live.close()
    rate = s["sent"] / s["took"]
    rows.append(row("osc.sustained", s["applied"] / s["sent"], "== 1.00 (every set applied, >= 10,000/s)",
                    s["applied"] == s["sent"] and rate >= RATE * 0.95,
                    f"{s['sent']} sets from one client at {rate:,.0f}/s: {s['applied']} applied"))
    lat = np.array(r["latencies"])
    limit = period + 0.002
    p50, p99 = (float(v) for v in np.percentile(lat, [50, 99])) if len(lat) else (float("nan"),) * 2
    rows.append(row("osc.roundtrip", p99 / limit, "<= 1.00 (p99 <= period + 2 ms)",
                    p99 <= limit and len(lat) == r["sent"],
                    f"set at client A -> feedback at client B: p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms "
                    f"(limit {limit * 1000:.2f} ms, {BLOCK}-frame period); {len(lat)} of {r['sent']} seen"))
    rows.append(row("osc.fanout", f["fastest_hz"] / 60.0, "<= 1.00 (<= 60 Hz per address, nothing lost)",
                    f["lost"] == 0 and f["fastest_hz"] <= 60.0 * 1.02,
                    f"{f['clients']} clients, 16 faders moved 200/s by the API ({f['sets']} sets): "
                    f"{f['lost']} final values missing, fastest address {f['fastest_hz']:.1f} Hz at a client"))
    return rows
