"""Loudness mastering to a target: measure, gain, true-peak limit, verify.

Two-pass (and, when the limiter has work to do, a few more) offline
processing that streams the file each time, so memory stays flat:

1. measure the input's integrated loudness (BS.1770-4);
2. render ``gain → limiter`` (the true-peak brickwall ``limiter`` stage at
   the target's ceiling) and measure what comes out.  Limiting lowers the
   loudness a little, so the gain is corrected by the remaining error and the
   render repeated until the output is within ``tolerance`` LU of the target
   (EBU R128 allows ±1 LU in general and ±0.2 LU for file-based programme;
   we aim well inside that);
3. the accepted render is written to a temp file, read back and measured
   before it is renamed into place: the report states the achieved
   integrated loudness and true peak of the file as written.

The promise is enforced, not only logged: when the passes run out more than
``FILE_TOLERANCE_LU`` from the target, or the written file (after
quantisation and dither) has its true peak over the ceiling, mastering
raises :class:`RenderError` saying what was asked, what was reached and why
(a target out of reach under the ceiling says so), and leaves no output.

The limiter's latency is compensated: the output lines up with the input
and has the same length.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf

from ..atomic import OutputSet, temp_folder_beside
from ..audio_io import AtomicWriter
from ..errors import SessionError, UserInputError
from ..loudness.conformance import (
    FILE_TOLERANCE_LU,
    MAX_PASSES,
    TOLERANCE_LU,
    check_written,
    missed_target,
    next_gain,
)
from ..loudness.meter import (
    DEFAULT_FILE_BLOCK,
    LoudnessMeter,
    LoudnessResult,
    iter_blocks,
    measure_file,
)
from ..loudness.meter import open_audio as _open_audio
from ..loudness.targets import LoudnessTarget
from ..outputs import Output, audio_format, prepare
from ..stages.base import Stage
from ..stages.limiter import make_limiter

log = logging.getLogger(__name__)

MAX_GAIN_DB = 60.0


@dataclass
class MasterReport:
    """What ``master`` did and what it achieved (values of the written file)."""

    input: str
    output: str
    target: LoudnessTarget
    input_integrated_lufs: float
    input_true_peak_dbtp: float
    gain_db: float
    passes: int
    result: LoudnessResult
    pass_log: list[tuple[float, float]] = field(default_factory=list)  # (gain, integrated)
    chain: str | None = None
    reference: str | None = None
    match_eq_db: dict[str, dict[str, float]] | None = None  # octave centre -> mid/side dB

    @property
    def error_lu(self) -> float:
        return self.result.integrated_lufs - self.target.integrated_lufs

    def as_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "target": self.target.name,
            "chain": self.chain,
            "reference": self.reference,
            "match_eq_db": self.match_eq_db,
            "target_lufs": self.target.integrated_lufs,
            "ceiling_dbtp": self.target.ceiling_dbtp,
            "input_integrated_lufs": self.input_integrated_lufs,
            "input_true_peak_dbtp": self.input_true_peak_dbtp,
            "gain_db": self.gain_db,
            "passes": self.passes,
            "integrated_lufs": self.result.integrated_lufs,
            "true_peak_dbtp": self.result.true_peak_dbtp,
            "sample_peak_dbfs": self.result.sample_peak_dbfs,
            "lra_lu": self.result.lra_lu,
            "error_lu": self.error_lu,
        }


class BlockWriter(Protocol):
    """Anything that takes ``(channels, frames)`` blocks: an output file writer."""

    def write(self, block: np.ndarray) -> None: ...


def _render(
    path: Path,
    gain_db: float,
    limiter: Stage,
    block: int,
    writer: BlockWriter | None,
) -> float:
    """One pass of gain → limiter over the file; returns the output's integrated loudness."""
    limiter.reset()
    gain = 10.0 ** (gain_db / 20.0)
    skip = limiter.latency  # output frames that only hold the limiter's delay
    with _open_audio(path) as handle:
        meter = LoudnessMeter(handle.channels, handle.samplerate, true_peak=False)

        def emit(y: np.ndarray) -> None:
            nonlocal skip
            if skip:
                cut = min(skip, y.shape[1])
                y = y[:, cut:]
                skip -= cut
            if y.shape[1]:
                meter.process(y)
                if writer is not None:
                    writer.write(y)

        for x in iter_blocks(handle, block, path):
            emit(limiter.process(np.ascontiguousarray(x) * gain))
        if limiter.latency:
            emit(limiter.process(np.zeros((handle.channels, limiter.latency))))
    return meter.integrated()


