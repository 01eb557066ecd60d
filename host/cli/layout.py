"""`mixhost layout SESSION [--touchosc OUT.tosc] [--open-stage-control OUT.json] [--target HOST:PORT]`"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import out


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "layout", help="write a tablet layout (TouchOSC, Open Stage Control) for a session's OSC control",
        description="Generate a tablet control layout from the session's parameter registry: a mixer page "
                    "(a fader, meter, pan and send knobs, mute/solo/select per track and bus, and the "
                    "master), a page per strip for its stages, transport and snapshots. Every control "
                    "speaks the OSC addresses of `mixhost live --osc`, faders through each parameter's "
                    "own taper (/ADDRESS/norm).",
    )
    parser.add_argument("session", type=Path, help="the session YAML file")
    parser.add_argument("--touchosc", type=Path, metavar="OUT.tosc", help="write a TouchOSC layout here")
    parser.add_argument("--open-stage-control", type=Path, metavar="OUT.json",
                        help="write an Open Stage Control session here")
    parser.add_argument("--target", metavar="HOST:PORT", default=None,
                        help="where the Open Stage Control widgets send (default: its server's send setting)")


def run(args: argparse.Namespace) -> int:
    from ..atomic import OutputSet
    from ..control.osc import open_stage_control, touchosc
    from ..control.osc.layout import build_layout
    from ..control.snapshots import Snapshots
    from ..errors import UserInputError
    from ..live.transport_params import register
    from ..outputs import Output, prepare
    from ..session import load_session
    from ..session.relocation import session_files

    wanted = [(path, option, suffix) for path, option, suffix in (
        (args.touchosc, "--touchosc", touchosc.SUFFIX),
        (args.open_stage_control, "--open-stage-control", open_stage_control.SUFFIX)) if path is not None]
    if not wanted:
        raise UserInputError("no layout to write", hint="add --touchosc OUT.tosc and/or "
                                                        "--open-stage-control OUT.json")
    for path, option, suffix in wanted:
        if path.suffix.lower() != suffix:
            raise UserInputError(f"{option} {path}: a {option[2:]} layout is a {suffix} file",
                                 hint=f"name it {path.with_suffix(suffix).name}")
    target = _target(args.target)
    # before any work: no layout replaces the session or a file it names, nor the other layout
    prepare([Output(path, f"write the layout to another file ({option})", (suffix,))
             for path, option, suffix in wanted], session_files(args.session))
    session = load_session(args.session)
    register(session.registry)   # transport/... as `mixhost live` adds them
    layout = build_layout(session.registry, title=session.title, snapshots=Snapshots(session).names())
    with OutputSet() as staged:   # both land together, or neither
        if args.touchosc:
            touchosc.write_touchosc(layout, staged.stage(args.touchosc))
        if args.open_stage_control:
            open_stage_control.write_open_stage_control(layout, staged.stage(args.open_stage_control), target)
        staged.land()
    controls = sum(1 for _ in layout.controls())
    out.print(f"layout: {len(layout.pages)} pages, {controls} controls -> "
              + ", ".join(str(path) for path, _, _ in wanted))
    return 0


def _target(text: str | None) -> str | None:
    """``HOST:PORT`` checked (the port a number in 1..65535), or None."""
    if text is None:
        return None
    from ..errors import UserInputError

    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserInputError(f"--target {text!r}: expected HOST:PORT, e.g. 192.168.1.20:9000")
    return text
