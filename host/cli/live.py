"""`mixhost live SESSION [--audio jack|sounddevice|none] [--record-automation MODE] ...`"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..control.keys import RESUMED, Keys
from ._common import err, kernels_pending, say_compiling

if TYPE_CHECKING:
    from ..control.autosave import Autosave
    from ..control.midi.learn import ArmedLearn
    from ..control.surface import Surfaces
    from ..live.engine import LiveEngine
    from ..live.recorder import AutomationRecorder
    from ..session import Session

STATUS_S = 0.25       # status line refresh
POLL_S = 0.02         # the control loop: observers, recorder, stop conditions


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "live", help="play a session in real time (JACK, PortAudio, or headless)",
        description="Play the session's tracks through their chains in real time, or process live "
                    "input (tracks with `input:` ports) as an insert host. A status line shows the "
                    "transport position, DSP load, xruns and meters. Ctrl-C quits cleanly. "
                    "Panic: SIGUSR1 stops the transport and silences everything until SIGUSR2 "
                    "(`kill -USR1 <pid>`). Keys, when run in a terminal: space play/stop, 0 or Home "
                    "back to the start, l loop on/off (with --loop), p panic/resume, s save, m MIDI learn "
                    "(touch a parameter, move a control; Esc cancels), q quit.",
    )
    parser.add_argument("session", type=Path, help="the session YAML file")
    parser.add_argument("--audio", choices=["jack", "sounddevice", "none"], default="jack",
                        help="audio backend (none: a clock-driven loop without sound)")
    parser.add_argument("--record-automation", choices=["write", "latch", "touch"], default=None,
                        help="record parameter moves into the session's automation lanes; saved on stop")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: at the end of the session, or Ctrl-C)")
    parser.add_argument("--connect", nargs="+", default=None, metavar="PORT",
                        help="JACK ports to connect out_L/out_R to (default: the system playback ports)")
    parser.add_argument("--no-connect", action="store_true", help="JACK: do not auto-connect the outputs")
    parser.add_argument("--follow-transport", action="store_true",
                        help="JACK: follow the JACK transport (start, stop, locate) of a DAW")
    parser.add_argument("--block", type=int, default=None, metavar="N",
                        help="block size for --audio none/sounddevice (JACK uses its period)")
    parser.add_argument("--name", default="mixhost", help="JACK client name")
    parser.add_argument("--ahead", type=int, default=0, metavar="N",
                        help="JACK: render N periods ahead; JACK's thread then runs no Python, so a busy "
                             "machine costs no xruns, at N periods more latency (about 10 ms is enough: "
                             "4 at 128 frames, 2 at 256)")
    parser.add_argument("--allow-cpu-sleep", action="store_true",
                        help="leave CPU power management alone; by default, while playing to a device, "
                             "mixhost asks Linux (PM QoS) to keep the CPUs out of sleep states, which "
                             "costs power but saves wake-up time every period")
    parser.add_argument("--device", default=None, metavar="DEVICE",
                        help="--audio sounddevice: the device, by number or part of its name "
                             "(`python -m sounddevice` lists them; default: the system's default)")
    parser.add_argument("--start", type=float, default=0.0, metavar="S", help="start playing at S seconds")
    parser.add_argument("--loop", type=float, nargs=2, default=None, metavar=("A", "B"),
                        help="loop from A to B seconds")
    parser.add_argument("--no-status", action="store_true", help="no status line")
    midi = parser.add_argument_group("control surfaces (MIDI)")
    midi.add_argument("--midi-in", default=None, metavar="NAME",
                      help="read MIDI from the port NAME matches (loosely: case and spaces ignored, a part "
                           "will do); `mixhost midi ports` lists them")
    midi.add_argument("--midi-out", default=None, metavar="NAME",
                      help="send feedback (motor faders, LEDs, displays) to the port NAME matches")
    midi.add_argument("--midi-map", action="append", default=[], metavar="NAME|PATH",
                      help="a MIDI map file: a name in controllers/ or a path (repeatable); the session's "
                           "`controllers:` key is always read")
    midi.add_argument("--midi-profile", choices=["mcu"], default=None,
                      help="mcu: Mackie Control (MCU, X-Touch and compatibles in MC mode), no map needed")
    midi.add_argument("--midi-virtual", action="store_true",
                      help="open MIDI ports (mixhost-midi-in:in, mixhost-midi-out:out) that other "
                           "programs connect to")
    osc = parser.add_argument_group("control surfaces (OSC: tablets, scripts)")
    osc.add_argument("--osc", action="store_true",
                     help="serve the session's parameters over OSC (UDP); see README, Control surfaces: OSC")
    osc.add_argument("--osc-port", type=int, default=None, metavar="PORT", help="OSC UDP port (default 9000)")
    osc.add_argument("--osc-bind", default=None, metavar="ADDRESS",
                     help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every "
                          "interface, with --osc-allow)")
    osc.add_argument("--osc-allow", action="append", default=[], metavar="CIDR",
                     help="let peers from this network in (repeatable; default: this machine only); "
                          "datagrams from elsewhere are dropped and counted")
    osc.add_argument("--osc-meter-hz", type=float, default=None, metavar="HZ",
                     help="meter messages per second to subscribers (default 20; 0: none)")
    osc.add_argument("--no-zeroconf", action="store_true",
                     help="do not advertise the OSC server on the network (_osc._udp)")
    web = parser.add_argument_group("control surfaces (browser)")
    web.add_argument("--web", nargs="?", const="127.0.0.1:8080", default=None, metavar="[HOST:]PORT",
                     help="serve a mixer page to browsers (default 127.0.0.1:8080); on a network address "
                          "the printed URL (and QR code) carries a token made for this run")
    web.add_argument("--web-allow", action="append", default=[], metavar="CIDR",
                     help="let only browsers from this address range in (repeatable; this machine always)")
    parser.add_argument("--save", action="store_true",
                        help="at the end, write the mix into the session file (comments kept)")
    parser.add_argument("--recover", action="store_true",
                        help="take the values of an autosave newer than the session (after a crash)")


def run(args: argparse.Namespace) -> int:
    pending = kernels_pending()
    from ..live.engine import LiveEngine
    from ..live.scheduling import make_normal
    from ..session import load_session

    signal.signal(signal.SIGTERM, _interrupt)
    _check_options(args)
    session = load_session(args.session)
    if pending:
        say_compiling()
    options: dict[str, Any] = {}
    if args.audio == "jack":
        options = {"client_name": args.name, "connect": args.connect, "auto_connect": not args.no_connect,
                   "ahead": args.ahead}
    elif args.audio == "sounddevice":
        options = {"device": args.device}
    engine = LiveEngine(session, args.block, args.audio, follow_transport=args.follow_transport,
                        record=args.record_automation, keep_cpu_awake=False if args.allow_cpu_sleep else None,
                        **options)
    surfaces = _surfaces(session, engine, args)
    autosave = _autosave(session, args, bool(surfaces))
    recorder = None
    if args.record_automation:
        from ..live.recorder import AutomationRecorder

        recorder = AutomationRecorder(engine, args.record_automation)
    interrupted = False
    panic = _PanicSignals(engine)
    keys = Keys.open_if_terminal()
    learn: ArmedLearn | None = None
    try:
        engine.open()   # inside the try: a failed open still stops what it started
        _position(engine, args)
        surfaces.open()   # before the engine's JACK callback runs (see host.control.midi.ports)
        learn = _learn(surfaces)
        _report_surfaces(surfaces)
        engine.start(play=True)
        ahead = (f", rendered {args.ahead} blocks ({args.ahead * engine.period_s * 1000:.1f} ms) ahead"
                 if args.ahead else "")
        awake = "; CPU sleep states off" if engine.cpu_request is not None and engine.cpu_request.held else ""
        err.print(f"mixhost live: playing ({args.audio}, {engine.block_size}-frame blocks at "
                  f"{session.sample_rate} Hz{ahead}{awake}); Ctrl-C stops")
        _report_cpu_request(engine)
        # the loop runs Python (observers, autosave, surfaces' housekeeping) holding the GIL the
        # audio callback needs: under a realtime server it runs realtime (host.live.scheduling)
        engine.schedule_helper(threading.get_native_id())
        _control_loop(engine, recorder, args, panic, keys, surfaces, autosave, learn)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        make_normal(threading.get_native_id())
        if keys is not None:
            keys.close()
        if learn is not None:
            learn.close()
        panic.restore()
        _shutdown(engine)
        surfaces.close()   # after the engine's JACK callback stopped (see host.control.midi.ports)
    _finish_saving(session, args, autosave)
    failed = engine.error if engine.error is not None and not isinstance(engine.error, KeyboardInterrupt) else None
    if failed is None:
        _summary(engine, args, interrupted)
    if recorder is not None and engine.graph is not None:
        _save_recording(recorder, session, args, failed is not None)  # a take survives a device failure
    if failed is not None:
        raise failed
    return 130 if interrupted else 0


def _surfaces(session: Session, engine: LiveEngine, args: argparse.Namespace) -> Surfaces:
    """The control surfaces asked for, maps checked (a bad map: exit 2 before anything plays)."""
    from ..control.launch import SurfaceOptions, build_surfaces

    options = SurfaceOptions(midi_in=args.midi_in, midi_out=args.midi_out, midi_maps=list(args.midi_map),
                             midi_profile=args.midi_profile, midi_virtual=args.midi_virtual,
                             osc=args.osc, osc_allow=list(args.osc_allow), zeroconf=not args.no_zeroconf,
                             web=args.web, web_allow=list(args.web_allow))
    for name in ("osc_port", "osc_bind", "osc_meter_hz"):
        if getattr(args, name) is not None:
            setattr(options, name, getattr(args, name))
    return build_surfaces(session, engine, options)


def _autosave(session: Session, args: argparse.Namespace, surfaces: bool) -> Autosave | None:
    """Offer an autosave left by an earlier run; autosave this one when a surface can change the mix."""
    from ..control.autosave import Autosave, newer_autosave, recover

    found = newer_autosave(session.path)
    if found is not None and args.recover:
        changed = recover(session, found)
        err.print(f"mixhost live: recovered {len(changed)} value(s) from {found}")
    elif found is not None:
        err.print(f"mixhost live: {found} is newer than the session: a mix made by hand and not saved; "
                  "--recover takes it (delete the file to drop it)")
    elif args.recover:
        err.print("mixhost live: no autosave newer than the session: nothing to recover")
    return Autosave(session) if surfaces or args.save else None


def _finish_saving(session: Session, args: argparse.Namespace, autosave: Autosave | None) -> None:
    if autosave is None:
        return
    if args.save and session.document is not None:
        _save_now(session, args, autosave)
    else:
        autosave.write()   # the last moves too: the next start offers them
    autosave.close()


def _save_now(session: Session, args: argparse.Namespace, autosave: Autosave | None) -> None:
    """A surface's save button: the session file gets the mix now, comments kept."""
    session.save()
    if autosave is not None:
        autosave.discard()
    err.print(f"\nmixhost live: saved the mix into {args.session}")


