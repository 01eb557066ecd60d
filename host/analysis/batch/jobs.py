"""The jobs of a batch: picklable specs, their digests, and :func:`run_job`, which a worker runs.

A job is a frozen dataclass holding plain data only (paths as text, the
target, options), so it pickles to a process-pool worker or a Dask worker
unchanged.  Its :meth:`Job.options_digest` hashes the options (and the
mixhost version: another version may give another result); the worker
hashes the input files' bytes (:func:`~host.analysis.batch.inputs.content_digest`).
Both go into the journal with the result.

:func:`run_job` never raises for a bad input: a :class:`MixhostError` (an
empty, corrupt, NaN-filled or unreadable file, a target out of reach) fails
that job only, with the message the single command would print.  An
interrupt does propagate: the job is neither done nor failed, and the next
run does it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ... import __version__
from ...errors import MixhostError
from ...loudness.targets import LoudnessTarget
from .inputs import content_digest, fingerprint, local_copy

log = logging.getLogger(__name__)

#: job statuses: ``done`` (worked now), ``unchanged`` (inputs touched, bytes the same: the journal's
#: result stands), ``skipped`` (the journal says done; not sent to a worker), ``failed``
DONE, UNCHANGED, SKIPPED, FAILED = "done", "unchanged", "skipped", "failed"


@dataclass(frozen=True)
class Job:
    """One unit of work.  ``key`` names it in the journal and in events (unique in a batch)."""

    kind: ClassVar[str] = "job"
    key: str

    def inputs(self) -> tuple[str, ...]:
        """Every file the job reads (locations: paths or URLs)."""
        raise NotImplementedError

    def outputs(self) -> tuple[Path, ...]:
        """Every file the job writes (none for an analysis)."""
        return ()

    def options(self) -> dict[str, Any]:
        """What, besides the inputs' bytes, decides the result."""
        return {k: v for k, v in asdict(self).items() if k != "key"}

    def options_digest(self) -> str:
        text = json.dumps({"kind": self.kind, "mixhost": __version__, **self.options()},
                          sort_keys=True, default=str)
        return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()

    def digest(self, location: str) -> str:
        """The digest of one input's content the journal compares (by default, all its bytes)."""
        return content_digest(location)

    def execute(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class AnalyzeJob(Job):
    """``mixhost analyze`` of one file, with pass/fail against a target."""

    kind: ClassVar[str] = "analyze"
    location: str = ""
    target: LoudnessTarget = LoudnessTarget("spotify", -14.0, -1.0)
    tolerance_lu: float = 1.0

    def inputs(self) -> tuple[str, ...]:
        return (self.location,)

    def execute(self) -> dict[str, Any]:
        from ..report import analyze_file

        with local_copy(self.location) as path:
            analysis = analyze_file(path)
        row = analysis.as_json()
        row["file"] = self.location
        integrated, peak = row["integrated_lufs"], row["true_peak_dbtp"]
        row["over_ceiling"] = peak is not None and peak > self.target.ceiling_dbtp
        row["pass"] = (integrated is not None and abs(integrated - self.target.integrated_lufs)
                       <= self.tolerance_lu and not row["over_ceiling"])
        return row


@dataclass(frozen=True)
class MasterJob(Job):
    """``mixhost master`` of one file to ``output``, keeping the source's tags."""

    kind: ClassVar[str] = "master"
    location: str = ""
    output: str = ""
    target: LoudnessTarget = LoudnessTarget("spotify", -14.0, -1.0)
    bit_depth: int | str = 24
    chain: str | None = None
    keep_tags: bool = True

    def inputs(self) -> tuple[str, ...]:
        return (self.location,) + ((self.chain,) if self.chain and Path(self.chain).is_file() else ())

    def outputs(self) -> tuple[Path, ...]:
        return (Path(self.output),)

    def execute(self) -> dict[str, Any]:
        from ...tags import read_tags
        from ..mastering import master_file

        with local_copy(self.location) as path:
            tags = read_tags(path) if self.keep_tags else {}
            report = master_file(path, self.output, self.target, bit_depth=self.bit_depth,
                                 chain=self.chain, tags=tags)
        data = report.as_json()
        data["input"] = self.location
        data["tags"] = sorted(tags)
        return data


@dataclass(frozen=True)
class RenderJob(Job):
    """One session (or one variation of it) rendered into ``out_dir``.

    ``state`` is :meth:`Session.worker_state`: the session file, the values
    set on it and its lanes, so a variation made in the parent is rendered
    as it was made.  ``files`` are the files the session reads, for the digest.
    """

    kind: ClassVar[str] = "render"
    session: str = ""
    variation: str = ""
    state: Mapping[str, Any] = field(default_factory=dict)
    out_dir: str = ""
    files: tuple[str, ...] = ()
    planned: tuple[str, ...] = ()  # the output files the render will write

    def inputs(self) -> tuple[str, ...]:
        return (self.session, *self.files)

    def outputs(self) -> tuple[Path, ...]:
        return tuple(Path(p) for p in self.planned)

    def options(self) -> dict[str, Any]:
        return {"variation": self.variation, "values": dict(self.state.get("values", {})),
                "lanes": self.state.get("lanes"), "out_dir": self.out_dir}

    def execute(self) -> dict[str, Any]:
        from ...session import Session

        session = Session.from_worker_state(self.state)
        result = session.render(self.out_dir, workers=1)
        return {"session": self.session, "variation": self.variation,
                "outputs": [str(p) for p in result.outputs], "duration_s": result.duration_s,
                "peak_dbfs": result.peak_dbfs, "loudness": result.loudness,
                "elapsed_s": result.elapsed_s}


@dataclass(frozen=True)
class TagJob(Job):
    """The loudness measurement of one file for its ReplayGain/R128 tags.

    The worker measures; the tags are written in place by the planning
    process once the file's whole album is measured (:mod:`.albums`).  The
    journal compares the file's *audio* bytes (:func:`host.tags.audio_digest`),
    not all its bytes: the tags this batch writes change the file, not its audio.
    """

    kind: ClassVar[str] = "tag"
    location: str = ""

    def inputs(self) -> tuple[str, ...]:
        return (self.location,)

    def digest(self, location: str) -> str:
        from ...errors import AudioInputError
        from ...tags import audio_digest

        if os.stat(location).st_size == 0:  # mutagen would only say it cannot parse it
            raise AudioInputError("the file is empty (0 bytes)", file=location,
                                  hint="re-export or re-download the file, or leave it out")
        return audio_digest(Path(location))

    def execute(self) -> dict[str, Any]:
        from ...loudness.replaygain import measure
        from .albums import measurement_data

        return measurement_data(measure(self.location))


@dataclass
class JobResult:
    """What became of one job; plain data (it travels back from a worker)."""

    key: str
    status: str
    data: dict[str, Any] | None = None
    error: str | None = None
    content: str = ""
    stat: list[list[int]] = field(default_factory=list)
    seconds: float = 0.0
    worker: str = ""

    @property
    def ok(self) -> bool:
        return self.status != FAILED


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def inputs_state(job: Job) -> tuple[list[list[int]], str]:
    """(the inputs' quick fingerprints, the digest of their bytes)."""
    stat = [list(fingerprint(location)) for location in job.inputs()]
    digest = hashlib.blake2b(digest_size=20)
    for location in job.inputs():
        digest.update(job.digest(location).encode())
    return stat, digest.hexdigest()


def run_job(job: Job, expect_content: str | None = None) -> JobResult:
    """Run ``job`` here (in a worker); a bad input fails this job only.

    ``expect_content``: the journal's digest of the inputs when it has the job
    done with other file times: bytes that are the same make the job
    ``unchanged`` without doing it again.
    """
    started = time.perf_counter()
    result = JobResult(job.key, FAILED, worker=worker_name())
    try:
        result.stat, result.content = inputs_state(job)
        if expect_content is not None and expect_content == result.content:
            result.status = UNCHANGED
        else:
            result.data = job.execute()
            result.status = DONE
    except MixhostError as error:
        result.error = str(error)
    except OSError as error:  # an input that vanished or cannot be read while hashing it
        result.error = f"{error.filename or job.key}: {error.strerror or error}"
    except Exception as error:  # a bug: this job fails, the batch goes on, the log keeps the trace
        log.error("%s: internal error\n%s", job.key, traceback.format_exc())
        result.error = f"{job.key}: internal error ({type(error).__name__}: {error}); please report it"
    result.seconds = time.perf_counter() - started
    return result
