"""Helpers shared by the CLI commands: consoles, tables and the ``--html`` report option."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    result = Table(title=title, show_lines=False, header_style="bold", show_header=any(columns))
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*(fmt(v) for v in row))
    return result


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.2f}"
    return str(value)


def need_plots(html: Path | None) -> None:
    """With ``--html``, check the plots extra before any measuring: a missing one is found at once."""
    if html:
        from ..extras import require

        require("plots", "--html reports")


def guard_report(html: Path, inputs: Iterable[Path | None]) -> None:
    """Before any work: the ``--html`` report never replaces a file the command reads."""
    from ..outputs import HTML, Output, prepare

    prepare([Output(html, "write the report to another file (--html)", HTML)], inputs)


def write_report(html: Path, write: Callable[[Path], None], quiet: bool) -> None:
    """Have ``write`` write the ``--html`` report beside ``html``, then rename it into place.

    A failed or interrupted write leaves the old report as it was.  The path
    is said unless ``quiet`` (``--json`` keeps stdout for the JSON).
    """
    from ..atomic import OutputSet

    with OutputSet() as staged:
        write(staged.stage(html))
        staged.land()
    if not quiet:
        out.print(f"report: {html}")


def is_tty() -> bool:
    return sys.stderr.isatty()


def kernels_pending() -> bool:
    """True before the first render on this machine (ask before importing the stages: that
    compiles some kernels already)."""
    from ..dsp import kernels_compiled

    return not kernels_compiled()


def say_compiling() -> None:
    """Why the very first render or live start sits still for a while."""
    err.print("first run: compiling the DSP kernels; they are cached, so this wait happens once "
              "(10-30 s on a 2-core machine)")


def stop_on_sigterm() -> None:
    """SIGTERM stops a command as Ctrl-C does: its staged outputs are removed and the old ones kept."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