def _learn(surfaces: Surfaces) -> ArmedLearn | None:
    """MIDI learn for the m key (and other surfaces, through the context) when a map-driven MIDI surface runs."""
    from ..control.midi.learn import ArmedLearn

    learn = ArmedLearn.for_surfaces(surfaces.context, surfaces.surfaces)
    if learn is not None:
        learn.open()
        surfaces.context.learn = learn
    return learn


def _report_surfaces(surfaces: Surfaces) -> None:
    for surface in surfaces.surfaces:
        err.print(f"mixhost live: {surface.describe()}; it keeps running at the session end until quit",
                  soft_wrap=True)
        token = getattr(getattr(surface, "access", None), "token", None)
        if token is not None:   # a browser on the network: the URL as a QR code for a tablet's camera
            from ..control.web.qr import terminal_qr

            sys.stderr.write(terminal_qr(surface.url))   # type: ignore[attr-defined]
            sys.stderr.flush()


def _report_cpu_request(engine: LiveEngine) -> None:
    request = engine.cpu_request
    # it plays without; where Linux could grant it, say what that costs and how to get it
    if request is not None and not request.held and request.device.exists():
        err.print(f"mixhost live: CPU sleep states stay on ({request.reason}); small periods may xrun more; "
                  "--allow-cpu-sleep silences this")


