"""Planning a batch: the jobs of each command, checked before anything runs.

A :class:`Plan` is the list of jobs, the journal's path and what the summary
needs.  Everything a user can get wrong is refused here, with exit code 2
and nothing written: inputs that name nothing, an unknown target or chain,
an output that would replace an input, two inputs that would be written to
one output, a session that does not load, a variations script that fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from ...atomic import ensure_folder
from ...errors import OutputError, SessionError, UserInputError
from ...loudness.targets import LoudnessTarget, resolve_target
from ...outputs import WRITABLE, Output, format_of_extension, guard_many
from .inputs import Source, expand
from .jobs import AnalyzeJob, Job, JobResult, MasterJob, RenderJob, TagJob
from .journal import Journal, journal_path

BIT_DEPTHS = (16, 24, 32, "float")
#: what `batch tag` looks for in folders: the containers ReplayGain/R128 tags are written into
TAG_SUFFIXES = (".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".m4b")


class Stage(Protocol):
    """What a plan does in the planning process with each result as it arrives (``batch tag``
    writes an album's tags once its members are measured); returns the events to emit."""

    def take(self, result: JobResult, journal: Journal | None) -> list[dict[str, Any]]: ...

    def summary(self) -> list[dict[str, Any]]:
        """What the stage did, as data (``BatchResult.albums``)."""
        ...


@dataclass
class Plan:
    command: str
    jobs: list[Job]
    journal: Path | None
    target: LoudnessTarget | None = None
    out_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    stage: Stage | None = None
    warm: Callable[[], None] | None = None  # run once per worker (default: the workflows' imports)


def _bit_depth(value: int | str) -> int | str:
    depth: int | str = value if value == "float" else int(value)
    if depth not in BIT_DEPTHS:
        raise UserInputError(f"bit depth {value!r}: use 16, 24, 32 or float")
    return depth


def plan_analyze(inputs: Sequence[str | Path], target: str = "spotify", tolerance_lu: float = 1.0,
                 journal: Path | None = None) -> Plan:
    """One :class:`AnalyzeJob` per input file; the journal (if any) at ``journal``."""
    goal = resolve_target(target)
    jobs: list[Job] = [AnalyzeJob(source.location, location=source.location, target=goal,
                                  tolerance_lu=tolerance_lu) for source in expand(inputs)]
    return Plan("analyze", jobs, journal, target=goal)


def plan_master(inputs: Sequence[str | Path], out_dir: Path, target: str = "spotify",
                chain: str | None = None, fmt: str | None = None, bit_depth: int | str = 24,
                keep_tree: bool = False, keep_tags: bool = True) -> Plan:
    """One :class:`MasterJob` per input, written under ``out_dir``.

    The output keeps the input's name (and, with ``keep_tree``, its folder
    below the argument it came from); its extension is ``fmt``'s, or the
    input's when that is a format mixhost writes, else ``.flac``.
    """
    goal = resolve_target(target)
    depth = _bit_depth(bit_depth)
    if fmt is not None and fmt not in WRITABLE:
        raise UserInputError(f"--format {fmt}: mixhost writes {', '.join(WRITABLE)}")
    if fmt == "flac" and depth in (32, "float"):
        raise UserInputError(f"FLAC holds 16- or 24-bit audio, not {depth}", hint="use --bit-depth 24 or --format wav")
    chain_ref = _chain(chain)
    sources = expand(inputs)
    jobs: list[Job] = []
    for source in sources:
        output = _master_output(source, out_dir, fmt, depth, keep_tree)
        key = output.relative_to(out_dir).as_posix()
        jobs.append(MasterJob(key, location=source.location, output=str(output), target=goal, bit_depth=depth,
                              chain=chain_ref, keep_tags=keep_tags))
    check_outputs(jobs, sources, "use --keep-tree to keep the inputs' folders apart, or master them in two batches")
    return Plan("master", jobs, journal_path(out_dir, "master"), target=goal, out_dir=out_dir)


def _master_output(source: Source, out_dir: Path, fmt: str | None, depth: int | str, keep_tree: bool) -> Path:
    relative = PurePosixPath(source.relative if keep_tree else source.name)
    own = format_of_extension(relative.suffix)
    chosen = fmt or (own if own is not None and not (own == "flac" and depth in (32, "float")) else None)
    chosen = chosen or ("wav" if depth in (32, "float") else "flac")
    return out_dir.joinpath(*relative.with_suffix(WRITABLE[chosen][0]).parts)


def _chain(chain: str | None) -> str | None:
    """A chain name or file, resolved here, from the user's folder: a worker may run elsewhere."""
    if chain is None:
        return None
    from ...session import chains

    try:
        return str(chains.resolve(chain, Path.cwd()).resolve())
    except SessionError as error:
        raise UserInputError(error.message, hint=error.hint) from None


def check_outputs(jobs: Sequence[Job], sources: Sequence[Source] | None, hint: str) -> None:
    """Refuse two jobs writing one file (naming both inputs), and an output over an input; then make
    the output folders.  All before any job starts."""
    owner: dict[str, Job] = {}
    outputs: list[Output] = []
    for job in jobs:
        for path in job.outputs():
            key = os.path.normcase(os.path.realpath(path))
            if key in owner:
                raise OutputError(f"{_what(owner[key])} and {_what(job)} would both be written to {path}; "
                                  "nothing was written", hint=hint)
            owner[key] = job
            outputs.append(Output(path, "write the batch into another folder (-o)"))
    read = [Path(loc) for job in jobs for loc in job.inputs() if "://" not in loc]
    guard_many(outputs, read)
    for folder in sorted({output.path.parent for output in outputs}):
        ensure_folder(folder)


def _what(job: Job) -> str:
    return str(getattr(job, "location", "") or getattr(job, "key", ""))


# -- render -----------------------------------------------------------------------------------------
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,99}$")


