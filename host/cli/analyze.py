"""`mixhost analyze FILE... [--json] [--html REPORT] [--target T] [--reference REF]`"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="measure loudness, peaks, dynamics, stereo image and spectrum of audio files",
        description=(
            "Measure audio files in one streaming pass: integrated, max momentary and max "
            "short-term loudness (ITU-R BS.1770-4 / EBU R128), loudness range (EBU Tech 3342), "
            "true and sample peak, PLR, crest factor, DC offset, stereo correlation, mono-fold "
            "loss and octave-band spectral balance."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio files")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON array with one object per file instead of tables",
    )
    parser.add_argument(
        "--html", type=Path, metavar="REPORT", help="also write an HTML report with plots"
    )
    parser.add_argument(
        "--target",
        default="spotify",
        metavar="T",
        help="loudness target drawn on the plots: a preset (spotify, ebu-r128, ...) or LUFS "
        "(default: spotify)",
    )
    parser.add_argument(
        "--reference", type=Path, metavar="REF", help="a reference track to compare with"
    )
    parser.add_argument(
        "--session", type=Path, metavar="S", help="show the mixer's notes from this session file"
    )


def run(args: argparse.Namespace) -> int:
    # `analyze --json` imports only what it measures with: no rich, no session parser
    # (a whole-process run is compared with ffmpeg's; see benchmarks/bench_analyze.py).
    # Nothing here calls BLAS, yet each OpenBLAS (numpy's, and scipy's that numba loads)
    # starts a pool whose workers spin for a while: a fifth of the start-up's CPU time.
    # One thread asks for no pool; it must be set before numpy loads its OpenBLAS.
    if not os.environ.get("OPENBLAS_NUM_THREADS"):  # a user's own setting stands
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    from ..loudness.targets import resolve_target

    if args.html:
        from ..session.relocation import session_files
        from ._common import guard_report, need_plots

        need_plots(args.html)
        read = session_files(args.session) if args.session else []
        guard_report(args.html, [*args.files, args.reference, *read])
    target = resolve_target(args.target)
    notes = None
    if args.session:
        from ..analysis.feedback import session_notes

        notes = session_notes(args.session)
    with _collector_paused():
        from ..analysis.report import analyze_file, to_json

        analyses = [analyze_file(path) for path in args.files]
        reference = analyze_file(args.reference) if args.reference else None
    if args.json:
        emit(to_json(analyses, asdict(notes) if notes is not None else None))
    else:
        from ._common import out

        if notes is not None:
            out.print(_notes_text(notes))
        for a in analyses:
            out.print(_summary(a, reference))
    if args.html:
        from ..analysis.report import write_html
        from ._common import write_report

        notes_text = _notes_text(notes) if notes else None
        write_report(
            args.html,
            lambda path: write_html(analyses, path, target.integrated_lufs, reference, notes_text),
            quiet=args.json,
        )
    return 0


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while numba loads and the files are measured.

    Loading the first kernel makes numba build ~100 000 objects (its typing
    and lowering registries); each collection meanwhile walks them all again,
    a sixth of the start-up's CPU time.  Measuring makes next to no cyclic
    garbage, so nothing piles up; the collector resumes afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def emit(text: str) -> None:
    """Print machine-readable output to stdout; a closed pipe (``| head``) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # the reader went away: stop quietly, and keep Python from complaining at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _summary(a: Any, reference: Any | None) -> Any:
    from ..analysis.report import measured
    from ..analysis.reportkit import METRICS
    from ._common import table

    columns = ["", "value"] + (["reference"] if reference is not None else [])
    body = []
    for m in METRICS:
        row = [m.label, measured(a, m.key, m.unit)]
        if reference is not None:
            row.append(measured(reference, m.key, m.unit))
        body.append(row)
    bands = "  ".join(f"{band}:{db:+.1f}" for band, db in a.octave_bands_db.items())
    body.append(["octave bands (dB)", bands] + ([""] if reference is not None else []))
    note = a.loudness_note()
    if note:
        body.append(["note", note] + ([""] if reference is not None else []))
    title = f"{a.file} ({a.channels} ch, {a.sample_rate:g} Hz, {a.duration_s:.2f} s)"
    return table(title, columns, body)


def _notes_text(notes: Any) -> str:
    lines = []
    if notes.notes:
        lines.append(f"Mixer's notes: {notes.notes}")
    lines += [f"  {track}: {note}" for track, note in notes.track_notes.items()]
    lines += [
        f"  reference: {r['path']}" + (f" ({r['note']})" if r["note"] else "")
        for r in notes.references
    ]
    return "\n".join(lines) if lines else "(the session has no notes)"
