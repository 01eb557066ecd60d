"""Catalogue scale: analyse, master, tag and render many files on a process pool or a Dask cluster.

``host.batch(command, inputs, ...)`` (:func:`batch`) plans the jobs, refuses bad arguments before anything runs,
skips what the output folder's journal has done, runs the rest and returns
a :class:`BatchResult`, the data ``mixhost batch`` prints::

    import host
    result = host.batch("master", ["catalogue/"], out_dir="mastered", target="ebu-r128")
    for failure in result.failed:
        print(failure.key, failure.error)

The parts, one job each: :mod:`.inputs` (files, folders, globs, URLs),
:mod:`.jobs` (the picklable job specs and the function a worker runs),
:mod:`.journal` (what is done), :mod:`.plans` (the jobs of each command and
the checks before any runs), :mod:`.runners` (the local pool and Dask),
:mod:`.variations` (mix variations from a script), :mod:`.albums` (``tag``'s album
gains and in-place tag writes), :mod:`.execute`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...errors import UserInputError
from .execute import BatchResult, Event, execute
from .jobs import JobResult
from .plans import Plan, plan_analyze, plan_master, plan_render, plan_tag
from .runners import make_runner

__all__ = ["BatchResult", "Event", "JobResult", "Plan", "batch", "execute", "make_runner", "plan",
           "plan_analyze", "plan_master", "plan_render", "plan_tag"]

COMMANDS = ("analyze", "master", "render", "tag")


def plan(command: str, inputs: Sequence[str | Path], *, out_dir: str | Path | None = None,
         target: str | None = None, tolerance_lu: float = 1.0, chain: str | None = None,
         fmt: str | None = None, bit_depth: int | str = 24, keep_tree: bool = False,
         keep_tags: bool = True, variations: str | Path | None = None,
         journal: str | Path | None = None, album_by: str | None = "folder", peak: str = "sample") -> Plan:
    """The checked plan of a batch (nothing runs, nothing is written but the output folders)."""
    if command == "analyze":
        return plan_analyze(inputs, target or "spotify", tolerance_lu,
                            Path(journal) if journal is not None else None)
    if command == "tag":
        return plan_tag(inputs, album_by, Path(journal) if journal is not None else None, peak)
    if command not in COMMANDS:
        raise UserInputError(f"unknown batch command {command!r}", hint=f"use one of {', '.join(COMMANDS)}")
    if out_dir is None:
        raise UserInputError(f"batch {command} needs an output folder (out_dir=..., -o DIR)")
    if command == "master":
        return plan_master(inputs, Path(out_dir), target or "spotify", chain, fmt, bit_depth, keep_tree,
                           keep_tags)
    return plan_render(inputs, Path(out_dir), variations)


def batch(command: str, inputs: Sequence[str | Path], *, workers: int | None = None,
          dask: str | None = None, retries: int = 0, force: bool = False,
          on_event: Callable[[Event], None] | None = None, **options: Any) -> BatchResult:
    """Plan, then run, a batch; returns every job's result as data.

    ``command`` is ``"analyze"``, ``"master"``, ``"render"`` or ``"tag"``;
    ``options`` are :func:`plan`'s (``out_dir``, ``target``, ``chain``,
    ``fmt``, ``bit_depth``, ``keep_tree``, ``variations``, ``journal``;
    for ``tag``: ``album_by`` = ``"folder"``, ``"tag"`` or None for no
    album tags, and ``peak`` = ``"sample"`` or ``"true"``).  ``tag`` writes
    ReplayGain 2.0 tags (R128 gains in Opus) in place; its result's
    ``albums`` lists each album's gain and what was written.  The jobs
    run on ``workers`` local processes, or on Dask (``dask="local:2"`` or a
    scheduler's ``tcp://`` address, with Dask's ``retries``).  ``force``
    redoes what the journal has done.
    """
    checked = plan(command, inputs, **options)
    runner = make_runner(workers, dask, retries, checked.warm)
    try:
        return execute(checked, runner, force=force, on_event=on_event)
    finally:
        runner.close()