def render_chain(source: Path, chain: str, work_dir: Path, sample_rate: float) -> Path:
    """Run ``source`` through a chain file's stages with the session engine; returns a float WAV.

    The chain is the track chain of a one-track session written to
    ``work_dir``; a chain name resolves as in sessions, from the current
    folder (it, its ``chains/`` folder, ``MIXHOST_CHAIN_PATH``, the shipped
    chains); a path to a ``.yaml`` file is used as given.  The engine compensates the stages' latency.
    """
    from ..session import chains, load_session

    # resolved here, from the user's folder: the session below lives in a temp folder, whose name
    # and files an error about the chain must not show
    try:
        ref = str(chains.resolve(chain, Path.cwd()).resolve())
    except SessionError as error:  # about the --chain option, not a file: no file:line
        raise UserInputError(error.message, hint=error.hint) from None
    rendered = work_dir / "chain.wav"
    document = {
        "session": {"name": "master chain", "sample_rate": int(sample_rate)},
        "tracks": {"mix": {"source": str(source.resolve()), "chain": ref}},
        "outputs": {
            "mixdown": str(rendered),
            "format": "wav",
            "bit_depth": "float",
            "dither": False,
        },
    }
    session_file = work_dir / "master-chain.yaml"
    session_file.write_text(json.dumps(document, indent=2), encoding="utf-8")  # JSON is YAML
    result = load_session(session_file).render()
    rendered = Path(result.outputs[0])
    if sf.info(str(source)).channels == 1 and sf.info(str(rendered)).channels == 2:
        rendered = _fold_to_mono(rendered, work_dir / "chain-mono.wav")
    return rendered


def _fold_to_mono(stereo: Path, out: Path) -> Path:
    """A mono source comes back from the (stereo) engine panned centre: fold it back.

    The centre pan puts x/√2 in each side (−3 dB law), so (L + R)/√2 is x again.
    """
    with _open_audio(stereo) as handle, sf.SoundFile(
        str(out), "w", samplerate=handle.samplerate, channels=1, subtype="FLOAT"
    ) as writer:
        for x in iter_blocks(handle, DEFAULT_FILE_BLOCK, stereo):
            writer.write((x[0] + x[1]) / math.sqrt(2.0))
    return out


def master_file(
    input_path: str | Path,
    output_path: str | Path,
    target: LoudnessTarget,
    bit_depth: int | str = 24,
    block: int = DEFAULT_FILE_BLOCK,
    tolerance: float = TOLERANCE_LU,
    chain: str | None = None,
    reference: str | Path | None = None,
    tags: Mapping[str, str] | None = None,
) -> MasterReport:
    """Master ``input_path`` to ``target``; writes ``output_path`` and returns the report.

    With ``chain`` (a chain file name or path), the input first goes through
    that chain's stages.  With ``reference``, the result then gets the
    reference's long-term mid/side spectral balance
    (:mod:`host.analysis.matching`); pass a target at the reference's
    loudness to match that too (``reference_target``).  The loudness passes
    work on what comes out.  ``tags`` (title, artist, ...: :func:`host.tags.read_tags`
    of the source) go into the output file before it lands.
    """
    source, out = Path(input_path), Path(output_path)
    if out.is_dir():  # never a file named after it: the user meant a folder
        raise UserInputError(f"-o {out} is a folder", hint=f"name the file: -o {out / source.name}")
    out, fmt = audio_format(out, None, ("wav", "flac", "aiff"))
    chain_file = Path(chain) if chain is not None and Path(chain).suffix in (".yaml", ".yml") else None
    prepare([Output(out, "write the master to another file (-o)")],
            [source, Path(reference) if reference is not None else None, chain_file])
    measured = measure_file(source, block)
    if not math.isfinite(measured.integrated_lufs):
        raise UserInputError(
            f"{source}: the programme is silent (below the −70 LUFS gate); nothing to master"
        )
    # scratch files go beside the output, where the next run reaps them if this one is killed;
    # the master lands at the end, so an interrupt before then leaves an old file as it was
    with OutputSet() as staged:
        work = staged.scratch(temp_folder_beside(out))
        processed = source
        if chain is not None:
            processed = render_chain(source, chain, work, measured.sample_rate)
        match = None
        if reference is not None:
            processed, match = _match_reference(processed, Path(reference), work)
        pre = measured if processed == source else measure_file(processed, block)
        report = _loudness_passes(processed, pre, out, fmt, target, bit_depth, block, tolerance, staged,
                                  tags)
        staged.land()
    report.reference = str(reference) if reference is not None else None
    report.match_eq_db = match.octave_summary() if match is not None else None
    report.input = str(source)
    report.input_integrated_lufs = measured.integrated_lufs
    report.input_true_peak_dbtp = measured.true_peak_dbtp
    report.chain = chain
    return report


