"""`mixhost album ALBUM.yaml [--mode album|track] [--json]`"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from ._common import out, stop_on_sigterm, table
from .analyze import emit


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "album",
        help="master an album: cohesive loudness, tonal check, album file and CUE sheet",
        description=(
            "Master the tracks of an album file in order: album normalisation (one gain, the "
            "loudest track reaches the target, the differences between tracks are kept) or track "
            "mode (each track to the target), true-peak limiting, a tonal-consistency check, "
            "tagged per-track files, one continuous album file (gaps or crossfades) and a CUE "
            "sheet."
        ),
    )
    parser.add_argument("album", type=Path, help="the album YAML file")
    parser.add_argument(
        "--mode", choices=["album", "track"], help="override the file's normalisation mode"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _fmt(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.2f} {unit}".strip()


def run(args: argparse.Namespace) -> int:
    from ..analysis.album import master_album

    stop_on_sigterm()
    report = master_album(args.album, args.mode)
    if args.json:
        emit(json.dumps(report.as_json(), indent=2))
        return 0
    rows = []
    for t in report.tracks:
        rows.append(
            [
                f"{t.number:02d} {t.title}",
                _fmt(t.analysis.integrated_lufs if t.analysis else None, "LUFS"),
                f"{t.gain_db:+.2f} dB",
                _fmt(t.result.integrated_lufs if t.result else None, "LUFS"),
                _fmt(t.result.true_peak_dbtp if t.result else None, "dBTP"),
                "; ".join(t.tonal_flags) or "-",
            ]
        )
    title = f"{report.title or args.album} ({report.mode} mode, {report.target.describe()})"
    columns = ["track", "input", "gain", "output", "true peak", "tonal check"]
    out.print(table(title, columns, rows))
    album = report.album_result
    measured = (f" ({_fmt(album.integrated_lufs, 'LUFS')}, true peak {_fmt(album.true_peak_dbtp, 'dBTP')})"
                if album is not None else "")
    out.print(f"album file: {report.album_file}{measured}\ncue sheet: {report.cue_file}")
    return 0
