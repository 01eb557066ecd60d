"""`mixhost midi ports`"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "midi", help="MIDI control surfaces: list ports",
        description="MIDI ports for `mixhost live --midi-in/--midi-out` (JACK MIDI where a JACK server "
                    "runs, else ALSA; CoreMIDI on macOS, WinMM on Windows).",
    )
    commands = parser.add_subparsers(dest="midi_command", metavar="SUBCOMMAND", required=True)
    commands.add_parser("ports", help="list the MIDI ports mixhost can read from and send to")


def run(args: argparse.Namespace) -> int:
    from ..control.midi.ports import list_ports

    found = list_ports()
    print(f"MIDI ports ({found.api}):")
    print("  inputs (for --midi-in):")
    for name in found.inputs or ["(none)"]:
        print(f"    {name}")
    print("  outputs (for --midi-out):")
    for name in found.outputs or ["(none)"]:
        print(f"    {name}")
    return 0
