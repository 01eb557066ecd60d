"""`mixhost validate SESSION`"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import out


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate", help="check a session file and its audio without rendering",
        description="Check the session against the schema, its routing, stages, parameters, automation, "
                    "snapshots, MIDI mappings (`controllers:` and the map files it includes) and audio files "
                    "(existence, length, channels, rate, NaN/Inf) without rendering.",
    )
    parser.add_argument("session", type=Path, help="the session YAML file")
    parser.add_argument("--midi-map", action="append", default=[], metavar="NAME|PATH",
                        help="also check this MIDI map file against the session, as `mixhost live --midi-map` "
                             "would (repeatable)")


def run(args: argparse.Namespace) -> int:
    from ..control.launch import check_controls
    from ..engine.render import validate_outputs
    from ..live import transport_params
    from ..session import load_session
    from ..session.audio_check import check_audio

    session = load_session(args.session)
    validate_outputs(session)  # an output over an input, or a name its format contradicts
    transport_params.register(session.registry)   # as a live engine does: `transport/...` targets are real
    mappings, snapshots = check_controls(session, args.midi_map)   # as `mixhost live` checks them
    for note in check_audio(session):
        out.print(str(note), soft_wrap=True)  # one line each: easy to grep
    plan = session.plan
    out.print(f"{args.session}: OK ({len(plan.tracks)} tracks, {len(plan.buses)} buses, "
              f"{len(session.registry)} parameters, {len(session.lanes)} automation lanes, "
              f"{snapshots} snapshots, {mappings} MIDI mappings)")
    return 0
