"""A loudness-matched A/B comparison of two versions of a mix.

Louder sounds better, so a fair comparison first matches loudness: B is
judged as if played ``match_gain_db = I_A − I_B`` louder (or quieter).  Then:

* loudness and dynamics side by side (integrated, max short-term, LRA, PLR,
  crest factor, true peak — B's also after the matching gain);
* stereo (correlation, mono-fold loss);
* the spectral difference B − A in 1/3-octave bands of the loudness-matched
  long-term spectra, and in the octave-band balance;
* a few plain-language findings (which is louder, more compressed, brighter,
  heavier in the low end).

``write_comparison_html`` draws the matched loudness curves, both spectra and
their difference.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AudioInputError
from .report import MOMENTARY_S, Analysis, analyze_file, fractional_octave_bands, smooth_spectrum
from .reportkit import (
    Plot,
    format_value,
    jsonable,
    metrics,
    page,
    pyplot,
    render,
    table,
    write_report,
)

# a band difference at or above this (dB) is worth a sentence
NOTABLE_BAND_DB = 1.5
NOTABLE_DYNAMICS_DB = 1.0

# the metrics compared side by side, from the report kit's one table of labels
METRICS = metrics(
    "integrated_lufs",
    "max_short_term_lufs",
    "max_momentary_lufs",
    "lra_lu",
    "plr_db",
    "crest_factor_db",
    "true_peak_dbtp",
    "correlation",
    "mono_loss_lu",
)


@dataclass
class Comparison:
    a: Analysis
    b: Analysis
    match_gain_db: float  # gain that brings B to A's integrated loudness
    third_octave_hz: np.ndarray = field(repr=False)
    third_octave_diff_db: np.ndarray = field(repr=False)  # B (matched) − A
    findings: list[str] = field(default_factory=list)

    def differences(self) -> dict[str, float]:
        """B − A for each metric (level-independent ones are unaffected by matching)."""
        return {m.key: getattr(self.b, m.key) - getattr(self.a, m.key) for m in METRICS}

    def octave_difference_db(self) -> dict[str, float]:
        return {
            band: self.b.octave_bands_db[band] - self.a.octave_bands_db[band]
            for band in self.a.octave_bands_db
        }

    def as_json(self) -> dict[str, Any]:
        return jsonable(
            {
                "a": self.a.as_json(),
                "b": self.b.as_json(),
                "match_gain_db": self.match_gain_db,
                "b_true_peak_matched_dbtp": self.b.true_peak_dbtp + self.match_gain_db,
                "differences": self.differences(),
                "octave_difference_db": self.octave_difference_db(),
                "findings": self.findings,
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.as_json(), indent=2, allow_nan=False)


def _findings(c: Comparison) -> list[str]:
    a, b = c.a, c.b
    out = []
    loudness = b.integrated_lufs - a.integrated_lufs
    if math.isfinite(loudness):
        if abs(loudness) < 0.1:
            out.append("A and B are equally loud.")
        else:
            louder = "B" if loudness > 0 else "A"
            out.append(
                f"{louder} is {abs(loudness):.1f} LU louder; B was matched by "
                f"{c.match_gain_db:+.1f} dB for the comparison."
            )
    plr = b.plr_db - a.plr_db
    if math.isfinite(plr) and abs(plr) >= NOTABLE_DYNAMICS_DB:
        more = "more" if plr < 0 else "less"
        out.append(f"B is {more} compressed/limited: PLR {b.plr_db:.1f} dB vs {a.plr_db:.1f} dB.")
    lra = b.lra_lu - a.lra_lu
    if abs(lra) >= NOTABLE_DYNAMICS_DB:
        out.append(
            f"B's loudness range is {lra:+.1f} LU against A ({b.lra_lu:.1f} vs {a.lra_lu:.1f})."
        )
    for band, diff in c.octave_difference_db().items():
        if math.isfinite(diff) and abs(diff) >= NOTABLE_BAND_DB:
            more = "more" if diff > 0 else "less"
            out.append(f"B has {abs(diff):.1f} dB {more} energy in the {band} Hz octave.")
    if math.isfinite(b.true_peak_dbtp + c.match_gain_db) and b.true_peak_dbtp + c.match_gain_db > 0:
        out.append(
            f"Matched to A's loudness, B would peak at {b.true_peak_dbtp + c.match_gain_db:+.1f} dBTP."
        )
    return out


def _require_loudness(name: str, a: Analysis) -> None:
    """A comparison matches loudness: a file without one (silent, too short) cannot be compared."""
    if math.isfinite(a.integrated_lufs) and a.duration_s >= MOMENTARY_S:
        return
    if a.duration_s < MOMENTARY_S:
        why = f"too short to measure ({a.duration_s:.2f} s; loudness needs {MOMENTARY_S:g} s)"
    else:
        why = "silent (nothing above the −70 LUFS gate)"
    raise AudioInputError(
        f"{name} is {why}: no loudness to match",
        file=a.file,
        hint="compare two renders of the mix; check that this one holds audible programme",
    )


def compare_files(path_a: str | Path, path_b: str | Path) -> Comparison:
    """Analyse both files and compare them at matched loudness."""
    a, b = analyze_file(path_a), analyze_file(path_b)
    for name, analysis in (("A", a), ("B", b)):
        _require_loudness(name, analysis)
    match = a.integrated_lufs - b.integrated_lufs
    centres, energy_a = fractional_octave_bands(a.spectrum_hz, a.spectrum_power)
    _, energy_b = fractional_octave_bands(b.spectrum_hz, b.spectrum_power)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = 10 * np.log10(energy_b / energy_a) + match
    comparison = Comparison(a, b, match, centres, diff)
    comparison.findings = _findings(comparison)
    return comparison


def _plots(c: Comparison) -> tuple[Plot, Plot]:
    plt = pyplot()
    name_a, name_b = Path(c.a.file).name, Path(c.b.file).name
    figure, axes = plt.subplots(figsize=(9, 3.2))
    axes.plot(c.a.curve_t, c.a.curve_s, lw=1.2, label=f"A: {name_a}")
    axes.plot(c.b.curve_t, c.b.curve_s + c.match_gain_db, lw=1.2, label=f"B: {name_b} (matched)")
    axes.set_xlabel("time (s)")
    axes.set_ylabel("short-term LUFS")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    loudness = render(figure)

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    for analysis, gain, label in (
        (c.a, 0.0, f"A: {name_a}"),
        (c.b, c.match_gain_db, f"B: {name_b}"),
    ):
        hz, power = smooth_spectrum(analysis.spectrum_hz, analysis.spectrum_power)
        with np.errstate(divide="ignore"):
            level = 10 * np.log10(power) + gain
        top.semilogx(hz, level, lw=1.0, label=label)
    top.set_ylabel("power, 1/6 oct (dB)")
    top.grid(alpha=0.3, which="both")
    top.legend(loc="lower left", fontsize=8)
    finite = np.isfinite(c.third_octave_diff_db)
    bottom.semilogx(c.third_octave_hz[finite], c.third_octave_diff_db[finite], marker="o", ms=3)
    bottom.axhline(0.0, color="k", lw=0.8)
    bottom.set_xlim(20, 20000)
    bottom.set_xlabel("frequency (Hz)")
    bottom.set_ylabel("B − A, 1/3 oct (dB)")
    bottom.grid(alpha=0.3, which="both")
    spectra = render(figure)
    return loudness, spectra


def write_comparison_html(c: Comparison, path: str | Path) -> None:
    """The comparison as a self-contained HTML page: findings, the metric table, the plots."""
    loudness, spectra = _plots(c)
    rows = []
    for m in METRICS:
        va, vb = getattr(c.a, m.key), getattr(c.b, m.key)
        rows.append(
            [
                m.label,
                format_value(va, m.unit, 2),
                format_value(vb, m.unit, 2),
                format_value(vb - va, "", 2, signed=True),
            ]
        )
    findings = "".join(f"<li>{html.escape(f)}</li>" for f in c.findings)
    body = f"""<h1>A/B comparison</h1>
<p>A: {html.escape(c.a.file)}<br>B: {html.escape(c.b.file)}<br>
B matched to A by {c.match_gain_db:+.2f} dB</p>
<ul>{findings}</ul>
{table(["", "A", "B", "B − A"], rows)}
<h2>Short-term loudness (matched)</h2>
{loudness.img("short-term loudness")}
<h2>Spectra (matched) and difference</h2>
{spectra.img("spectra")}"""
    write_report(path, page("mixhost compare", body))
