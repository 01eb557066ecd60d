"""The mastering engineer's first listen, automated: a report to the mix engineer.

``mixhost feedback MIX`` measures the mix (:func:`host.analysis.report.analyze_file`
plus one scan for clipping, inter-sample overs and low-end phase) and turns
the numbers into findings.  Each finding gives the measured value, the
threshold it was judged against and a concrete suggestion.  With a session
file, the mixer's notes and references are shown; with a reference track
(or the session's first reference), the tonal checks compare against it.

Thresholds are common mastering practice, stated here so they can be argued
with: true peak at most −1 dBTP (R128 / streaming ceilings, and room for the
limiter); PLR at least 8 dB; crest factor (sample peak over RMS) at least
8 dB; DC within ±0.001 (−60 dBFS); correlation above
0.2 and low-end (< 150 Hz) correlation above 0.5; mono-fold loss at most
3 LU.

Tonal checks judge the mix against curves that real mixes follow, never
against a straight line (a real spectrum bends: a choir's falls steeply
above 4 kHz, and no band on that slope is "above the tilt"):

* **resonances:** the long-term spectrum smoothed at 1/6 octave, as a
  spectrum meter shows it; a peak standing more than 6 dB above the line
  joining its bases on either side (within half an octave) is a resonance, in
  2-5 kHz read as harshness, in 5-10 kHz as sibilance.  A slope, a knee or a
  broad tilt has no such peak.  Below 2 kHz the peaks of a long-term
  spectrum are mostly the notes played most often, so they are not judged.
  With a reference, the peaks are looked for in the difference of the two
  smoothed spectra at matched loudness.
* **low-end balance:** with a reference, each low octave against the
  reference, each read against its own mids (±3 dB).  Without one, against the target
  curve of popular mixes, whose long-term spectrum peaks around 60-120 Hz:
  there the 63 and 125 Hz octaves hold up to about 10 dB more energy than
  the 500 Hz-2 kHz octaves; more than 12 dB reads as boomy.  A thin low end
  (less than the mids) is only called out when a kick is detected: a choir,
  a voice or a string quartet have no business with sub-bass.
* **instruments:** advice names the kick only when
  :mod:`host.analysis.kick` finds one.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import butter, find_peaks, sosfilt

from ..dsp.true_peak import TruePeakDetector
from ..loudness.meter import DEFAULT_FILE_BLOCK, iter_blocks, open_audio
from ..loudness.targets import LoudnessTarget
from .kick import KickDetector, KickReport
from .report import (
    MOMENTARY_S,
    SMOOTHING_GRID,
    Analysis,
    analyze_file,
    loudness_plot,
    smooth_spectrum,
    spectrum_plot,
)
from .reportkit import format_value, jsonable, metrics, page, table, write_report

CLIP_LEVEL = 0.999  # |x| at or above this, three samples in a row, is clipping
CLIP_RUN = 3
HEADROOM_DBTP = -1.0
HEADROOM_NOTE_DBTP = -3.0
PLR_WARN_DB = 8.0
PLR_PROBLEM_DB = 6.0
# Sample peak over RMS: about 12-20 dB for dynamic mixes, 8-10 dB for a loud limited
# master; below 8 dB the transients have been clipped or limited flat.
CREST_WARN_DB = 8.0
LRA_NOTE_LU = 3.0
DC_LIMIT = 0.001
CORRELATION_WARN = 0.2
LOW_CORRELATION_WARN = 0.5
LOW_CUTOFF_HZ = 150.0
MONO_LOSS_WARN_LU = 3.0
RESONANCE_DB = 6.0  # a 1/6-octave peak this far above the line under it (see _peaks)
PEAK_SPAN_OCTAVES = 0.5  # how far either side a peak's bases are looked for: a resonance is narrow
REFERENCE_BAND_DB = 3.0
LOW_END_BANDS = ("31.5", "63", "125")
# the low end (63 and 125 Hz octaves) against the mids (500 Hz-2 kHz octaves), energy in dB
LOW_END_OCTAVES = ("63", "125")
MID_OCTAVES = ("500", "1k", "2k")
LOW_END_HEAVY_DB = 12.0
LOW_END_THIN_DB = 0.0
HARSH_HZ = (2000.0, 5000.0)
SIBILANT_HZ = (5000.0, 10000.0)

SEVERITIES = ("problem", "warn", "note", "ok")


@dataclass
class Finding:
    area: str
    severity: str  # problem, warn, note, ok
    measured: str
    threshold: str
    suggestion: str


@dataclass
class Scan:
    """What the extra streaming scan counts."""

    clipped_samples: int = 0
    first_clip_s: float | None = None
    intersample_overs: int = 0
    oversample: int = 4  # the true-peak detector's factor for this file's rate
    low_correlation: float = 1.0
    kick: KickReport = field(default_factory=lambda: KickReport(False, 0.0, -math.inf))


@dataclass
class SessionNotes:
    notes: str = ""
    references: list[dict[str, str]] = field(default_factory=list)  # {"path", "note"}
    track_notes: dict[str, str] = field(default_factory=dict)

    @property
    def has_notes(self) -> bool:
        """Anything of the mixer's to show: notes, track notes or references."""
        return bool(self.notes or self.track_notes or self.references)


