"""`mixhost validate SESSION`"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import out


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate", help="check a session file and its audio without rendering",
        description="Check the session against the schema, its routing, stages, parameters, automation "
                    "and audio files (existence, length, channels, rate, NaN/Inf) without rendering.",
    )
    parser.add_argument("session", type=Path, help="the session YAML file")


def run(args: argparse.Namespace) -> int:
    from ..engine.render import validate_outputs
    from ..session import load_session
    from ..session.audio_check import check_audio

    session = load_session(args.session)
    validate_outputs(session)  # an output over an input, or a name its format contradicts
    for note in check_audio(session):
        out.print(str(note), soft_wrap=True)  # one line each: easy to grep
    plan = session.plan
    out.print(f"{args.session}: OK ({len(plan.tracks)} tracks, {len(plan.buses)} buses, "
              f"{len(session.registry)} parameters, {len(session.lanes)} automation lanes)")
    return 0