def _match_reference(source: Path, reference: Path, work: Path) -> tuple[Path, Any]:
    from .matching import apply_match, design_match, mid_side_spectrum

    eq = design_match(mid_side_spectrum(source), mid_side_spectrum(reference))
    matched = work / "matched.wav"
    apply_match(source, matched, eq)
    return matched, eq


def reference_target(reference: str | Path, ceiling_dbtp: float) -> LoudnessTarget:
    """A target at the reference's integrated loudness, with the given true-peak ceiling."""
    measured = measure_file(reference)
    if not math.isfinite(measured.integrated_lufs):
        raise UserInputError(f"{reference}: the reference is silent; it sets no loudness")
    name = f"reference {Path(reference).name}"
    return LoudnessTarget(name, round(measured.integrated_lufs, 2), ceiling_dbtp)


def _loudness_passes(
    source: Path,
    measured: LoudnessResult,
    out: Path,
    fmt: str,
    target: LoudnessTarget,
    bit_depth: int | str,
    block: int,
    tolerance: float,
    staged: OutputSet,
    tags: Mapping[str, str] | None = None,
) -> MasterReport:
    """Gain → limiter passes over ``source`` until the output is within ``tolerance`` LU; the
    accepted pass is staged in ``staged``."""
    if not math.isfinite(measured.integrated_lufs):
        raise UserInputError(f"{source}: silent after the mastering chain; nothing to master")
    gain_db = target.integrated_lufs - measured.integrated_lufs
    if abs(gain_db) > MAX_GAIN_DB:
        raise UserInputError(
            f"{source}: reaching {target.integrated_lufs:g} LUFS needs {gain_db:+.1f} dB of gain",
            hint="is this the right file? mastering refuses gains beyond ±60 dB",
        )
    limiter = make_limiter(measured.sample_rate, measured.channels, target.ceiling_dbtp, block)
    log.info("input %.2f LUFS, %.2f dBTP", measured.integrated_lufs, measured.true_peak_dbtp)
    history: list[tuple[float, float]] = []
    written: list[LoudnessResult] = []
    for attempt in range(1, MAX_PASSES + 1):
        with AtomicWriter(
            out, int(measured.sample_rate), measured.channels, fmt=fmt, bit_depth=bit_depth, tags=tags
        ) as writer:
            achieved = _render(source, gain_db, limiter, block, writer)
            history.append((gain_db, achieved))
            log.info("pass %d: gain %+.2f dB -> %.3f LUFS", attempt, gain_db, achieved)
            error = abs(target.integrated_lufs - achieved)
            # the last pass is kept when it is inside R128's tolerance, if not inside our aim
            if error <= tolerance or (attempt == MAX_PASSES and error <= FILE_TOLERANCE_LU):
                staged.add(writer.finish(lambda tmp: written.append(check_written(tmp, target, str(out)))), out)
                break
            writer.abort()
        if attempt == MAX_PASSES:
            raise missed_target(str(source), history, target)
        gain_db = next_gain(history, target.integrated_lufs)
    result = written[0]
    return MasterReport(
        input=str(source),
        output=str(out),
        target=target,
        input_integrated_lufs=measured.integrated_lufs,
        input_true_peak_dbtp=measured.true_peak_dbtp,
        gain_db=gain_db,
        passes=len(history),
        result=result,
        pass_log=history,
    )
