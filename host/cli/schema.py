"""`mixhost schema [--chain]`"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema", help="print the session file schema as JSON Schema",
        description="Print the JSON Schema of session files (or chain files with --chain), for editors "
                    "such as VS Code (yaml.schemas) to validate and autocomplete.",
    )
    parser.add_argument("--chain", action="store_true", help="the schema of chain files instead")


def run(args: argparse.Namespace) -> int:
    from ..session.schema import chain_schema, session_schema

    print(json.dumps(chain_schema() if args.chain else session_schema(), indent=2))
    return 0
