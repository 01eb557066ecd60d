"""`mixhost master INPUT -o OUT --target NAME [--bit-depth N] [--json]`"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._common import out, stop_on_sigterm, table
from .analyze import emit


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "master",
        help="master a file to a loudness target (gain + true-peak limiter)",
        description=(
            "Measure INPUT (ITU-R BS.1770-4), apply the gain that reaches the target's integrated "
            "loudness, limit the true peak to the target's ceiling and write OUT.  Passes repeat "
            "until the output is within 0.05 LU of the target (the last of up to 6 is kept if "
            "within EBU R128's 0.2 LU for files); the file as written is measured again and "
            "refused unless it is within 0.2 LU and under the ceiling.  The report gives its "
            "values.  Targets: spotify, apple-music, youtube, tidal, amazon, deezer, ebu-r128, "
            "atsc-a85, podcast, or custom LUFS[/dBTP] such as --target -14/-1."
        ),
    )
    parser.add_argument("input", type=Path, metavar="INPUT", help="the audio file to master")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT", help="output file"
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="NAME",
        help="loudness target (default: spotify, or the reference's loudness with --reference)",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        metavar="REF",
        help="match this track's long-term mid/side spectral balance and (unless --target is "
        "given) its integrated loudness",
    )
    parser.add_argument(
        "--bit-depth",
        default="24",
        choices=["16", "24", "32", "float"],
        help="output sample format (default: 24-bit, dithered)",
    )
    parser.add_argument(
        "--chain",
        metavar="CHAIN",
        help="run a mastering chain first: a name from chains/ (master-streaming, "
        "master-broadcast, master-loud) or a path to a chain .yaml file",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from ..analysis.mastering import master_file, reference_target
    from ..loudness.targets import DEFAULT_CEILING_DBTP, resolve_target

    stop_on_sigterm()
    if args.target is None and args.reference is not None:
        target = reference_target(args.reference, DEFAULT_CEILING_DBTP)
    else:
        target = resolve_target(args.target or "spotify")
    depth: int | str = args.bit_depth if args.bit_depth == "float" else int(args.bit_depth)
    report = master_file(
        args.input, args.output, target, bit_depth=depth, chain=args.chain, reference=args.reference
    )
    if args.json:
        emit(json.dumps(report.as_json(), indent=2))
        return 0
    r = report.result
    rows = [
        ["target", target.describe()],
        ["chain", report.chain or "-"],
        ["reference", report.reference or "-"],
        [
            "input",
            f"{report.input_integrated_lufs:.2f} LUFS, {report.input_true_peak_dbtp:.2f} dBTP",
        ],
        [
            "gain",
            f"{report.gain_db:+.2f} dB ({report.passes} pass{'es' if report.passes > 1 else ''})",
        ],
        ["output integrated", f"{r.integrated_lufs:.2f} LUFS ({report.error_lu:+.2f} LU)"],
        ["output true peak", f"{r.true_peak_dbtp:.2f} dBTP (ceiling {target.ceiling_dbtp:g})"],
        ["output LRA", f"{r.lra_lu:.1f} LU"],
    ]
    if report.match_eq_db:
        eq = "  ".join(
            f"{band}:{v['mid']:+.1f}/{v['side']:+.1f}" for band, v in report.match_eq_db.items()
        )
        rows.append(["match EQ mid/side (dB)", eq])
    out.print(table(f"{report.output}", ["", ""], rows))
    return 0
