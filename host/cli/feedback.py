"""`mixhost feedback MIX [--session S] [--reference REF] [--target T] [--md F] [--html F] [--json]`"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import need_plots, out
from .analyze import emit


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "feedback",
        help="the mastering engineer's first listen: a report to the mix engineer",
        description=(
            "Measure a mix and report, for the mix engineer, on headroom, clipping and "
            "inter-sample overs, DC, phase and mono compatibility, low-end balance against a "
            "reference, harsh or sibilant bands, over-compression and loudness against the "
            "target.  Each finding gives the measured value, the threshold and a suggestion.  "
            "Prints Markdown unless --json; --md and --html write files."
        ),
    )
    parser.add_argument("mix", type=Path, metavar="MIX", help="the mix to listen to")
    parser.add_argument("--session", type=Path, help="the session file (its notes and references)")
    parser.add_argument("--reference", type=Path, metavar="REF", help="a reference track")
    parser.add_argument(
        "--target", default="spotify", metavar="T", help="loudness target (default: spotify)"
    )
    parser.add_argument("--md", type=Path, metavar="FILE", help="write the Markdown report here")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write an HTML report with plots")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")


def run(args: argparse.Namespace) -> int:
    need_plots(args.html)
    from ..analysis.feedback import (
        build_feedback,
        to_json,
        to_markdown,
        write_feedback_html,
        write_feedback_markdown,
    )
    from ..atomic import OutputSet
    from ..loudness.targets import resolve_target
    from ..outputs import HTML, MARKDOWN, Output, prepare
    from ..session.relocation import session_files

    # before any work: neither report replaces a file it reads, nor the other report
    prepare([Output(path, f"write the report to another file ({option})", kind)
             for path, option, kind in ((args.md, "--md", MARKDOWN), (args.html, "--html", HTML))
             if path is not None],
            [args.mix, args.reference, *(session_files(args.session) if args.session else [])])
    feedback = build_feedback(args.mix, resolve_target(args.target), args.reference, args.session)
    if args.json:
        emit(to_json(feedback))
    elif not args.md:
        emit(to_markdown(feedback))
    with OutputSet() as staged:  # both reports land together, or neither
        if args.md:
            write_feedback_markdown(feedback, staged.stage(args.md))
        if args.html:
            write_feedback_html(feedback, staged.stage(args.html))
        staged.land()
    if (args.md or args.html) and not args.json:
        out.print("report: " + ", ".join(str(p) for p in (args.md, args.html) if p))
    return 0
