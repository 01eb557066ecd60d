"""Running a plan: the journal decides what to skip, a runner does the rest, events tell the progress.

For each job the journal is asked first (unless ``force``): done with the
same options, its outputs present and its inputs' size and time unchanged,
the job is ``skipped`` and its journaled result stands.  Done but with
other file times, it goes to a worker with the journaled content digest: if
the bytes are the same it comes back ``unchanged`` at the cost of hashing.
Everything else runs.  Each result is journaled (fsync-ed) as it arrives,
before the next is taken, so an interrupt or a kill of this process loses
nothing that finished; an interrupt (Ctrl-C, SIGTERM) stops the runner and
raises :class:`~host.errors.Interrupted` saying how much was done.

A plan with a ``stage`` (``batch tag``'s album tagger) hands it every
result as it arrives, the journal's first: the stage works in this process
(writing an album's tags once its members are measured), may fail a job,
and returns events of its own (``{"event": "album", ...}``).

``on_event`` receives plain dicts (the ``--json`` lines of the CLI):
``{"event": "start", ...}``, one ``{"event": "job", ...}`` per job, and
``{"event": "end", ...}``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...errors import Interrupted
from .inputs import fingerprint
from .jobs import DONE, FAILED, SKIPPED, UNCHANGED, Job, JobResult
from .journal import Journal
from .plans import Plan
from .runners import Runner, Submission

Event = dict[str, Any]


@dataclass
class BatchResult:
    """Every job's result, in the plan's order, and the figures of the run."""

    command: str
    results: list[JobResult]
    elapsed_s: float = 0.0
    runner: str = ""
    journal: str | None = None
    target: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    albums: list[dict[str, Any]] = field(default_factory=list)  # batch tag: each album's gain and writes

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The data of every job that has some (done, unchanged or skipped)."""
        return [r.data for r in self.results if r.data is not None]

    def summary(self) -> dict[str, Any]:
        """Counts, failures with their reasons and, for an analysis, the loudest, the quietest and
        the files over the true-peak ceiling."""
        found: dict[str, Any] = {"command": self.command, "jobs": len(self.results), **self.counts,
                                 "elapsed_s": round(self.elapsed_s, 3), "runner": self.runner,
                                 "failures": [{"key": r.key, "error": r.error} for r in self.failed]}
        if self.command == "analyze":
            measured = [row for row in self.rows if _finite(row.get("integrated_lufs"))]
            measured.sort(key=lambda row: row["integrated_lufs"])
            found["quietest"] = [_brief(row) for row in measured[:3]]
            found["loudest"] = [_brief(row) for row in measured[::-1][:3]]
            found["over_ceiling"] = [_brief(row) for row in self.rows if row.get("over_ceiling")]
            found["passed"] = sum(1 for row in self.rows if row.get("pass"))
        if self.command == "tag":
            found.update(_tag_summary(self.rows, self.albums))
        if self.command == "master":
            found["over_ceiling"] = [row["output"] for row in self.rows
                                     if row["true_peak_dbtp"] > row["ceiling_dbtp"]]
        return found


def _tag_summary(rows: list[dict[str, Any]], albums: list[dict[str, Any]]) -> dict[str, Any]:
    """Track and album gain ranges, files written and kept, albums tagged without a member."""
    tracks = [row["track_gain_db"] for row in rows if _finite(row.get("track_gain_db"))]
    gains = [album["gain_db"] for album in albums if _finite(album.get("gain_db"))]
    return {"albums": len(albums), "written": sum(album["written"] for album in albums),
            "kept": sum(album["kept"] for album in albums),
            "track_gain_db": [min(tracks), max(tracks)] if tracks else None,
            "album_gain_db": [min(gains), max(gains)] if gains else None,
            "incomplete_albums": [{"album": a["album"], "missing": a["missing"]} for a in albums if a["missing"]]}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {"file": row["file"], "integrated_lufs": row.get("integrated_lufs"),
            "true_peak_dbtp": row.get("true_peak_dbtp")}


def _unchanged(job: Job, entry: dict[str, Any]) -> bool:
    try:
        return entry.get("stat") == [list(fingerprint(location)) for location in job.inputs()]
    except (OSError, ValueError):
        return False


def execute(plan: Plan, runner: Runner, *, force: bool = False,
            on_event: Callable[[Event], None] | None = None) -> BatchResult:
    """Run ``plan`` on ``runner``; every result journaled as it arrives."""
    emit = on_event or (lambda event: None)
    started = time.perf_counter()
    journal = Journal(plan.journal, plan.command) if plan.journal is not None else None
    by_key: dict[str, JobResult] = {}
    entries: dict[str, dict[str, Any]] = {}
    submissions: list[Submission] = []
    for job in plan.jobs:
        entry = None if force or journal is None else journal.done(job)
        if entry is not None and _unchanged(job, entry):
            by_key[job.key] = JobResult(job.key, SKIPPED, data=entry.get("data"), content=entry.get("content", ""),
                                        stat=entry.get("stat", []))
            continue
        if entry is not None:
            entries[job.key] = entry
        submissions.append((job, entry.get("content") if entry is not None else None))
    total = len(plan.jobs)
    counts = {DONE: 0, UNCHANGED: 0, SKIPPED: len(by_key), FAILED: 0}
    emit({"event": "start", "command": plan.command, "jobs": total, "to_run": len(submissions),
          "skipped": len(by_key), "runner": runner.description, "dashboard": runner.dashboard,
          "journal": str(plan.journal) if plan.journal else None})
    for result in by_key.values():
        emit(_job_event(result, len(by_key), total))
    jobs = {job.key: job for job, _ in submissions}
    finished = len(by_key)
    stage = plan.stage
    stream = runner.run(submissions) if submissions else iter(())
    try:
        if journal is not None:
            journal.open()
        if stage is not None:  # what the journal had done goes to the stage first (its albums may be whole)
            for result in list(by_key.values()):
                for event in stage.take(result, journal):
                    emit(event)
        for result in stream:
            job = jobs[result.key]
            if result.status == UNCHANGED:
                result.data = entries[job.key].get("data")
            if journal is not None:
                journal.record(job, result)
            by_key[result.key] = result
            counts[result.status] += 1
            finished += 1
            emit(_job_event(result, finished, total))
            for event in stage.take(result, journal) if stage is not None else ():
                emit(event)
    except KeyboardInterrupt as interrupt:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # the runner cancels what has not started and stops its workers
        done = counts[DONE] + counts[UNCHANGED] + counts[SKIPPED]
        where = f"; the journal {plan.journal} has them" if plan.journal else ""
        raise Interrupted(f"{done} of {total} jobs done, {counts[FAILED]} failed{where}; run the same "
                          "command again to do the rest") from interrupt
    finally:
        if journal is not None:
            journal.close()
    results = [by_key[job.key] for job in plan.jobs]
    counts = {status: sum(r.status == status for r in results) for status in counts}  # a stage may fail jobs
    batch = BatchResult(plan.command, results, time.perf_counter() - started, runner.description,
                        str(plan.journal) if plan.journal else None,
                        {"name": plan.target.name, "integrated_lufs": plan.target.integrated_lufs,
                         "ceiling_dbtp": plan.target.ceiling_dbtp} if plan.target else None, counts,
                        stage.summary() if stage is not None else [])
    emit({"event": "end", **batch.summary()})
    return batch


def _job_event(result: JobResult, finished: int, total: int) -> Event:
    return {"event": "job", "key": result.key, "status": result.status, "error": result.error,
            "seconds": round(result.seconds, 4), "worker": result.worker, "finished": finished,
            "total": total, "data": result.data}
