"""The journal of a batch: what is done, with the digests of its inputs and options.

A JSON Lines file in the output folder (``.mixhost-batch-<command>.jsonl``;
``batch tag``, which has none, keeps it in the folder holding all its inputs
or at ``--journal PATH``):
a header line, then one record per finished job, appended as one
``write`` on an ``O_APPEND`` descriptor and ``fsync``-ed before the job counts
as done.  A run killed at any instant leaves every earlier record whole; a
record cut off mid-line by the kill is ignored when the journal is read, and
the next run ends that line before it appends (so it cannot glue onto the
next record).  The last record of a key wins: a job redone after a change
or a failure appends a newer record.

The journal is written by the process that plans the batch only, never by
workers, so the records never interleave.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...atomic import ensure_folder
from ...errors import OutputError
from .jobs import DONE, UNCHANGED, Job, JobResult

log = logging.getLogger(__name__)

FORMAT = "mixhost batch journal"
VERSION = 1


def journal_path(folder: Path, command: str) -> Path:
    return folder / f".mixhost-batch-{command}.jsonl"


class Journal:
    """Read the records of ``path`` (if any), then append to it."""

    def __init__(self, path: Path, command: str) -> None:
        self.path = path
        self.command = command
        self.entries: dict[str, dict[str, Any]] = {}
        self.ignored = 0
        for record in self._read():
            self.entries[record["key"]] = record
        self._fd: int | None = None

    # -- reading ------------------------------------------------------------------------------------
    def _read(self) -> Iterator[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        except OSError as error:
            raise OutputError(f"cannot read the journal {self.path}: {error.strerror}",
                              hint="use --force to start over, or another output folder") from None
        for number, line in enumerate(text.splitlines(), 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                self.ignored += 1  # a line cut off by a kill
                log.info("%s:%d: an incomplete record (a run was killed while writing it); ignored",
                         self.path, number)
                continue
            if not isinstance(record, dict):
                continue
            if record.get("journal") == FORMAT:
                if record.get("command") != self.command:
                    raise OutputError(
                        f"{self.path} is the journal of `batch {record.get('command')}`, not of "
                        f"`batch {self.command}`", hint="write this batch into another folder")
                continue
            if isinstance(record.get("key"), str):
                yield record

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record on disk, in order (several per key when jobs were redone)."""
        yield from self._read()

    def done(self, job: Job) -> dict[str, Any] | None:
        """The journal's record of ``job`` when it is done with these options and its outputs exist."""
        entry = self.entries.get(job.key)
        if entry is None or entry.get("status") not in (DONE, UNCHANGED):
            return None
        if entry.get("options") != job.options_digest():
            return None
        if not all(path.is_file() for path in job.outputs()):
            return None  # an output deleted since: make it again
        return entry

    # -- writing ------------------------------------------------------------------------------------
    def open(self) -> None:
        ensure_folder(self.path.parent)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as error:
            raise OutputError(f"cannot write the journal {self.path}: {error.strerror}",
                              hint="write the batch into a folder you can write to") from None
        if fresh:
            self._append({"journal": FORMAT, "version": VERSION, "command": self.command})
        elif not self._ends_with_newline():
            os.write(self._fd, b"\n")  # end the line a kill cut off: the next record starts clean

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def record(self, job: Job, result: JobResult, data: dict[str, Any] | None = None) -> None:
        """Append the result of ``job`` (``data`` overrides the result's, for an unchanged job)."""
        entry = {
            "key": job.key,
            "status": result.status,
            "options": job.options_digest(),
            "content": result.content,
            "stat": result.stat,
            "outputs": [str(p) for p in job.outputs()],
            "data": plain(data if data is not None else result.data),
            "error": result.error,
            "seconds": round(result.seconds, 4),
            "worker": result.worker,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        self._append(entry)
        self.entries[job.key] = entry

    def _append(self, entry: dict[str, Any]) -> None:
        if self._fd is None:
            raise RuntimeError("the journal is not open")
        line = (json.dumps(entry, default=_plain, allow_nan=False) + "\n").encode()
        os.write(self._fd, line)  # one write on O_APPEND: the line lands whole or (killed) cut off
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Journal:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plain(value: Any) -> Any:
    """``value`` made strict JSON: non-finite numbers become None (JSON has no inf or NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """numpy scalars and other numbers as plain numbers; anything else as text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
