"""The report kit: what every written report shares (page, plot, table, metric labels, write).

``analyze``, ``compare``, ``feedback`` and ``album`` build their reports from
these parts, so a page looks the same whichever command wrote it, a value is
formatted the same way everywhere, and every report reaches the disk through
one function, :func:`write_report`.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import extras
from ..errors import OutputError


@dataclass(frozen=True)
class Metric:
    """One measured value of an :class:`~host.analysis.report.Analysis`: its key, label and unit."""

    key: str
    label: str
    unit: str


# the one table of metric labels: tables, pages and the CLI all read it
METRICS = (
    Metric("integrated_lufs", "integrated loudness", "LUFS"),
    Metric("max_momentary_lufs", "max momentary", "LUFS"),
    Metric("max_short_term_lufs", "max short-term", "LUFS"),
    Metric("lra_lu", "loudness range", "LU"),
    Metric("true_peak_dbtp", "true peak", "dBTP"),
    Metric("sample_peak_dbfs", "sample peak", "dBFS"),
    Metric("plr_db", "PLR", "dB"),
    Metric("crest_factor_db", "crest factor", "dB"),
    Metric("dc_offset", "DC offset", ""),
    Metric("correlation", "stereo correlation", ""),
    Metric("mono_loss_lu", "mono fold loss", "LU"),
)
_BY_KEY = {m.key: m for m in METRICS}


def metrics(*keys: str) -> tuple[Metric, ...]:
    """The named metrics, in the order given (all of them without keys)."""
    return tuple(_BY_KEY[key] for key in keys) if keys else METRICS


def format_value(
    value: float | None, unit: str, digits: int | None = None, signed: bool = False
) -> str:
    """A value with its unit; unitless values (DC, correlation) get 4 decimals, others 1.

    Non-finite values read ``-inf``/``inf`` and a missing one ``-``, so that a
    silent file's table says what happened instead of printing a number.
    """
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "-inf" if value < 0 else "inf"
    places = digits if digits is not None else (4 if unit == "" else 1)
    text = f"{value:+.{places}f}" if signed else f"{value:.{places}f}"
    return f"{text} {unit}".strip()


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars made plain and non-finite numbers made ``None`` (JSON null)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (int, np.integer)):
        return int(value)
    return value


# --- plot ---------------------------------------------------------------------------


@dataclass
class Plot:
    """A rendered figure: base64 PNG, and the labels of what its legend shows."""

    png: str
    legend: list[str]

    def img(self, title: str) -> str:
        """An ``<img>`` whose alt text names the plotted curves (readable without the image)."""
        alt = html.escape(f"{title}: " + ", ".join(self.legend), quote=True)
        return f'<img alt="{alt}" src="data:image/png;base64,{self.png}">'


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (reports never open a window).

    matplotlib is the ``plots`` extra: without it, a MissingExtraError names the pip command.
    """
    extras.require("plots", "HTML reports")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def render(figure: Any) -> Plot:
    """Render and close ``figure``; the legend labels are read back from its axes."""
    labels = [label for axes in figure.axes for label in axes.get_legend_handles_labels()[1]]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(figure)
    return Plot(base64.b64encode(buffer.getvalue()).decode("ascii"), labels)


# --- table and page --------------------------------------------------------------------


def table(head: Sequence[str], rows: Iterable[Sequence[str]], row_class: Sequence[str] = ()) -> str:
    """An HTML table; every cell is escaped, ``row_class`` (if given) classes each body row."""
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = []
    for index, row in enumerate(rows):
        cls = f' class="{html.escape(row_class[index])}"' if index < len(row_class) else ""
        cells = "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table>{f'<tr>{header}</tr>' if head else ''}{''.join(body)}</table>"


_STYLE = """
body { font-family: sans-serif; max-width: 64em; margin: 2em auto; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border-bottom: 1px solid #ddd; padding: 0.2em 0.8em; text-align: left; }
tr.problem td:first-child { color: #b00; } tr.warn td:first-child { color: #b60; }
tr.ok td:first-child { color: #080; }
img { max-width: 100%; }
"""


def page(title: str, body: str) -> str:
    """A self-contained HTML document (plots are embedded, nothing is fetched)."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
{body}
</body></html>
"""


def write_report(path: str | Path, text: str) -> None:
    """Write one report (HTML or Markdown) to ``path``: the only way a report reaches the disk."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        raise OutputError(f"{path}: cannot write the report ({error.strerror})") from error
