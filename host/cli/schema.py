"""`mixhost schema [--chain | --controller]`"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema", help="print the session file schema as JSON Schema",
        description="Print the JSON Schema of session files (chain files with --chain, MIDI controller "
                    "map files with --controller), for editors "
                    "such as VS Code (yaml.schemas) to validate and autocomplete.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--chain", action="store_true", help="the schema of chain files instead")
    which.add_argument("--controller", action="store_true", help="the schema of MIDI controller map files")


def run(args: argparse.Namespace) -> int:
    from ..session.schema import chain_schema, controller_schema, session_schema

    schema = chain_schema() if args.chain else controller_schema() if args.controller else session_schema()
    print(json.dumps(schema, indent=2))
    return 0
