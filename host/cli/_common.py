"""Helpers shared by the CLI commands: consoles and tables."""

from __future__ import annotations

import signal
import sys
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
