"""Run the benchmarks: every ``benchmarks/bench_*.py``, one table, one JSON file.

Each module exposes ``run(quick: bool = False) -> list[dict]``; each dict has
``name``, ``ratio`` (against a reference measured in the same run), ``target``
(text such as ``<= 1.10`` or ``>= 1.7``), ``ok`` and ``detail``.

A missed target is reported, not a failure: the exit status is non-zero only
when a benchmark raises (or the ``--only`` filter matches nothing).

    python benchmarks/run.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "results.json"
COLUMNS = ("name", "ratio", "target", "ok", "detail")


def discover(only: list[str] | None) -> list[Path]:
    """The ``bench_*.py`` files, sorted; ``only`` matches the module name with
    or without its ``bench_`` prefix (``engine`` or ``bench_engine``)."""
    paths = sorted(HERE.glob("bench_*.py"))
    if not only:
        return paths
    wanted = {name.removesuffix(".py").removeprefix("bench_") for name in only}
    return [p for p in paths if p.stem.removeprefix("bench_") in wanted]


def load(path: Path) -> ModuleType:
    """Import a benchmark module by path; the benchmarks folder is on sys.path
    so modules can share helpers (e.g. ``sessions.py``)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def row(name: str, ratio: float | None, target: str, ok: bool, detail: str) -> dict[str, Any]:
    """A result row as a benchmark's ``run`` returns it (``from run import row``)."""
    return {"name": name, "ratio": ratio, "target": target, "ok": bool(ok), "detail": detail}


def check_result(module: str, row: Any) -> dict[str, Any]:
    """A result row, validated against the contract."""
    if not isinstance(row, dict):
        raise TypeError(f"{module}.run() returned a {type(row).__name__}, expected dicts")
    missing = [key for key in COLUMNS if key not in row]
    if missing:
        raise KeyError(f"{module}.run() result {row.get('name', '?')!r} lacks {', '.join(missing)}")
    row = {"module": module, **row, "ok": bool(row["ok"])}  # numpy bools are not JSON
    if row["ratio"] is not None and not isinstance(row["ratio"], str):
        row["ratio"] = float(row["ratio"])
    return row


def json_safe(value: Any) -> Any:
    """Strict JSON: non-finite floats (a perfect null is -inf dB) become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def fmt_ratio(ratio: Any) -> str:
    if isinstance(ratio, (int, float)):
        return f"{ratio:.3f}"
    return "-" if ratio is None else str(ratio)


def print_table(rows: list[dict[str, Any]]) -> None:
    """A plain-text table; ``detail`` runs to the end of the line."""
    cells = [
        (str(r["name"]), fmt_ratio(r["ratio"]), str(r["target"]), "yes" if r["ok"] else "NO", str(r["detail"]))
        for r in rows
    ]
    header = ("benchmark", "ratio", "target", "ok", "detail")
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(4)]
    line = "  ".join(h.ljust(w) for h, w in zip(header[:4], widths, strict=True)) + "  " + header[4]
    print(line)
    print("-" * len(line))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c[:4], widths, strict=True)) + "  " + c[4])


def run_module(path: Path, quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Run one module; returns its rows and, if it raised, the error record."""
    name = path.stem
    print(f"== {name}{' (quick)' if quick else ''}", flush=True)
    started = time.perf_counter()
    try:
        rows = [check_result(name, row) for row in load(path).run(quick=quick)]
    except Exception as exc:  # report every benchmark's failure, then carry on
        traceback.print_exc()
        error = {"module": name, "error": f"{type(exc).__name__}: {exc}"}
        row = {"module": name, "name": name, "ratio": None, "target": "-", "ok": False,
               "detail": f"ERROR {error['error']}"}  # fmt: skip
        return [row], error
    print(f"   {len(rows)} result(s) in {time.perf_counter() - started:.1f} s", flush=True)
    return rows, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run mixhost's benchmarks (benchmarks/bench_*.py).")
    parser.add_argument("--quick", action="store_true", help="short inputs: a smoke test, not figures to quote")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this module (e.g. engine or bench_engine); repeatable")  # fmt: skip
    parser.add_argument("--out", type=Path, default=OUT, help="results file (default: %(default)s)")
    args = parser.parse_args(argv)

    paths = discover(args.only)
    if not paths:
        print(f"no benchmark matches {args.only}; have: "
              + ", ".join(p.stem for p in sorted(HERE.glob("bench_*.py"))), file=sys.stderr)  # fmt: skip
        return 2

    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for path in paths:
        module_rows, error = run_module(path, args.quick)
        rows += module_rows
        if error:
            errors.append(error)

    print()
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": rows,
        "errors": errors,
    }
    args.out.write_text(json.dumps(json_safe(report), indent=2, default=str, allow_nan=False) + "\n")
    missed = sum(1 for r in rows if not r["ok"]) - len(errors)
    print(f"\n{len(rows) - missed - len(errors)}/{len(rows)} on target, {missed} missed, "
          f"{len(errors)} error(s); results in {args.out}")  # fmt: skip
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
