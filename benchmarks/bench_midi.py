"""MIDI control surfaces over JACK MIDI: latency, sustained input, a Mackie bank switch.

Each measurement runs on a private dummy JACK server (``bench_live.jack_server``),
first ``--no-realtime`` and then ``-R`` as studios run it (those rows are
``midi.rt.*``; a machine that refuses realtime scheduling says so in them);
the controller is a separate process with its own JACK MIDI port
(python-rtmidi's JACK API), mixhost plays through its JACK backend (the
process callback in Python) with a MIDI surface from ``host.control``, whose
input is a port on the engine's own client: the engine applies the mapped
fader at the start of the block of the cycle that delivers the message
(``host.live.midi_inlet``).

* ``midi.latency.p{128,256}``: a CC sent every 20 ms (at a random phase)
  to the end of the render of the first block carrying its value (the sender's
  ``time.perf_counter`` against a tap's: both CLOCK_MONOTONIC on Linux);
  target p99 <= one period + 1 ms, the ratio is p99 over that.
* ``midi.sustained``: 10,000 CC messages per second for 10 s, paced by the
  sender; target: every one received (the surface's count), and no more late
  cycles than an idle JACK client the sender streamed the same to for as long
  (the ratio), or none but those just after a machine stall (``stalls.py``:
  an idle client beside mixhost would be told of the same xruns).
* ``midi.bank``: a Mackie Control bank switch redraws 8 strips (faders,
  rings, LEDs, both scribble lines); from the sender's note to the last
  message a receiving JACK client got, target <= 20 ms, and as many messages
  received as mixhost sent (nothing dropped by JACK).

The machine may be loaded by other work: the figures say what this run saw.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from live_rig import LiveRig
from run import row
from sessions import tone_session
from stalls import StallProbe, Xruns

SR = 48_000
PERIODS = (128, 256)
CC_RATE = 10_000
PERIOD_S = 128 / SR     # the sustained rows' period
SENDER = textwrap.dedent('''
    import json, sys, time, random
    import rtmidi
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=sys.argv[1])
    out.open_virtual_port("out")
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    for line in sys.stdin:
        job = json.loads(line)
        stamps = []
        if job["kind"] == "interval":
            for i, message in enumerate(job["messages"]):
                time.sleep(job["interval"] * (0.5 + random.random()))
                stamps.append(time.perf_counter())
                out.send_message(message)
        else:
            # paced by the half millisecond, sleeping between: JACK hands a port's messages over
            # once a period (2.7 ms at 128 frames), so a finer pace changes nothing it delivers,
            # and a busy wait would keep a CPU from the JACK threads of a --no-realtime server
            start = time.perf_counter()
            interval = 1.0 / job["rate"]
            messages = job["messages"]
            sent = 0
            while sent < job["count"]:
                time.sleep(0.0005)
                due = min(job["count"], int((time.perf_counter() - start) / interval) + 1)
                for i in range(sent, due):
                    out.send_message(messages[i % len(messages)])
                sent = due
            stamps = [start, time.perf_counter()]
        sys.stdout.write(json.dumps(stamps) + "\\n"); sys.stdout.flush()
''')


class Sender:
    """The controller: a separate process on the bench's JACK server."""

    def __init__(self, server: str) -> None:
        import os

        self.name = f"bench-sender-{os.getpid()}"
        env = {**os.environ, "JACK_DEFAULT_SERVER": server, "JACK_NO_START_SERVER": "1"}
        self.process = subprocess.Popen([sys.executable, "-c", SENDER, self.name], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"

    def job(self, **job: Any) -> list[float]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        return list(json.loads(self.process.stdout.readline()))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


CONTROLLERS = ("controllers:", "  mappings:",
               "    - {source: cc, number: 7, target: tracks/t00/gain_db, min: -60, max: 0, curve: linear}",
               "    - {source: cc, number: 8, target: tracks/t01/pan, curve: linear}")


def _live(path: Path, server: str, profile: str | None, sender: Sender, receiver: str | None = None) -> Any:
    import os

    import host
    from host.control.launch import SurfaceOptions, build_surfaces
    from host.live.engine import LiveEngine

    os.environ["JACK_DEFAULT_SERVER"] = server     # rtmidi's JACK clients join the default server

    session = host.load_session(path)
    engine = LiveEngine(session, None, "jack", client_name="mixhost-bench", server=server, auto_connect=False)
    surfaces = build_surfaces(session, engine, SurfaceOptions(midi_in=f"{sender.name}:out", midi_out=receiver,
                                                              midi_profile=profile))
    rig = LiveRig(engine, surfaces)   # surfaces open before JACK runs the callback: see host.control.midi.ports
    return session, engine, surfaces.surfaces[0], rig.close


def latency(path: Path, server: str, period: int, count: int) -> dict[str, Any]:
    sender = Sender(server)
    session, engine, surface, close = _live(path, server, None, sender)
    slot = session.registry.param("tracks/t00/gain_db").slot
    seen: list[tuple[float, float]] = []
    engine.taps.append(lambda out, position, rolling: seen.append((time.perf_counter(), engine.session.registry.values[slot])))
    try:
        time.sleep(1.0)
        values = [(i * 37) % 128 for i in range(count)]
        for a, b in zip(values, values[1:], strict=False):
            assert a != b
        stamps = sender.job(kind="interval", interval=0.02, messages=[[0xB0, 7, v] for v in values])
        time.sleep(0.2)
    finally:
        close()
        sender.close()
    # the surface's set -> the block start that carried it: the hop from the MIDI thread to the audio
    # thread, for what the surface set itself (a control the engine applies has no such hop)
    hops = engine.handoff.latency_samples()
    inlet = getattr(surface.input, "inlet", None)
    routed = inlet.routed if inlet is not None else 0
    blocks = np.array(seen)
    found = []
    for stamp, value in zip(stamps, values, strict=True):
        wanted = -60.0 + 60.0 * value / 127
        later = blocks[(blocks[:, 0] >= stamp) & np.isclose(blocks[:, 1], wanted)]
        if len(later):
            found.append(later[0, 0] - stamp)
    return {"latencies": np.array(found), "sent": len(stamps), "period_s": period / SR, "hops": hops,
            "routed": routed}


def sustained(path: Path, server: Any, seconds: float) -> dict[str, Any]:
    from bench_live import idle_xruns

    idle = idle_xruns(server, seconds).xruns
    sender = Sender(server.name)
    job = {"kind": "rate", "rate": CC_RATE, "count": int(CC_RATE * seconds),
           "messages": [[0xB0, 8, v] for v in range(128)]}
    loaded = _idle_under_load(server, sender, job)
    session, engine, surface, close = _live(path, server.name, None, sender)
    try:
        time.sleep(1.0)
        logged = server.mark()
        good0 = surface.counts.good
        inlet = getattr(surface.input, "inlet", None)
        kept0 = inlet.gate_received if inlet is not None else 0
        count0 = engine.callback_count
        with StallProbe() as probe:
            began = time.monotonic()
            stamps = sender.job(**job)
            deadline = time.monotonic() + 10
            while surface.counts.good - good0 < int(CC_RATE * seconds) and time.monotonic() < deadline:
                time.sleep(0.05)
            received = surface.counts.good - good0
            told = [t for t in engine.backend.xrun_times if t >= began]
        timing = engine.callback_timing(count0)
        routed = inlet.routed if inlet is not None else 0
        kept = inlet.gate_received - kept0 if inlet is not None else 0
        late = server.late(logged)
    finally:
        close()
        sender.close()
    return {"received": received, "sent": int(CC_RATE * seconds), "xruns": Xruns.of(told, PERIOD_S, probe.result, timing),
            "idle": idle, "took": stamps[1] - stamps[0], "routed": routed, "kept": kept, "loaded": loaded,
            "late": late, "sender": sender.name, "stalls": probe.result}


def _idle_under_load(server: Any, sender: Sender, job: dict[str, Any]) -> dict[str, Any]:
    """The reference in the same conditions but mixhost: an idle Python client that the sender
    sends the same stream to (it reads none of it), its xruns and who the server says was late."""
    import jack

    from host.pm_qos import CpuLatencyRequest

    client = jack.Client("idle-midi", no_start_server=True, servername=server.name)
    port = client.midi_inports.register("in")
    out = client.outports.register("out")
    told: list[float] = []
    client.set_process_callback(lambda frames: out.get_array().fill(0.0))
    client.set_xrun_callback(lambda delay: told.append(time.monotonic()))
    logged = server.mark()
    with CpuLatencyRequest(0):   # the machine as mixhost live sets it up
        client.activate()
        client.connect(f"{sender.name}:out", port)
        with StallProbe() as probe:
            began = time.monotonic()
            sender.job(**job)
            during = [t for t in told if t >= began]   # not those of the probes' start and end
        client.deactivate()
    client.close()
    return {"xruns": Xruns.of(during, PERIOD_S, probe.result), "late": server.late(logged)}



def bank_switch(folder: Path, server: str) -> dict[str, Any]:
    import jack

    path = tone_session(folder, 16, extra=CONTROLLERS)
    receiver = jack.Client("bench-receiver", no_start_server=True, servername=server)
    port = receiver.midi_inports.register("in")
    events: list[tuple[float, bytes]] = []

    def process(frames: int) -> None:
        now = time.perf_counter()
        for offset, data in port.incoming_midi_events():
            events.append((now + offset / SR, bytes(data)))

    receiver.set_process_callback(process)
    receiver.activate()
    sender = Sender(server)
    session, engine, surface, close = _live(path, server, "mcu", sender, receiver=port.name)
    try:
        engine.transport_command("stop")         # a still transport: no meters or clock traffic, so what
        time.sleep(2.0)                          # goes out is the redraw (connection-settling redraws over)
        results = []
        for note in (0x2F, 0x2E, 0x2F, 0x2E):    # bank right, left, right, left
            sent0, failed0 = surface.pacer.sent, surface.pacer.failed
            events.clear()
            stamp = sender.job(kind="interval", interval=0.0005, messages=[[0x90, note, 127]])[0]
            time.sleep(0.3)
            sent = surface.pacer.sent - sent0
            time.sleep(0.05)                     # what was sent last reaches the receiver
            quiet = list(events)
            redraw = [t for t, d in quiet if d[0] in (0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xF0)
                      or (d[0] == 0xB0 and 0x30 <= d[1] <= 0x37)]
            results.append({"ms": (max(redraw) - stamp) * 1000 if redraw else float("nan"),
                            "sent": sent, "received": len(quiet), "failed": surface.pacer.failed - failed0,
                            "redraw": len(redraw)})
    finally:
        receiver.deactivate()   # no Python JACK callback left running while rtmidi closes its clients
        close()
        sender.close()
        receiver.close()
    return {"runs": results}


def _percentiles_ms(values: np.ndarray) -> str:
    if not len(values):
        return "none measured"
    p50, p99 = np.percentile(values, [50, 99]) * 1000
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"


@contextmanager
def _server(period: int, kind: str = "no-realtime") -> Iterator[Any]:
    """A private dummy JACK server of ``kind`` (``--no-realtime`` or ``-R``); where a
    --no-realtime one cannot start (JACK's shared-memory registry holds 8 servers), the default
    server (``JACK_DEFAULT_SERVER``) if it runs at ``period`` frames, its log taken from
    ``MIXHOST_BENCH_JACK_LOG``; else None.  A realtime server the machine refuses is None."""
    import os

    import jack
    from bench_live import NotRealtime, Server, jack_server

    try:
        with jack_server(period, kind) as server:
            yield server
            return
    except NotRealtime:
        yield None
        return
    except RuntimeError:
        if kind != "no-realtime":
            yield None
            return
    name = os.environ.get("JACK_DEFAULT_SERVER", "default")
    try:
        probe = jack.Client("bench-midi-probe", no_start_server=True, servername=name)
        size = probe.blocksize
        probe.close()
    except jack.JackError:
        size = 0
    given = os.environ.get("MIXHOST_BENCH_JACK_LOG")
    if given is None:
        with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as empty:
            given = empty.name
    log = Path(given)
    yield Server(name, log) if size == period else None


KINDS = ("no-realtime", "realtime")   # as bench_live: the realtime server's rows are midi.rt.*


def _name(kind: str, what: str) -> str:
    return "midi" + (".rt" if kind == "realtime" else "") + f".{what}"


def run(quick: bool = False) -> list[dict[str, Any]]:
    import shutil

    if shutil.which("jackd") is None:
        return [row("midi", None, "-", False, "jackd is not installed")]
    rows: list[dict[str, Any]] = []
    seconds = 5.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-midi-") as tmp:
        path = tone_session(Path(tmp), 2, extra=CONTROLLERS)
        for kind in KINDS:
            rows += _latency_rows(path, kind, quick)
            rows += _sustained_rows(path, Path(tmp), kind, seconds)
    return rows


def _late_words(late: dict[str, int], sender: str) -> str:
    """What the server logged: its own late cycles, the sender's, mixhost's (engine and gate)."""
    ours = sum(n for name, n in late.items() if name.startswith("mixhost"))
    return (f"the server logged {late.get('server', 0)} of its own cycles late, {late.get(sender, 0)} cycles "
            f"with the sender unfinished, {ours} with mixhost's clients unfinished")


def _server_words(kind: str) -> str:
    return "jackd -R" if kind == "realtime" else "jackd --no-realtime"


def _latency_rows(path: Path, kind: str, quick: bool) -> list[dict[str, Any]]:
    rows = []
    for period in PERIODS:
        name = _name(kind, f"latency.p{period}")
        with _server(period, kind) as server:
            if server is None:
                rows.append(row(name, None, "<= 1.00 (p99 <= period + 1 ms)", False,
                                f"not measured: no {_server_words(kind)} server at {period} frames could be started"))
                continue
            r = latency(path, server.name, period, 100 if quick else 400)
        lat = r["latencies"]
        limit = r["period_s"] + 0.001
        p50, p99 = (float(v) for v in np.percentile(lat, [50, 99])) if len(lat) else (float("nan"),) * 2
        rows.append(row(name, p99 / limit, "<= 1.00 (p99 <= period + 1 ms)",
                        p99 <= limit and len(lat) == r["sent"],
                        f"{_server_words(kind)}: CC sent -> end of the render of the first block carrying it: "
                        f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms (limit {limit * 1000:.2f} ms); "
                        f"{len(lat)} of {r['sent']} messages found applied, {r['routed']} of them by the engine "
                        "at the start of the block of their cycle; the surface's own sets -> the block start "
                        "carrying them: " + _percentiles_ms(r["hops"])))
    return rows


def _sustained_rows(path: Path, folder: Path, kind: str, seconds: float) -> list[dict[str, Any]]:
    """The sustained row, and on the --no-realtime server the Mackie bank switch."""
    with _server(128, kind) as server:
        if server is None:
            return [row(_name(kind, "sustained"), None, "-", False,
                        f"not measured: no {_server_words(kind)} server at 128 frames")]
        s = sustained(path, server, seconds)
        b = bank_switch(folder, server.name) if kind == "no-realtime" else None
    loaded = s["loaded"]
    mine, theirs = s["xruns"], loaded["xruns"]
    # JACK tells every client of every xrun, so no idle client beside mixhost can be the
    # reference in the same run: the stall probe is (see stalls.py)
    rows = [row(_name(kind, "sustained"), mine.cycles / max(theirs.cycles, 1),
                "received == sent, and late cycles <= the idle client's under the same stream, or each just "
                "after a machine stall",
                s["received"] == s["sent"] and (mine.cycles <= theirs.cycles or mine.own == 0),
                f"{_server_words(kind)}: {s['sent']} CCs at {CC_RATE}/s (sent in {s['took']:.2f} s): "
                f"{s['received']} received ({s['routed']} applied by the engine itself; the gate kept {s['kept']}); "
                f"mixhost: {mine} ({_late_words(s['late'], s['sender'])}; "
                f"{s['stalls'].words(mine.cycles, mine.explained)}); an idle client the sender "
                f"streamed the same to: {theirs} ({_late_words(loaded['late'], s['sender'])}); "
                f"an idle client with no stream: {s['idle']} in as long; 128 frames")]
    if b is None:
        return rows
    runs = b["runs"]
    worst = max(r["ms"] for r in runs)
    dropped = sum(r["sent"] - r["received"] for r in runs)
    rows.append(row("midi.bank", worst / 20.0, "<= 1.00 (redraw <= 20 ms, nothing dropped)",
                    worst <= 20.0 and dropped == 0 and all(r["failed"] == 0 for r in runs),
                    "Mackie bank switch of 16 strips: note -> last fader/ring/scribble message received: "
                    + ", ".join(f"{r['ms']:.1f} ms ({r['redraw']} redraw messages; {r['sent']} sent, "
                                f"{r['received']} received in 0.3 s)" for r in runs) + "; 128 frames"))
    return rows