@dataclass
class Feedback:
    mix: Analysis
    scan: Scan
    target: LoudnessTarget
    findings: list[Finding]
    session: SessionNotes | None = None
    reference: Analysis | None = None

    def as_json(self) -> dict[str, Any]:
        return jsonable(
            {
                "file": self.mix.file,
                "target": asdict(self.target),
                "measurements": self.mix.as_json(),
                "scan": asdict(self.scan),
                "reference": self.reference.file if self.reference else None,
                "session": asdict(self.session) if self.session else None,
                "findings": [asdict(f) for f in self.findings],
            }
        )


def scan_file(path: str | Path, block: int = DEFAULT_FILE_BLOCK) -> Scan:
    """Clipped samples, inter-sample overs and the low-end (< 150 Hz) L/R correlation."""
    scan = Scan()
    with open_audio(path) as handle:
        fs, channels = float(handle.samplerate), handle.channels
        detector = TruePeakDetector(channels, fs)
        scan.oversample = detector.oversample
        low = butter(4, LOW_CUTOFF_HZ, "lowpass", fs=fs, output="sos")
        zi = np.zeros((low.shape[0], channels, 2))
        history = np.zeros((channels, CLIP_RUN - 1), dtype=bool)
        kick = KickDetector(fs)
        cross = energy_l = energy_r = 0.0
        done = 0
        for x in iter_blocks(handle, block, path):
            hot = np.concatenate((history, np.abs(x) >= CLIP_LEVEL), axis=1)
            run = hot[:, CLIP_RUN - 1 :].copy()
            for lag in range(1, CLIP_RUN):  # a sample ending a run of CLIP_RUN hot samples
                run &= hot[:, CLIP_RUN - 1 - lag : hot.shape[1] - lag]
            history = hot[:, -(CLIP_RUN - 1) :]
            if run.any():
                scan.clipped_samples += int(run.sum())
                if scan.first_clip_s is None:
                    scan.first_clip_s = (done + int(np.argmax(run.any(axis=0)))) / fs
            scan.intersample_overs += detector.count_above(x, 1.0)
            kick.add(x.mean(axis=0))
            if channels >= 2:
                y, zi = sosfilt(low, x, axis=1, zi=zi)
                cross += float(np.dot(y[0], y[1]))
                energy_l += float(np.dot(y[0], y[0]))
                energy_r += float(np.dot(y[1], y[1]))
            done += x.shape[1]
    if energy_l > 0 and energy_r > 0:
        scan.low_correlation = cross / math.sqrt(energy_l * energy_r)
    scan.kick = kick.finish()
    return scan


