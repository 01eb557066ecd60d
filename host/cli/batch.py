"""`mixhost batch analyze|master|render|tag ...`: catalogue-scale runs of the single-file commands."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from ._common import err, out, stop_on_sigterm, table
from .analyze import emit

EPILOG = """\
Jobs run on a local process pool (-j N, default: the number of cores) or on Dask distributed
(--dask tcp://scheduler:8786, or --dask local:N for a LocalCluster of N worker processes).
A journal in the output folder records every finished job with the digests of its inputs and
options: running the same command again skips what is done and redoes what changed or failed
(--force redoes everything).  Exit status: 0 when every job succeeded, 1 when any failed,
2 for bad arguments (found before anything runs), 130 when interrupted."""

TAG_EPILOG = EPILOG.replace("A journal in the output folder", "A journal (--journal, by default in the folder "
                            "holding all the inputs)") + """

An album is tagged once all its files are measured.  A file that fails (corrupt, empty, NaN,
silent, unwritable) fails alone: its album is tagged with the others and the summary names it.
A rerun skips files whose audio and tags are as they were; an album with a changed file is
re-tagged as a whole."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "batch", help="analyse, master, tag or render many files on a process pool or a Dask cluster",
        description="Run analyze, master, tag or render over a catalogue: files, folders (recursive) and "
                    "globs, resumable, failures isolated.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)

    analyze = commands.add_parser("analyze", help="measure every file; one row per file",
                                  description="Measure every file as `mixhost analyze` does, plus a "
                                  "pass/fail against --target; a summary at the end.", epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    analyze.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    analyze.add_argument("--csv", type=Path, metavar="OUT", help="write one row per file to this CSV file")
    analyze.add_argument("--json", nargs="?", const="-", metavar="OUT",
                         help="write the rows to this JSON file; without OUT (or with -), print "
                              "line-delimited JSON events on stdout")
    analyze.add_argument("--target", default="spotify", metavar="T",
                         help="pass/fail target: a preset (spotify, ebu-r128, ...) or LUFS[/dBTP] "
                              "(default: spotify)")
    analyze.add_argument("--tolerance", type=float, default=1.0, metavar="LU",
                         help="a file passes within this many LU of the target and under its ceiling "
                              "(default: 1, EBU R128's)")
    _common(analyze)

    master = commands.add_parser("master", help="master every file to a loudness target",
                                 description="Master every file as `mixhost master` does, into OUT_DIR, "
                                 "keeping the source's tags.", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    master.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    master.add_argument("-o", "--out-dir", type=Path, required=True, metavar="OUT_DIR", help="output folder")
    master.add_argument("--target", default="spotify", metavar="NAME",
                        help="loudness target: a preset or LUFS[/dBTP] (default: spotify)")
    master.add_argument("--chain", metavar="CHAIN", help="a mastering chain to run first (as `mixhost master`)")
    master.add_argument("--format", dest="fmt", choices=["wav", "flac", "aiff"],
                        help="output format (default: the input's when lossless, else flac)")
    master.add_argument("--bit-depth", default="24", choices=["16", "24", "32", "float"],
                        help="output sample format (default: 24-bit, dithered)")
    master.add_argument("--keep-tree", action="store_true",
                        help="keep each input's folders below the argument it came from")
    master.add_argument("--no-tags", action="store_true", help="do not copy the source's tags")
    _common(master, json_flag=True)

    render = commands.add_parser("render", help="render many sessions, or variations of them",
                                 description="Render sessions into OUT_DIR/<session>/, or with "
                                 "--variations into OUT_DIR/<session>/<variation>/.", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    render.add_argument("inputs", nargs="+", metavar="SESSION", help="session files, folders or globs")
    render.add_argument("-o", "--out-dir", type=Path, required=True, metavar="OUT_DIR", help="output folder")
    render.add_argument("--variations", type=Path, metavar="SCRIPT",
                        help="a Python script defining variations(session), yielding (name, "
                             "{address: value}) or (name, session)")
    _common(render, json_flag=True)

    tag = commands.add_parser("tag", help="write ReplayGain 2.0 / R128 tags in place, like r128gain",
                              description="Measure every file (BS.1770-4 / EBU R128) on the workers, gate "
                              "each album over its tracks' blocks, and write ReplayGain 2.0 track and album "
                              "gain and peak tags (R128_TRACK_GAIN/R128_ALBUM_GAIN in Opus) into FLAC, Ogg "
                              "Vorbis, Opus, MP3 and M4A files, in place, without re-encoding.",
                              epilog=TAG_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    tag.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    tag.add_argument("--album-by", choices=["folder", "tag"], default="folder",
                     help="an album is a folder, or the files sharing album artist and album tags "
                          "(default: folder)")
    tag.add_argument("--no-album", action="store_true", help="track tags only; album tags are removed")
    tag.add_argument("--true-peak", action="store_true",
                     help="write the true peak (BS.1770-4 Annex 2) as the peak tags, not the sample peak")
    tag.add_argument("--journal", type=Path, metavar="PATH",
                     help="the journal file (default: .mixhost-batch-tag.jsonl in the folder holding "
                          "all the inputs; inputs with only / in common: a file in "
                          "$XDG_STATE_HOME/mixhost)")
    _common(tag, json_flag=True)


def _common(parser: argparse.ArgumentParser, json_flag: bool = False) -> None:
    parser.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                        help="local worker processes (default: the number of cores)")
    parser.add_argument("--dask", metavar="ADDRESS",
                        help="run on Dask: tcp://scheduler:8786, or local:N for a LocalCluster")
    parser.add_argument("--retries", type=int, default=0, metavar="N",
                        help="Dask's retries of a failed task (default: 0)")
    parser.add_argument("--force", action="store_true", help="redo every job, done or not")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    if json_flag:
        parser.add_argument("--json", action="store_const", const="-",
                            help="print line-delimited JSON events on stdout")


def run(args: argparse.Namespace) -> int:
    from ..analysis.batch import execute, make_runner, plan
    from ..analysis.batch.journal import journal_path
    from ..analysis.batch.journal import plain as strict

    stop_on_sigterm()
    command = args.batch_command
    events = args.json == "-"
    reports = _reports(args) if command == "analyze" else []
    journal = journal_path(reports[0].parent, "analyze") if reports else None
    checked = plan(command, args.inputs, out_dir=getattr(args, "out_dir", None), target=getattr(args, "target", None),
                   tolerance_lu=getattr(args, "tolerance", 1.0), chain=getattr(args, "chain", None),
                   fmt=getattr(args, "fmt", None), bit_depth=getattr(args, "bit_depth", 24),
                   keep_tree=getattr(args, "keep_tree", False), keep_tags=not getattr(args, "no_tags", False),
                   variations=getattr(args, "variations", None), journal=getattr(args, "journal", None) or journal,
                   album_by=None if getattr(args, "no_album", False) else getattr(args, "album_by", "folder"),
                   peak="true" if getattr(args, "true_peak", False) else "sample")
    if reports:
        from ..outputs import prepare

        prepare(reports, [Path(loc) for job in checked.jobs for loc in job.inputs() if "://" not in loc])
    runner = make_runner(args.jobs, args.dask, args.retries, checked.warm)
    try:
        with _Progress(enabled=not args.no_progress and err.is_terminal) as progress:
            def on_event(event: dict[str, Any]) -> None:
                progress.update(event)
                if events:
                    emit(json.dumps(strict(event), allow_nan=False))
            result = execute(checked, runner, force=args.force, on_event=on_event)
    finally:
        runner.close()
    if reports:
        _write_reports(args, result)
    if not events:
        _print_summary(result)
    return 0 if result.ok else 1


# -- analyze's files ---------------------------------------------------------------------------------
def _reports(args: argparse.Namespace) -> list[Path]:
    return [p for p in (args.csv, None if args.json in (None, "-") else Path(args.json)) if p is not None]


CSV_KEYS = ("duration_s", "sample_rate", "channels", "integrated_lufs", "max_momentary_lufs",
            "max_short_term_lufs", "lra_lu", "true_peak_dbtp", "sample_peak_dbfs", "plr_db",
            "crest_factor_db", "rms_dbfs", "dc_offset", "correlation", "mono_loss_lu")


def _rows(result: Any) -> list[dict[str, Any]]:
    """One row per file, failures included (with their reason), in the inputs' order."""
    rows = []
    for r in result.results:
        row = dict(r.data) if r.data is not None else {"file": r.key}
        row["status"] = "failed" if not r.ok else "ok"
        row["error"] = r.error
        rows.append(row)
    return rows


def _csv_text(rows: list[dict[str, Any]]) -> str:
    bands = next((list(row["octave_bands_db"]) for row in rows if row.get("octave_bands_db")), [])
    header = ["file", "status", *CSV_KEYS, *(f"band_{b}_db" for b in bands), "pass", "over_ceiling",
              "note", "error"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        octave = row.get("octave_bands_db") or {}
        writer.writerow([row.get("file"), row["status"], *(_cell(row.get(k)) for k in CSV_KEYS),
                         *(_cell(octave.get(b)) for b in bands), _cell(row.get("pass")),
                         _cell(row.get("over_ceiling")), row.get("note") or "", row.get("error") or ""])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) >= 1000 else f"{value:.4f}"
    return str(value)


def _write_reports(args: argparse.Namespace, result: Any) -> None:
    from ..analysis.batch.journal import plain as strict
    from ..atomic import OutputSet

    rows = _rows(result)
    with OutputSet() as staged:
        if args.csv is not None:
            staged.write_text(args.csv, _csv_text(rows))
        if args.json not in (None, "-"):
            staged.write_text(Path(args.json), json.dumps(strict(rows), indent=2, allow_nan=False) + "\n")
        staged.land()


# -- progress and summary ----------------------------------------------------------------------------
class _Progress:
    """A rich progress bar on stderr: files done, failed, the rate and the time left."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None
        self.failed = 0

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("[red]{task.fields[failed]} failed"),
                                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                console=err, transient=True)
            self.bar.__enter__()
        return self

    def update(self, event: dict[str, Any]) -> None:
        if event["event"] == "start":
            err.print(f"{event['command']}: {event['jobs']} jobs, {event['skipped']} done already, "
                      f"on {event['runner']}" + (f"; dashboard {event['dashboard']}" if event.get("dashboard")
                                                 else ""))
            if self.bar is not None:
                self.task = self.bar.add_task(event["command"], total=event["jobs"], failed=0, rate="")
        elif event["event"] == "job" and self.bar is not None:
            self.failed += event["status"] == "failed"
            self.bar.update(self.task, completed=event["finished"], failed=self.failed)
            speed = self.bar.tasks[0].speed
            self.bar.update(self.task, rate=f"{speed:.2f} files/s" if speed else "")

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _print_summary(result: Any) -> None:
    summary = result.summary()
    counts = (f"{summary['jobs']} jobs: {summary['done']} done, {summary['unchanged']} unchanged, "
              f"{summary['skipped']} skipped (done before), {summary['failed']} failed "
              f"in {summary['elapsed_s']:.1f} s on {summary['runner']}")
    out.print(counts)
    if result.command == "analyze":
        target = result.target
        out.print(f"{summary['passed']} of {len(result.rows)} measured files pass {target['name']} "
                  f"({target['integrated_lufs']:g} LUFS, ceiling {target['ceiling_dbtp']:g} dBTP)")
        for title, key in (("loudest", "loudest"), ("quietest", "quietest"),
                           ("over the true-peak ceiling", "over_ceiling")):
            if summary[key]:
                out.print(table(title, ["file", "integrated", "true peak"],
                                [[row["file"], _lufs(row["integrated_lufs"], "LUFS"),
                                  _lufs(row["true_peak_dbtp"], "dBTP")] for row in summary[key]]))
    if result.command == "tag":
        _print_tag_summary(summary)
    if result.failed:
        out.print(table("failed", ["job", "reason"], [[r.key, r.error] for r in result.failed]))
    if result.journal:
        out.print(f"journal: {result.journal}")


def _lufs(value: Any, unit: str) -> str:
    return f"{value:.2f} {unit}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def _print_tag_summary(summary: dict[str, Any]) -> None:
    def span(pair: list[float] | None) -> str:
        return f"{pair[0]:+.2f} to {pair[1]:+.2f} dB" if pair else "-"

    albums = (f"{summary['albums']} album{'s' if summary['albums'] != 1 else ''}: "
              if summary["album_gain_db"] else "")
    out.print(f"{albums}{summary['written']} files tagged, {summary['kept']} already tagged; track gains "
              f"{span(summary['track_gain_db'])}, album gains {span(summary['album_gain_db'])}")
    if summary["incomplete_albums"]:
        out.print(table("albums tagged without a failed file", ["album", "missing"],
                        [[a["album"], ", ".join(a["missing"])] for a in summary["incomplete_albums"]]))
