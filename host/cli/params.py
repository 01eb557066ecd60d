"""`mixhost params SESSION [--json] [--match GLOB]`"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._common import out, table


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "params", help="list every controllable parameter of a session",
        description="List the parameter registry: each address with its value, range, unit and scale. "
                    "These addresses are what automation, the Python API, MIDI and OSC control.",
    )
    parser.add_argument("session", type=Path, help="the session YAML file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--match", default=None, metavar="GLOB", help="only addresses matching, e.g. 'tracks/*/gain_db'")
    parser.add_argument("--live", action="store_true",
                        help="also list the transport/... addresses `mixhost live` adds for controllers")


def run(args: argparse.Namespace) -> int:
    from ..session import load_session

    session = load_session(args.session)
    if args.live:
        from ..live.transport_params import register

        register(session.registry)
    rows = session.params()
    if args.match:
        wanted = {p.address for p in session.registry.find(args.match)}
        rows = [r for r in rows if r["address"] in wanted]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = ["address", "value", "range", "unit", "scale"]
    body = [[r["address"], r["value"], "|".join(r["choices"]) if r["choices"] else f"{r['min']:g} .. {r['max']:g}",
             r["unit"], r["scale"]] for r in rows]
    out.print(table(None, columns, body))
    return 0