def session_notes(path: str | Path) -> SessionNotes:
    """The mixer's notes and references from a session file (validated by the session loader)."""
    from ..session import load_session, yaml_doc

    session = load_session(path, build_stages=False)
    config = yaml_doc.to_plain(session.document)
    meta = config.get("session", {}) or {}
    references = []
    for ref in meta.get("references", []) or []:
        ref_path = ref if isinstance(ref, str) else str(ref.get("path", ""))
        note = "" if isinstance(ref, str) else str(ref.get("note", ""))
        # relative paths are relative to the session file, like stems
        resolved = Path(path).resolve().parent / ref_path
        references.append({"path": str(resolved), "note": note})
    tracks = {
        name: str(track.get("notes", ""))
        for name, track in (config.get("tracks", {}) or {}).items()
        if isinstance(track, dict) and track.get("notes")
    }
    return SessionNotes(str(meta.get("notes", "") or "").strip(), references, tracks)


@dataclass
class Peak:
    """A peak of a smoothed spectrum: where, and how far above the line joining its bases."""

    hz: float
    height_db: float


def _smoothed_db(a: Analysis) -> tuple[np.ndarray, np.ndarray]:
    """The 1/6-octave smoothed long-term spectrum (dB), as the report plots it."""
    hz, power = smooth_spectrum(a.spectrum_hz, a.spectrum_power, high=0.45 * a.sample_rate)
    with np.errstate(divide="ignore"):
        return hz, 10 * np.log10(power)


def _peaks(hz: np.ndarray, level_db: np.ndarray) -> list[Peak]:
    """Local peaks of a log-frequency curve, each measured above the line joining its two bases.

    A base is the lowest point between the peak and the next higher ground on
    that side, within ``PEAK_SPAN_OCTAVES`` (scipy's peak prominence).  On a
    slope the line follows the slope, so a peak on a falling spectrum keeps
    its true height; a monotone stretch (slope, knee) has no peak at all.
    """
    finite = np.isfinite(level_db)
    if not finite.any():  # nothing in the channel mean (an inverted pair cancels there)
        return []
    level = np.where(finite, level_db, level_db[finite].min())
    window = int(2 * PEAK_SPAN_OCTAVES * SMOOTHING_GRID) + 1
    index, props = find_peaks(level, prominence=0.5, wlen=window)
    if index.size == 0:
        return []
    x = np.log2(hz)
    left, right = props["left_bases"], props["right_bases"]
    line = level[left] + (level[right] - level[left]) * (x[index] - x[left]) / (x[right] - x[left])
    return [Peak(float(hz[i]), float(level[i] - base)) for i, base in zip(index, line, strict=True)]


def _bands_db(a: Analysis, labels: tuple[str, ...]) -> float:
    """The mean energy of some octave bands, in dB re. the total (from the analysis)."""
    energy = sum(10 ** (a.octave_bands_db[label] / 10) for label in labels) / len(labels)
    return 10 * math.log10(energy) if energy > 0 else -math.inf


def _fmt_khz(hz: float) -> str:
    return f"{hz / 1000:.1f} kHz" if hz >= 1000 else f"{hz:.0f} Hz"


def _headroom(a: Analysis, scan: Scan) -> list[Finding]:
    """Headroom, clipping, inter-sample overs and DC: what eats the space under 0 dBFS."""
    return [
        _true_peak_headroom(a.true_peak_dbtp),
        *_clipping(scan),
        *_intersample_overs(scan),
        *_dc_offset(a.dc_offset),
    ]


def _true_peak_headroom(tp: float) -> Finding:
    if tp > HEADROOM_DBTP:
        return Finding(
            "headroom",
            "warn",
            f"true peak {tp:+.2f} dBTP",
            f"≤ {HEADROOM_DBTP:g} dBTP",
            f"lower the master fader by {tp + 6:.1f} dB (peaks near −6 dBTP) and leave "
            "final limiting to mastering",
        )
    if tp > HEADROOM_NOTE_DBTP:
        return Finding(
            "headroom",
            "note",
            f"true peak {tp:+.2f} dBTP",
            f"≤ {HEADROOM_NOTE_DBTP:g} dBTP leaves mastering room to work",
            f"consider {tp - HEADROOM_NOTE_DBTP:.1f} dB less on the master fader",
        )
    return Finding("headroom", "ok", f"true peak {tp:+.2f} dBTP", f"≤ {HEADROOM_NOTE_DBTP:g} dBTP", "—")