def plan_render(sessions: Sequence[str | Path], out_dir: Path, variations: str | Path | None = None) -> Plan:
    """One :class:`RenderJob` per session, or per variation the script yields for each session.

    Outputs go to ``out_dir/<session name>/`` (``/<variation>/`` with a script).
    """
    from ...engine.render import input_files, validate_outputs
    from ...session import load_session
    from .variations import load_variations

    make = load_variations(Path(variations)) if variations is not None else None
    files = expand(sessions, suffixes=(".yaml", ".yml"))
    jobs: list[Job] = []
    for source in files:
        session = load_session(source.location)
        reads = tuple(str(p) for p in input_files(session)[1:] if p.is_file())
        stem = PurePosixPath(source.relative).with_suffix("").as_posix()
        versions: list[tuple[str, dict[str, Any]]] = (
            make(session) if make is not None else [("", session.worker_state())])
        for name, state in versions:
            if name and not _SAFE_NAME.match(name):
                raise UserInputError(f"{variations}: variation name {name!r} cannot name a folder",
                                     hint="use letters, digits, spaces, . _ + - (up to 100)")
            folder = out_dir / stem / name if name else out_dir / stem
            planned = tuple(str(p) for p in validate_outputs(session, folder))
            key = f"{stem}/{name}" if name else stem
            jobs.append(RenderJob(key, session=str(Path(source.location).resolve()), variation=name,
                                  state=state, out_dir=str(folder), files=reads, planned=planned))
    check_outputs(jobs, None, "name each variation differently")
    return Plan("render", jobs, journal_path(out_dir, "render"), out_dir=out_dir)


# -- tag --------------------------------------------------------------------------------------------
def plan_tag(inputs: Sequence[str | Path], album_by: str | None = "folder", journal: Path | None = None,
             peak: str = "sample") -> Plan:
    """One :class:`TagJob` (a measurement) per file; the tags are written in place by the plan's
    :class:`~host.analysis.batch.albums.AlbumTagger` as each album completes.

    ``album_by``: ``"folder"``, ``"tag"`` (album artist and album) or None (no album tags).  The
    journal is ``journal``, or :func:`~host.analysis.batch.albums.default_journal`'s.
    """
    from .albums import AlbumBy, AlbumTagger, albums_of, default_journal
    from .runners import warm_meter

    if album_by not in ("folder", "tag", None):
        raise UserInputError(f"--album-by {album_by}: group albums by folder or tag")
    if peak not in ("sample", "true"):
        raise UserInputError(f"peak {peak!r}: use sample or true")
    sources = expand(inputs, suffixes=TAG_SUFFIXES)
    remote = [s.location for s in sources if s.is_url]
    if remote:
        raise UserInputError(f"{remote[0]}: tags are written in place, into files on a path",
                             hint="tag files on a local or shared filesystem (mounted on the workers too)")
    jobs: list[Job] = [TagJob(source.location, location=source.location) for source in sources]
    where = journal if journal is not None else default_journal([s.location for s in sources])
    if where.exists() and where.is_dir():
        raise UserInputError(f"--journal {where} is a folder", hint="give a file path for the journal")
    by: AlbumBy | None = "tag" if album_by == "tag" else "folder" if album_by == "folder" else None
    tagger = AlbumTagger(jobs, albums_of(jobs, by), with_album=album_by is not None,
                         peak="true" if peak == "true" else "sample")
    return Plan("tag", jobs, where, stage=tagger, warm=warm_meter)
