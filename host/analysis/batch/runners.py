"""Where the jobs run: a local process pool, or a Dask distributed cluster.

Both take ``(job, expected content digest)`` pairs and yield a
:class:`~host.analysis.batch.jobs.JobResult` for each as it finishes, in the order
they finish.

* :class:`LocalPool`: ``-j N`` worker processes (default: the number of
  cores), started once and kept for the whole batch.  Each imports mixhost
  and loads its compiled kernels once (:func:`warm_worker`), so the start-up
  is paid per worker, not per file.  At most two jobs per worker are in
  flight, so an interrupt has little to cancel.
* :class:`DaskRunner`: the same jobs as Dask tasks on ``tcp://host:8786``
  or on a ``LocalCluster`` of N worker processes (``local:N``).  Results
  come back through ``as_completed``; Dask's own ``retries`` are passed to
  each task, and a task whose worker dies is re-run elsewhere by Dask's
  scheduler.  The dashboard link is in :attr:`DaskRunner.dashboard`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import signal
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from ...errors import MissingExtraError, UserInputError
from .jobs import FAILED, Job, JobResult, run_job

log = logging.getLogger(__name__)

Submission = tuple[Job, "str | None"]


class Runner(Protocol):
    """Runs jobs and yields their results as they finish."""

    description: str
    dashboard: str | None

    def run(self, submissions: Sequence[Submission]) -> Iterator[JobResult]: ...

    def close(self) -> None: ...


Warm = Callable[[], None]


def warm_worker(warm: Warm | None = None) -> None:
    """A worker's start: import what its jobs need (and load numba's cached kernels) once, with
    ``warm`` (default :func:`warm_worker_imports`), and make SIGTERM stop a job as Ctrl-C does, so
    its staged outputs are removed."""
    signal.signal(signal.SIGTERM, _interrupt)
    (warm or warm_worker_imports)()


def _ready() -> None:
    """A no-op job: submitted once per worker, it makes the pool start them all."""


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _lost(job: Job, why: str) -> JobResult:
    return JobResult(job.key, FAILED, error=f"{job.key}: {why}; rerun the batch to try it again")


class LocalPool:
    """A pool of local worker processes that live for the whole batch."""

    dashboard: str | None = None

    def __init__(self, workers: int | None = None, warm: Warm | None = None) -> None:
        if workers is not None and workers < 1:
            raise UserInputError(f"-j {workers}: the number of workers is at least 1")
        self.workers = workers or default_workers()
        self.description = f"local pool of {self.workers} process{'es' if self.workers > 1 else ''}"
        # spawn: a clean interpreter per worker (the parent may hold threads: the progress bar's)
        self._warm = warm
        self._busy = False  # jobs in flight (a run not finished): close() then lets them end
        self._pool = self._start()
        # start every worker now, together (the pool would start them one by one as jobs come)
        cf.wait([self._pool.submit(_ready) for _ in range(self.workers)])

    def _start(self) -> cf.ProcessPoolExecutor:
        # A worker runs one job at a time and calls no BLAS, yet an OpenBLAS pool's threads spin
        # on the other cores (see host.cli.analyze); spawned workers take the parent's environment,
        # so ask for one thread before they start (a user's own setting stands; Dask's nanny sets
        # the same for its workers).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        return cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=warm_worker, initargs=(self._warm,))

    def run(self, submissions: Sequence[Submission]) -> Iterator[JobResult]:
        queue = iter(submissions)
        running: dict[cf.Future[JobResult], Job] = {}

        def top_up() -> None:
            while len(running) < 2 * self.workers:
                item = next(queue, None)
                if item is None:
                    return
                running[self._pool.submit(run_job, item[0], item[1])] = item[0]

        self._busy = True
        try:
            top_up()
            while running:
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    job = running.pop(future)
                    yield self._result(job, future)
                top_up()
        except BaseException:
            self._stop(running)
            raise
        self._busy = False

    def _result(self, job: Job, future: cf.Future[JobResult]) -> JobResult:
        try:
            return future.result()
        except cf.process.BrokenProcessPool:
            # a worker died (killed, out of memory, a crash in native code): the pool is gone
            self._pool = self._start()
            return _lost(job, "its worker process died while it ran (killed, or out of memory)")
        except KeyboardInterrupt:
            raise
        except Exception as error:  # a result that could not come back (unpicklable): a bug
            return _lost(job, f"internal error ({type(error).__name__}: {error})")

    def _stop(self, running: dict[cf.Future[JobResult], Job]) -> None:
        """Cancel what has not started; SIGTERM the workers, whose jobs then remove their temp files."""
        for future in running:
            future.cancel()
        processes = getattr(self._pool, "_processes", None) or {}
        for process in list(processes.values()):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        if not self._busy:
            # every job has come back, so the workers are idle and hold nothing: end them at once
            # rather than wait for each interpreter's teardown (a few tenths of a second with numba)
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    process.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskRunner:
    """Jobs as Dask distributed tasks: on a scheduler's address, or on ``local:N`` (a LocalCluster)."""

    def __init__(self, address: str, retries: int = 0, warm: Warm | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MissingExtraError("--dask needs Dask distributed",
                                    hint="pip install 'mixhost[dask]'") from None
        self.retries = retries
        self._cluster = None
        if address.startswith("local:") or address == "local":
            count = address.partition(":")[2] or str(default_workers())
            if not count.isdigit() or int(count) < 1:
                raise UserInputError(f"--dask {address}: give local:N with N workers, e.g. local:2")
            # one thread per worker process: the jobs are CPU-bound numpy/numba work
            self._cluster = LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True,
                                         dashboard_address=":0")
            self._client = Client(self._cluster)
            where = f"a local Dask cluster of {count} worker process{'es' if int(count) > 1 else ''}"
        else:
            try:
                self._client = Client(address, timeout="20s")
            except OSError as error:
                raise UserInputError(f"--dask {address}: cannot reach the scheduler ({error})",
                                     hint="check the address (tcp://host:8786) and that the scheduler runs") from None
            where = f"the Dask cluster at {address}"
        self._client.run(warm or warm_worker_imports)
        self.description = where
        self.dashboard = getattr(self._client, "dashboard_link", None)

    def run(self, submissions: Sequence[Submission]) -> Iterator[JobResult]:
        from distributed import as_completed

        jobs = {}
        futures = []
        for job, expect in submissions:
            # pure=False: a task is a write to disk, never shared with an equal-looking one
            future = self._client.submit(run_job, job, expect, key=f"mixhost-{job.kind}-{uuid.uuid4().hex}",
                                         pure=False, retries=self.retries)
            jobs[future.key] = job
            futures.append(future)
        try:
            for future in as_completed(futures):
                job = jobs.pop(future.key)
                try:
                    yield future.result()
                except KeyboardInterrupt:
                    raise
                except Exception as error:  # KilledWorker after Dask's allowed failures, a lost task
                    yield _lost(job, f"Dask gave up on it ({type(error).__name__}: {error})")
                future.release()
        except BaseException:
            self._client.cancel(futures)
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()


def warm_worker_imports() -> None:
    """On each worker, once: import the workflows (the kernels load here, not in the first job)."""
    from .. import mastering, report  # noqa: F401


def warm_meter() -> None:
    """On each worker of a `batch tag`, once: import the tagging and load the meter's compiled
    kernels (numba's cache), here rather than in the first job; nothing else (no workflows)."""
    import numpy as np

    from ...loudness import replaygain  # noqa: F401
    from ...loudness.meter import LoudnessMeter

    meter = LoudnessMeter(2, 48000)
    meter.process(np.zeros((2, 48000)))  # a first block loads every kernel a measurement calls
    meter.integrated()
    meter.true_peak()


def make_runner(workers: int | None = None, dask: str | None = None, retries: int = 0,
                warm: Warm | None = None) -> Runner:
    """The runner the options ask for: Dask when ``dask`` is given, else the local pool.  ``warm``
    runs once on each worker before its first job (default: :func:`warm_worker_imports`)."""
    if dask:
        return DaskRunner(dask, retries, warm)
    return LocalPool(workers, warm)