def _clipping(scan: Scan) -> list[Finding]:
    if not scan.clipped_samples:
        return []
    return [
        Finding(
            "clipping",
            "problem",
            f"{scan.clipped_samples} clipped samples (first at {scan.first_clip_s:.2f} s)",
            f"no runs of {CLIP_RUN} samples at |x| ≥ {CLIP_LEVEL}",
            "find the stage that clips (a track fader or plugin output), lower its level and "
            "re-render as 32-bit float",
        )
    ]


def _intersample_overs(scan: Scan) -> list[Finding]:
    if not scan.intersample_overs:
        return []
    factor = scan.oversample
    how = f"{factor}× oversampled" if factor > 1 else "sample values (no oversampling at this rate)"
    return [
        Finding(
            "inter-sample overs",
            "warn",
            f"{scan.intersample_overs} oversampled values above 0 dBFS",
            f"none ({how}, BS.1770-4 Annex 2)",
            "converters and lossy encoders will clip these: lower the level or use a "
            "true-peak limiter at −1 dBTP",
        )
    ]


def _dc_offset(dc: float) -> list[Finding]:
    if abs(dc) <= DC_LIMIT:
        return []
    return [
        Finding(
            "DC offset",
            "warn",
            f"DC {dc:+.4f} ({20 * math.log10(abs(dc)):.0f} dBFS)",
            f"DC within ±{DC_LIMIT} (−60 dBFS)",
            "high-pass (20 Hz) or DC-remove the track that carries it; DC eats headroom",
        )
    ]


def _low_parts(scan: Scan) -> str:
    """What carries the low end, named only as far as it was detected."""
    return "kick and bass" if scan.kick.detected else "the low parts"


def _stereo(a: Analysis, scan: Scan) -> list[Finding]:
    if a.channels < 2:
        return []
    out = []
    if a.correlation < CORRELATION_WARN:
        severity = "problem" if a.correlation < 0 else "warn"
        out.append(
            Finding(
                "phase",
                severity,
                f"correlation {a.correlation:+.2f}",
                f"> {CORRELATION_WARN:g}",
                "check the polarity of stereo pairs and any wideners; an inverted channel "
                "cancels in mono",
            )
        )
    if scan.low_correlation < LOW_CORRELATION_WARN:
        out.append(
            Finding(
                "low-end phase",
                "warn",
                f"correlation below {LOW_CUTOFF_HZ:g} Hz {scan.low_correlation:+.2f}",
                f"> {LOW_CORRELATION_WARN:g}",
                f"keep {_low_parts(scan)} mono below {LOW_CUTOFF_HZ:g} Hz (no wideners or "
                "stereo delays on them)",
            )
        )
    if a.mono_loss_lu > MONO_LOSS_WARN_LU:
        out.append(
            Finding(
                "mono compatibility",
                "warn",
                f"{a.mono_loss_lu:.1f} LU lost folded to mono",
                f"≤ {MONO_LOSS_WARN_LU:g} LU",
                "narrow the widest elements or fix out-of-phase content; check on one speaker",
            )
        )
    if not out:
        out.append(
            Finding(
                "stereo",
                "ok",
                f"correlation {a.correlation:+.2f}, low end {scan.low_correlation:+.2f}, "
                f"mono loss {a.mono_loss_lu:.1f} LU",
                "phase and mono thresholds",
                "—",
            )
        )
    return out