def _check_options(args: argparse.Namespace) -> None:
    """Options that make no sense together, refused before anything is loaded."""
    from ..errors import UserInputError

    if args.duration is not None and args.duration <= 0:
        raise UserInputError(f"--duration {args.duration}: give a positive number of seconds")
    if args.follow_transport and args.audio != "jack":
        raise UserInputError(f"--follow-transport follows the JACK transport; it needs --audio jack, "
                             f"not --audio {args.audio}", hint="drop --follow-transport, or use --audio jack")
    if args.device is not None and args.audio != "sounddevice":
        raise UserInputError(f"--device chooses a PortAudio device; it needs --audio sounddevice, "
                             f"not --audio {args.audio}",
                             hint="with JACK, route the outputs with --connect PORT PORT")
    osc_only = [flag for flag, given in (("--osc-port", args.osc_port is not None),
                                         ("--osc-bind", args.osc_bind is not None),
                                         ("--osc-allow", bool(args.osc_allow)),
                                         ("--osc-meter-hz", args.osc_meter_hz is not None)) if given]
    if osc_only and not args.osc:
        raise UserInputError(f"{osc_only[0]} configures the OSC server; it needs --osc", hint="add --osc")
    if args.ahead < 0 or (args.ahead and args.audio != "jack"):
        raise UserInputError(f"--ahead {args.ahead}: give a number of periods from 1, with --audio jack",
                             hint="leave --ahead out to render in JACK's own thread")


