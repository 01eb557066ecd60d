#!/usr/bin/env python3
"""Render mix variations of a session: vocal up, vocal down, no reverb, mono check.

The usual deliverables a mix engineer sends alongside the main mix, made from
one session through the Python API:

    python scripts/render_variations.py examples/demo/session.yaml -o examples/demo/out/variations

Each variation sets parameters through the same registry that automation,
MIDI and OSC use, renders, and puts the session back as it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import host

# name -> {parameter address glob: value}
VARIATIONS: dict[str, dict[str, float | bool]] = {
    "main": {},
    "vocal-up": {"tracks/vocal*/gain_db": +1.5},
    "vocal-down": {"tracks/vocal*/gain_db": -1.5},
    "no-reverb": {"buses/verb/mute": True},
    "instrumental": {"tracks/vocal*/mute": True},
}


def apply(session: host.Session, changes: dict[str, float | bool]) -> dict[str, object]:
    """Apply changes (relative for gain addresses); return the values to restore.

    A gain that is automated is moved by shifting its automation lane, since
    the lane, not the static value, decides what is heard.
    """
    before: dict[str, object] = {}
    lanes = {lane.address: lane for lane in session.lanes}
    for pattern, value in changes.items():
        for param in session.registry.find(pattern):
            current = session.get(param.address)
            before[param.address] = current
            if not param.address.endswith("gain_db") or isinstance(value, bool):
                session.set(param.address, value)
                continue
            if param.address in lanes:
                lanes[param.address].values += float(value)
            session.set(param.address, float(current) + float(value))  # type: ignore[arg-type]
    return before


def restore(session: host.Session, changes: dict[str, float | bool], before: dict[str, object]) -> None:
    lanes = {lane.address: lane for lane in session.lanes}
    for pattern, value in changes.items():
        for param in session.registry.find(pattern):
            if param.address in lanes and param.address.endswith("gain_db") and not isinstance(value, bool):
                lanes[param.address].values -= float(value)
    for address, old in before.items():
        session.set(address, old)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("session", type=Path)
    parser.add_argument("-o", "--out-dir", type=Path, default=None, help="default: <session folder>/out/variations")
    args = parser.parse_args(argv)
    try:
        session = host.load_session(args.session)
    except host.MixhostError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    out_root = args.out_dir or args.session.parent / "out" / "variations"
    print(f"{'variation':<14}{'peak dBFS':>10}{'x real time':>13}  file")
    for name, changes in VARIATIONS.items():
        before = apply(session, changes)
        result = session.render(out_root / name)
        restore(session, changes, before)
        print(f"{name:<14}{result.peak_dbfs:>10.2f}{result.realtime_factor:>13.1f}  {result.outputs[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