def _dynamics(a: Analysis, scan: Scan) -> list[Finding]:
    out = []
    if a.plr_db < PLR_WARN_DB:
        severity = "problem" if a.plr_db < PLR_PROBLEM_DB else "warn"
        out.append(
            Finding(
                "over-compression",
                severity,
                f"PLR {a.plr_db:.1f} dB",
                f"PLR ≥ {PLR_WARN_DB:g} dB",
                "back off the mix-bus compressor/limiter: mastering cannot restore flattened "
                "transients, and streaming normalisation removes the loudness gained",
            )
        )
    if a.crest_factor_db < CREST_WARN_DB:
        out.append(
            Finding(
                "crest factor",
                "warn",
                f"crest factor {a.crest_factor_db:.1f} dB (sample peak over RMS)",
                f"≥ {CREST_WARN_DB:g} dB",
                "the waveform is clipped or limited flat: find the clipper, saturator or limiter "
                "that shaves the peaks (often on the mix bus"
                + (" or drums" if scan.kick.detected else "")
                + ") and ease it until the transients come back",
            )
        )
    if not out:
        out.append(
            Finding(
                "dynamics",
                "ok",
                f"PLR {a.plr_db:.1f} dB, crest factor {a.crest_factor_db:.1f} dB",
                f"PLR ≥ {PLR_WARN_DB:g} dB, crest ≥ {CREST_WARN_DB:g} dB",
                "—",
            )
        )
    if a.lra_lu < LRA_NOTE_LU and a.duration_s >= 30:
        out.append(
            Finding(
                "loudness range",
                "note",
                f"LRA {a.lra_lu:.1f} LU",
                f"≥ {LRA_NOTE_LU:g} LU (genre dependent)",
                "very even loudness; if sections should contrast, let them",
            )
        )
    return out


def _resonances(a: Analysis, reference: Analysis | None) -> list[Finding]:
    """Harsh and sibilant peaks of the smoothed spectrum (or of its difference to the reference)."""
    hz, level = _smoothed_db(a)
    against = "its neighbours (1/6-octave spectrum)"
    if reference is not None:
        ref_hz, ref_level = _smoothed_db(reference)
        match = reference.integrated_lufs - a.integrated_lufs
        level = level - np.interp(hz, ref_hz, ref_level) + match
        against = "the reference (1/6-octave spectra, loudness-matched)"
    peaks = _peaks(hz, level)
    out = []
    for area, (low, high) in (("harshness", HARSH_HZ), ("sibilance", SIBILANT_HZ)):
        inside = [p for p in peaks if low <= p.hz <= high and p.height_db > RESONANCE_DB]
        if not inside:
            continue
        worst = max(inside, key=lambda p: p.height_db)
        tool = "a de-esser" if area == "sibilance" else "a narrow (dynamic) EQ cut"
        out.append(
            Finding(
                area,
                "warn",
                f"peak +{worst.height_db:.1f} dB at {_fmt_khz(worst.hz)} above {against}",
                f"≤ {RESONANCE_DB:g} dB",
                f"tame {_fmt_khz(worst.hz)} by about {worst.height_db:.0f} dB with {tool} on "
                "the sources that carry it",
            )
        )
    return out


def _low_end(a: Analysis, scan: Scan, reference: Analysis | None) -> list[Finding]:
    """The low end against the reference, or against the target curve of real mixes."""
    if reference is not None:
        return _low_end_against_reference(a, scan, reference)
    excess = _bands_db(a, LOW_END_OCTAVES) - _bands_db(a, MID_OCTAVES)
    if not math.isfinite(excess):
        return []
    if excess > LOW_END_HEAVY_DB:
        more = "heavy"
    elif excess < LOW_END_THIN_DB and scan.kick.detected:
        more = "thin"
    else:
        return []
    return [
        Finding(
            "low-end balance",
            "warn",
            f"63-125 Hz octaves {excess:+.1f} dB against the 500 Hz-2 kHz octaves",
            f"{LOW_END_THIN_DB:+g} to {LOW_END_HEAVY_DB:+g} dB (the long-term spectrum of "
            "popular mixes)",
            f"the low end is {more}: {_balance_advice(scan)}",
        )
    ]


def _balance_advice(scan: Scan) -> str:
    if scan.kick.detected:
        return "check the kick/bass balance and low shelving"
    return "check the level and low shelving of the lowest parts"