def _save_recording(recorder: AutomationRecorder, session: Session, args: argparse.Namespace, failed: bool) -> None:
    written = recorder.finish()
    if written:
        session.save()
        err.print(f"recorded automation for {len(written)} parameter(s) into {args.session}"
                  + (" (what was recorded before the failure)" if failed else "") + ": " + ", ".join(written))
    else:
        err.print("no parameter moved: the session file is unchanged")


class _PanicSignals:
    """SIGUSR1 panics, SIGUSR2 lifts it; the control loop does the work (resume waits and resets)."""

    def __init__(self, engine: LiveEngine) -> None:
        self.engine = engine
        self.resume_wanted = False
        self._previous: dict[int, Any] = {}
        for number, handler in ((getattr(signal, "SIGUSR1", None), self._panic),
                                (getattr(signal, "SIGUSR2", None), self._resume)):
            if number is not None:  # not on Windows
                self._previous[number] = signal.signal(number, handler)

    def _panic(self, signum: int, frame: Any) -> None:
        self.engine.panic()

    def _resume(self, signum: int, frame: Any) -> None:
        self.resume_wanted = True

    def poll(self) -> None:
        if self.resume_wanted:
            self.resume_wanted = False
            _resume(self.engine)

    def restore(self) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)


def _position(engine: LiveEngine, args: argparse.Namespace) -> None:
    rate = engine.session.sample_rate
    if args.loop is not None:
        start, end = (int(round(s * rate)) for s in args.loop)
        engine.transport.set_loop(start, end)
    if args.start:
        engine.transport.locate_seconds(args.start)


def _control_loop(engine: LiveEngine, recorder: AutomationRecorder | None, args: argparse.Namespace,
                  panic: _PanicSignals, keys: Keys | None = None, surfaces: Surfaces | None = None,
                  autosave: Autosave | None = None, learn: ArmedLearn | None = None) -> None:
    started = time.monotonic()
    shown = 0.0
    end = _end_position(engine, args)
    status = not args.no_status and err.is_terminal
    registry = engine.session.registry
    seen_events = 0
    while True:
        time.sleep(POLL_S)
        registry.dispatch_pending()
        if surfaces:
            surfaces.poll()
            if surfaces.context.save_requested.is_set():
                surfaces.context.save_requested.clear()
                _save_now(engine.session, args, autosave)
        if learn is not None:
            _poll_learn(learn, autosave)
        if autosave is not None:
            autosave.poll()
        if recorder is not None:
            recorder.poll()
        if engine.error is not None:
            return
        panic.poll()
        if keys is not None and not keys.handle(engine, _say, follow_transport=args.follow_transport,
                                                save=lambda: _save_now(engine.session, args, autosave),
                                                learn=learn):
            break
        now = time.monotonic()
        seen_events = _report_events(engine, seen_events)
        if status and now - shown >= STATUS_S:
            shown = now
            sys.stderr.write("\r" + status_line(engine) + "\x1b[K")
            sys.stderr.flush()
        if args.duration is not None and now - started >= args.duration:
            break
        if end is not None and engine.transport.position >= end:
            if not surfaces:
                break
            if engine.clock.rolling:   # with a surface the run goes on, stopped at the end, until quit
                engine.transport_command("stop", source="engine")
    if status:
        sys.stderr.write("\n")


