"""`mixhost learn SESSION --midi-in NAME [--param ADDRESS] [--map FILE]`"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import err


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "learn", help="map a MIDI control to a parameter by moving it",
        description="Pick a parameter (--param, or from a list), move a control on the MIDI device, and "
                    "the mapping is written into the session's `controllers:` (or --map FILE), comments "
                    "kept. The kind is told from the data: 7-bit or 14-bit CC, NRPN/RPN, pitch bend, "
                    "note, or a relative encoder and its encoding; where the data cannot tell, you are "
                    "asked.",
    )
    parser.add_argument("session", type=Path, help="the session YAML file")
    parser.add_argument("--midi-in", required=True, metavar="NAME", help="the MIDI port to listen to")
    parser.add_argument("--param", default=None, metavar="ADDRESS", help="the parameter to map")
    parser.add_argument("--map", type=Path, default=None, metavar="FILE",
                        help="write into this map file (made if missing) instead of the session")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S",
                        help="how long to wait for the first message (default 30 s)")


def run(args: argparse.Namespace) -> int:
    from ..control.midi.learn import Learner, add_mapping, detect
    from ..control.midi.messages import InputCounts, decode
    from ..control.midi.ports import MidiInput
    from ..errors import UserInputError
    from ..session import load_session

    session = load_session(args.session)
    address = args.param or _pick(session)
    session.registry.param(address)     # an unknown address: a did-you-mean, exit 2
    port = MidiInput(args.midi_in)
    port.open()
    learner = Learner()
    counts = InputCounts()
    err.print(f"listening on {port.connected}: move the control for {address}")
    try:
        import threading

        stop = threading.Event()

        def pump() -> None:
            while not stop.is_set():
                for data in port.read():
                    message = decode(data, counts)
                    if message is not None:
                        learner.feed(message)
                stop.wait(0.001)

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        gesture = learner.wait(args.timeout)
        stop.set()
        thread.join()
    finally:
        port.close()
    detected = detect(gesture)
    if detected is None:
        raise UserInputError(f"no usable MIDI message arrived within {args.timeout:g} s",
                             hint="check --midi-in with `mixhost midi ports`, and move the control")
    entry = dict(detected.entry)
    if detected.choices:
        entry = _ask(entry, detected)
    entry["target"] = address
    target = args.map if args.map is not None else args.session
    add_mapping(target, entry, in_session=args.map is None, inputs=session.referenced_files())
    shown = ", ".join(f"{k}: {v}" for k, v in entry.items())
    print(f"mapped {{{shown}}} into {target}")
    return 0


def _pick(session: Any) -> str:
    from ..errors import UserInputError

    if not sys.stdin.isatty():
        raise UserInputError("which parameter? give --param ADDRESS", hint="`mixhost params SESSION` lists them")
    rows = [p for p in session.registry if not p.spec.read_only]
    for index, param in enumerate(rows, 1):
        print(f"{index:4d}  {param.address}")
    answer = input("parameter number or address: ").strip()
    return rows[int(answer) - 1].address if answer.isdigit() and 0 < int(answer) <= len(rows) else answer


def _ask(entry: dict[str, Any], detected: Any) -> dict[str, Any]:
    err.print(f"mixhost learn: {detected.note}")
    if not sys.stdin.isatty():
        err.print(f"mixhost learn: writing {entry.get('encoding', 'absolute')}; edit the entry if that is wrong")
        return entry
    choice = input(f"which kind? ({', '.join(detected.choices)}) ").strip()
    if choice in detected.choices:
        entry = {k: v for k, v in entry.items() if k != "encoding"}
        if choice != "absolute":
            entry["encoding"] = choice
    return entry