def _low_end_against_reference(a: Analysis, scan: Scan, reference: Analysis) -> list[Finding]:
    """Each low octave against the mids, in the mix and in the reference.

    Balance is a shape, so each side is read against its own 500 Hz-2 kHz
    octaves.  Matching integrated loudness instead would hide a heavy low
    end: where the bass dominates, it sets the loudness, and matching turns
    the whole mix, low end included, down to the reference.
    """
    out = []
    mids = _bands_db(a, MID_OCTAVES) - _bands_db(reference, MID_OCTAVES)
    for band in LOW_END_BANDS:
        diff = a.octave_bands_db[band] - reference.octave_bands_db[band] - mids
        if math.isfinite(diff) and abs(diff) > REFERENCE_BAND_DB:
            more = "heavier" if diff > 0 else "lighter"
            out.append(
                Finding(
                    "low-end balance",
                    "warn",
                    f"{band} Hz octave {diff:+.1f} dB against the reference (both read "
                    "against their 500 Hz-2 kHz octaves)",
                    f"within ±{REFERENCE_BAND_DB:g} dB of the reference",
                    f"the low end is {more} than the reference around {band} Hz: "
                    + _balance_advice(scan),
                )
            )
    return out


def _tone_ok(findings: list[Finding]) -> list[Finding]:
    """One "ok" line when no tonal check spoke."""
    tonal = {"harshness", "sibilance", "low-end balance"}
    if any(f.area in tonal for f in findings):
        return []
    checks = "resonance and low-end checks"
    return [Finding("tonal balance", "ok", "no band stands out", checks, "—")]


def _loudness(a: Analysis, target: LoudnessTarget) -> list[Finding]:
    over = a.integrated_lufs - target.integrated_lufs
    if over > 1.0:
        return [
            Finding(
                "loudness",
                "note",
                f"integrated {a.integrated_lufs:.1f} LUFS",
                f"{target.describe()}",
                f"{target.name} will turn this down by {over:.1f} dB: the loudness bought with "
                "limiting is lost, its side effects stay; a more dynamic mix plays as loud",
            )
        ]
    return [
        Finding(
            "loudness",
            "ok",
            f"integrated {a.integrated_lufs:.1f} LUFS",
            f"{target.describe()}",
            "mastering sets the final level",
        )
    ]


def build_feedback(
    mix_path: str | Path,
    target: LoudnessTarget,
    reference_path: str | Path | None = None,
    session_path: str | Path | None = None,
) -> Feedback:
    session = session_notes(session_path) if session_path else None
    if reference_path is None and session and session.references:
        first = session.references[0]["path"]
        reference_path = first if Path(first).exists() else None
    mix = analyze_file(mix_path)
    scan = scan_file(mix_path)
    reference = analyze_file(reference_path) if reference_path else None
    if mix.duration_s < MOMENTARY_S:
        short = Finding(
            "length",
            "problem",
            f"{mix.duration_s:.2f} s of audio",
            f"at least {MOMENTARY_S:g} s (one loudness gating block)",
            "the file is too short to measure: export or render the whole mix",
        )
        return Feedback(mix, scan, target, [short], session, reference)
    if not math.isfinite(mix.integrated_lufs):
        silent = Finding(
            "level",
            "problem",
            "no programme above the −70 LUFS gate",
            "audible programme",
            "the file is silent or nearly so: check the render's routing, mutes and output",
        )
        return Feedback(mix, scan, target, [silent], session, reference)
    findings = [
        *_headroom(mix, scan),
        *_stereo(mix, scan),
        *_dynamics(mix, scan),
        *_resonances(mix, reference),
        *_low_end(mix, scan, reference),
        *_loudness(mix, target),
    ]
    findings += _tone_ok(findings)
    findings.sort(key=lambda f: SEVERITIES.index(f.severity))
    return Feedback(mix, scan, target, findings, session, reference)


# --- rendering -------------------------------------------------------------------

ICONS = {"problem": "✖", "warn": "⚠", "note": "•", "ok": "✓"}