def _poll_learn(learn: ArmedLearn, autosave: Autosave | None) -> None:
    """Tell what learn did; a mapping written into the session file keeps an autosave newer than it."""
    learnt = len(learn.learnt)
    for text in learn.poll():
        _say(text)
    if len(learn.learnt) > learnt and autosave is not None and autosave.path.exists():
        autosave.write()   # else the session, just written, would look newer than the unsaved mix


def _resume(engine: LiveEngine) -> None:
    """Lift a panic (SIGUSR2)."""
    if engine.resume():
        _say(RESUMED)


def _say(text: str) -> None:
    err.print(f"\nmixhost live: {text}")


def _end_position(engine: LiveEngine, args: argparse.Namespace) -> int | None:
    """Where playback ends by itself: the session's end, unless it loops, follows or has live input."""
    if args.duration is not None or args.loop or args.follow_transport or engine.inputs:
        return None
    tail = float(engine.session.config.get("outputs", {}).get("tail_s", 0))
    assert engine.graph is not None
    return int(engine.length + engine.graph.latency + tail * engine.session.sample_rate)


def _report_events(engine: LiveEngine, seen: int) -> int:
    """Print the events numbered ``seen`` and later; returns the next number to wait for."""
    events = [e for e in list(engine.events) if e.number >= seen]
    if events and events[0].number > seen:  # more arrived than the engine keeps
        err.print(f"\nmixhost live: {events[0].number - seen} earlier safety event(s) not shown")
    for event in events:
        where = f"{event.position / engine.session.sample_rate:.3f} s"
        text = {"nan": "produced NaN/Inf: muted/bypassed", "stage-failed": "failed: muted/bypassed",
                "panic": "panic: stopped and silenced (SIGUSR2 resumes)"}.get(event.kind, event.kind)
        err.print(f"\nmixhost live: {event.address or 'mix'} {text} (at {where})")
        seen = event.number + 1
    return seen


def status_line(engine: LiveEngine) -> str:
    """Position, transport state, DSP load (last second and p99), xruns, underruns, peak meters."""
    rate = engine.session.sample_rate
    seconds = engine.transport.position / rate
    state = "PANIC" if engine.panicked else "play" if engine.clock.rolling else "stop"
    load = engine.recent_load(1.0) * 100
    peaks = engine.take_peaks()   # the status line's own place in the meter ring
    meters = " ".join(f"{_dbfs(p):6.1f}" for p in peaks)
    minutes, secs = divmod(seconds, 60)
    text = (f"{int(minutes):02d}:{secs:06.3f} {state}  DSP {load:4.1f}%  xruns {_xruns(engine)}  "
            f"L/R {meters} dBFS")
    if engine.underruns:
        text += f"  underruns {engine.underruns}"
    return text


def _xruns(engine: LiveEngine) -> str:
    """The xrun count; rendering ahead, how many of them were mixhost's own late renders."""
    late = engine.backend.late_renders
    return f"{engine.xruns}" + (f" ({late} late render{'s' * (late != 1)})" if late else "")


def _dbfs(value: float) -> float:
    return 20 * math.log10(value) if value > 1e-10 else -200.0


def _shutdown(engine: LiveEngine) -> None:
    """Stop the transport (so the recorder sees the end of the pass), then audio."""
    if engine.graph is not None and engine.clock.rolling:
        engine.transport.stop()
        deadline = time.monotonic() + 0.5
        while engine.clock.rolling and engine.error is None and time.monotonic() < deadline:
            time.sleep(0.005)
    engine.close()


def _summary(engine: LiveEngine, args: argparse.Namespace, interrupted: bool) -> None:
    loads = engine.callback_load()
    rate = engine.session.sample_rate
    text = f"played {engine.transport.position / rate:.2f} s, xruns {_xruns(engine)}"
    if len(loads):
        p50, p99 = (float(v) * 100 for v in _percentiles(loads))
        text += f", callback p50 {p50:.1f}% / p99 {p99:.1f}% of the period"
    if engine.underruns:
        text += f", disk underruns {engine.underruns}"
    err.print(("stopped: " if interrupted else "") + text)


def _percentiles(values: Any) -> tuple[float, float]:
    import numpy as np

    p50, p99 = np.percentile(values, [50, 99])
    return float(p50), float(p99)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
