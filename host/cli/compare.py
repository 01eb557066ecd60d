"""`mixhost compare A B [--json] [--html REPORT]`"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import guard_report, need_plots, out, table, write_report
from .analyze import emit


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="loudness-matched A/B of two mix versions",
        description=(
            "Compare two versions of a mix at matched loudness: loudness, dynamics (LRA, PLR, "
            "crest), stereo, and the spectral difference B − A in octave and 1/3-octave bands."
        ),
    )
    parser.add_argument("a", type=Path, metavar="A", help="the first version")
    parser.add_argument("b", type=Path, metavar="B", help="the second version")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument(
        "--html", type=Path, metavar="REPORT", help="write an HTML report with plots"
    )


def run(args: argparse.Namespace) -> int:
    need_plots(args.html)
    from ..analysis.comparison import METRICS, compare_files, write_comparison_html
    from ..analysis.reportkit import format_value

    if args.html:
        guard_report(args.html, [args.a, args.b])
    comparison = compare_files(args.a, args.b)
    if args.json:
        emit(comparison.to_json())
    else:
        rows = []
        for m in METRICS:
            va, vb = getattr(comparison.a, m.key), getattr(comparison.b, m.key)
            rows.append(
                [
                    m.label,
                    format_value(va, m.unit, 2, signed=not m.unit),
                    format_value(vb, m.unit, 2, signed=not m.unit),
                    format_value(vb - va, "", 2, signed=True),
                ]
            )
        for band, diff in comparison.octave_difference_db().items():
            difference = format_value(diff, "dB", 2, signed=True)
            rows.append([f"{band} Hz octave (B − A)", "", "", difference])
        out.print(table(f"A: {args.a}   B: {args.b}", ["", "A", "B", "B − A"], rows))
        for finding in comparison.findings:
            out.print(f"- {finding}")
    if args.html:
        write_report(
            args.html, lambda path: write_comparison_html(comparison, path), quiet=args.json
        )
    return 0

