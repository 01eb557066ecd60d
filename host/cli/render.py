"""`mixhost render SESSION [-o DIR] [-j N]`"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from ._common import err, kernels_pending, out, say_compiling, stop_on_sigterm, table


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render", help="render a session to audio files",
        description="Render a session: every track through its chain, sends and buses, into the master "
                    "and the output files named in `outputs:`. Outputs are written atomically.",
    )
    parser.add_argument("session", type=Path, help="the session YAML file")
    parser.add_argument("-o", "--out-dir", type=Path, help="write the outputs into this folder instead")
    parser.add_argument("-j", "--workers", type=int, default=None,
                        help="worker processes for the tracks (default: automatic)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    pending = kernels_pending()
    from ..session import load_session

    stop_on_sigterm()
    session = load_session(args.session)
    if pending:
        say_compiling()
    result = _render(session, args)
    peak = f"{result.peak_dbfs:.2f} dBFS" if math.isfinite(result.peak_dbfs) else "silent"
    rows = [
        ["output", ", ".join(str(p) for p in result.outputs)],
        ["duration", f"{result.duration_s:.2f} s"],
        ["peak", peak],
        ["time taken", f"{result.elapsed_s:.2f} s"],
        ["x real time", f"{result.realtime_factor:.1f}"],
        ["workers", str(result.workers) + (f" ({args.workers} asked: {result.workers_note})"
                                           if result.workers_note else "")],
    ]
    for address, achieved in result.loudness.items():
        rows.append([f"loudness {address}",
                     f"{achieved['integrated_lufs']:.2f} LUFS (target {achieved['target_lufs']:g})"])
        rows.append([f"true peak {address}",
                     f"{achieved['true_peak_dbtp']:.2f} dBTP (ceiling {achieved['ceiling_dbtp']:g})"])
    out.print(table(f"rendered {args.session}", ["", ""], rows))
    return 0


def _render(session: Any, args: argparse.Namespace) -> Any:
    if args.no_progress or not err.is_terminal:
        return session.render(args.out_dir, workers=args.workers)
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("rendering", total=None)
        return session.render(args.out_dir, workers=args.workers,
                              progress=lambda done, total: bar.update(task, completed=done, total=total))