def to_markdown(fb: Feedback) -> str:
    a = fb.mix
    lines = [
        f"# Mix feedback: {Path(a.file).name}",
        "",
        f"{a.channels} channels, {a.sample_rate:g} Hz, {a.duration_s:.1f} s. "
        f"Target: {fb.target.describe()}."
        + (f" Reference: {Path(fb.reference.file).name}." if fb.reference else ""),
        "",
    ]
    if fb.session and fb.session.has_notes:
        lines += ["## Your notes", ""]
        if fb.session.notes:
            lines += [f"> {line}" for line in fb.session.notes.splitlines()] + [""]
        for track, note in fb.session.track_notes.items():
            lines.append(f"- **{track}**: {note}")
        if fb.session.references:
            refs = [
                r["path"] + (f" ({r['note']})" if r["note"] else "") for r in fb.session.references
            ]
            lines += ["", "References: " + "; ".join(refs)]
        lines.append("")
    lines += [
        "## Findings",
        "",
        "| | area | measured | threshold | suggestion |",
        "|---|---|---|---|---|",
    ]
    for f in fb.findings:
        lines.append(
            f"| {ICONS[f.severity]} {f.severity} | {f.area} | {f.measured} | {f.threshold} | "
            f"{f.suggestion} |"
        )
    lines += [
        "",
        "## Measurements",
        "",
        "| | |",
        "|---|---|",
        *(f"| {label} | {value} |" for label, value in _measurements(fb)),
        "",
    ]
    return "\n".join(lines)


MEASURED = metrics(
    "integrated_lufs",
    "max_short_term_lufs",
    "lra_lu",
    "true_peak_dbtp",
    "plr_db",
    "crest_factor_db",
    "correlation",
    "mono_loss_lu",
)


def _measurements(fb: Feedback) -> list[tuple[str, str]]:
    """(label, value) of the measurements table; correlation also gives the low end's."""
    rows = []
    for m in MEASURED:
        value = getattr(fb.mix, m.key)
        if m.key == "correlation":
            text = f"{value:+.2f} (below {LOW_CUTOFF_HZ:g} Hz {fb.scan.low_correlation:+.2f})"
        else:
            text = format_value(value, m.unit, 2 if m.key == "true_peak_dbtp" else 1)
        rows.append((m.label, text))
    return rows


def to_json(fb: Feedback) -> str:
    return json.dumps(fb.as_json(), indent=2, allow_nan=False)


def _notes_html(session: SessionNotes) -> str:
    """The mixer's notes, per-track notes and references, each shown when present."""
    parts = ["<h2>Your notes</h2>"]
    if session.notes:
        parts.append(f"<blockquote>{html.escape(session.notes)}</blockquote>")
    parts += [
        f"<p><b>{html.escape(t)}</b>: {html.escape(n)}</p>" for t, n in session.track_notes.items()
    ]
    if session.references:
        items = "".join(
            f"<li>{html.escape(r['path'])}" + (f" ({html.escape(r['note'])})" if r["note"] else "") + "</li>"
            for r in session.references
        )
        parts.append(f"<p>References:</p><ul>{items}</ul>")
    return "\n".join(parts)


def write_feedback_html(fb: Feedback, path: str | Path) -> None:
    """The findings, the mixer's notes and the plots as a self-contained HTML page."""
    a = fb.mix
    findings = table(
        ["", "area", "measured", "threshold", "suggestion"],
        [
            [f"{ICONS[f.severity]} {f.severity}", f.area, f.measured, f.threshold, f.suggestion]
            for f in fb.findings
        ],
        row_class=[f.severity for f in fb.findings],
    )
    notes = _notes_html(fb.session) if fb.session and fb.session.has_notes else ""
    body = f"""<h1>Mix feedback: {html.escape(Path(a.file).name)}</h1>
<p>Target {html.escape(fb.target.describe())}; integrated {a.integrated_lufs:.1f} LUFS,
true peak {a.true_peak_dbtp:.2f} dBTP, PLR {a.plr_db:.1f} dB, LRA {a.lra_lu:.1f} LU.</p>
{notes}
<h2>Findings</h2>
{findings}
<h2>Loudness over time</h2>
{loudness_plot(a, fb.target.integrated_lufs).img("loudness over time")}
<h2>Spectrum</h2>
{spectrum_plot(a, fb.reference).img("spectrum")}"""
    write_report(path, page("mixhost feedback", body))


def write_feedback_markdown(fb: Feedback, path: str | Path) -> None:
    """The Markdown report (:func:`to_markdown`) written to ``path``."""
    write_report(path, to_markdown(fb))
