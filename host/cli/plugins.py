"""`mixhost plugins scan|list|params`: find, browse and inspect installed plugins."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._common import err, out, table


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plugins", help="scan, list and inspect VST3/AU plugins",
        description="Scan plugin folders (each plugin probed in its own process, so a crashing or hanging "
                    "plugin cannot take mixhost down), list what was found, show a plugin's parameters. "
                    "Searched: the standard folders of this OS, MIXHOST_PLUGIN_PATH, and folders given to scan.",
    )
    commands = parser.add_subparsers(dest="plugins_command", metavar="ACTION", required=True)
    scan = commands.add_parser("scan", help="scan plugin folders and update the plugin cache")
    scan.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="extra folders to scan")
    scan.add_argument("--retry-failed", action="store_true", help="probe plugins that failed before again")
    scan.add_argument("--timeout", type=float, default=None, metavar="S",
                      help="seconds a plugin may take to load before it counts as hung (default 60)")
    listing = commands.add_parser("list", help="list scanned plugins")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    params = commands.add_parser("params", help="list a plugin's parameters")
    params.add_argument("name", help="plugin name (or bundle name) as in `mixhost plugins list`")
    params.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    action = {"scan": _scan, "list": _list, "params": _params}[args.plugins_command]
    return action(args)


def _scan(args: argparse.Namespace) -> int:
    from ..plugins.probe import DEFAULT_TIMEOUT_S
    from ..plugins.scan import scan, search_dirs

    timeout = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT_S
    for directory in args.dirs:
        if not directory.is_dir():
            err.print(f"mixhost plugins scan: warning: {directory} is not a folder")
    report = scan(args.dirs, retry_failed=args.retry_failed, timeout=timeout)
    searched = ", ".join(str(d) for d in search_dirs(args.dirs) if d.is_dir()) or "(no plugin folders exist)"
    out.print(f"searched: {searched}")
    out.print(f"{len(report.probed)} probed, {len(report.cached)} unchanged (cached), "
              f"{len(report.failed)} failed, {len(report.skipped_failed)} skipped (failed before)")
    for path, reason in report.failed.items():
        out.print(f"  failed: {path}: {reason}")
    for path, reason in report.skipped_failed.items():
        out.print(f"  skipped: {path}: {reason}")
    if report.skipped_failed:
        out.print("use --retry-failed to probe skipped plugins again")
    return 0


def _rows() -> list[dict[str, Any]]:
    from ..plugins.buses import BusLayout, bus_limits, flag_text
    from ..plugins.cache import PluginCache
    from ..plugins.probe import layout_text
    from ..plugins.scan import scan

    cache = PluginCache()
    entries = cache.entries()
    if cache.recovered:  # the cache file was unreadable and is empty now: fill it again, as a scan would
        scan(cache=cache)
        entries = cache.entries()
    rows = []
    for entry in entries:
        info = entry.info
        if "channels" in info:  # rows cached by an older mixhost show the current format too
            info = {**info, "layout": layout_text(str(info.get("kind", "")), list(info["channels"]))}
        buses = BusLayout.from_json(info.get("buses"))
        rows.append({
            "name": entry.name or Path(entry.path).stem,
            "vendor": info.get("vendor", ""),
            "format": info.get("format", ""),
            "category": info.get("category", ""),
            "kind": info.get("kind", ""),
            "layout": info.get("layout", ""),
            "latency": info.get("latency"),
            "status": entry.status,
            "reason": entry.reason,
            "buses": buses.to_json() if buses is not None else None,  # None: not read (AU, macOS)
            "limits": bus_limits(buses),  # what pedalboard cannot drive: sessions refuse these
            "flag": flag_text(buses),
            "path": entry.path,
        })
    return rows


def _list(args: argparse.Namespace) -> int:
    rows = _rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        out.print("no plugins in the cache; run `mixhost plugins scan`")
        return 0
    columns = ["name", "vendor", "format", "category", "instrument/effect", "layout (in→out)", "latency",
               "status"]
    body = [
        [r["name"], r["vendor"], r["format"], r["category"], r["kind"], r["layout"],
         "" if r["latency"] is None else r["latency"], _status(r)]
        for r in rows
    ]
    out.print(table(None, columns, body))
    if any(r["flag"] for r in rows):
        out.print("limited: pedalboard feeds only a plugin's main input bus and returns only its main output "
                  "bus; a session refuses these plugins unless their entry says `buses: main` "
                  "(`plugins list --json` gives every bus)")
    return 0


def _status(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"{row['status']}: {row['reason']}"
    return f"limited: {row['flag']}" if row["flag"] else "ok"


def _params(args: argparse.Namespace) -> int:
    from ..plugins.scan import find_plugin

    entry = find_plugin(args.name)
    params = list(entry.info.get("params", []))
    if args.json:
        print(json.dumps({"plugin": entry.name, "path": entry.path, "params": params}, indent=2))
        return 0
    body = []
    for p in params:
        values = " | ".join(p["choices"]) if p.get("choices") else f"{p['min']:g} .. {p['max']:g}"
        default = p["default"] if p["kind"] != "boolean" else ("on" if p["default"] >= 0.5 else "off")
        body.append([p["name"], values, p.get("unit", ""), default, p.get("label", "")])
    out.print(table(f"{entry.name} ({entry.path})", ["name", "range or values", "unit", "default", "label"], body))
    return 0
