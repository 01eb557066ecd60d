"""`mixhost batch` on Dask distributed: a LocalCluster of 2 real worker processes gives the local
pool's results, and a batch survives a worker killed mid-way."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from pathlib import Path

import pytest
from batch_catalogue import BAD, GOOD, journal_records, make_catalogue, visible_files, wait_for_done

import host
from host.loudness.meter import measure_file

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dask") / "catalogue"
    make_catalogue(root)
    return root


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in visible_files(folder)}


@pytest.mark.parametrize("command", ["master", "analyze"])
def test_dask_local_cluster_gives_the_local_pools_results(catalogue: Path, tmp_path: Path, command: str) -> None:
    def options(where: str) -> dict:
        return {"out_dir": tmp_path / where, "keep_tree": True} if command == "master" else {}

    pool = host.batch(command, [catalogue], target="ebu-r128", workers=2, **options("pool"))
    events: list[dict] = []
    on_dask = host.batch(command, [catalogue], target="ebu-r128", dask="local:2", on_event=events.append,
                         **options("dask"))
    assert events[0]["runner"] == "a local Dask cluster of 2 worker processes"
    assert [r.status for r in on_dask.results] == [r.status for r in pool.results]
    assert [r.error for r in on_dask.results] == [r.error for r in pool.results]
    assert len(on_dask.failed) == len(BAD)
    workers = {r.worker for r in on_dask.results if r.worker}
    assert len(workers) == 2 and os.getpid() not in {int(w.rsplit(":", 1)[1]) for w in workers}
    if command == "master":
        assert digests(tmp_path / "dask") == digests(tmp_path / "pool")  # the same bytes
        assert len(digests(tmp_path / "dask")) == GOOD
    else:
        keys = ("integrated_lufs", "true_peak_dbtp", "lra_lu", "octave_bands_db")
        assert [{k: row[k] for k in keys} for row in on_dask.rows] == [{k: row[k] for k in keys} for row in pool.rows]


def test_a_killed_dask_worker_does_not_lose_the_batch(catalogue: Path, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    out = tmp_path / "out"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)
        outcome: dict[str, object] = {}

        def run() -> None:
            outcome["result"] = host.batch("master", [catalogue], out_dir=out, target="ebu-r128", keep_tree=True,
                                           dask=cluster.scheduler_address)

        thread = threading.Thread(target=run)
        thread.start()
        before = wait_for_done(out / ".mixhost-batch-master.jsonl", 8)
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)  # mid-batch: each worker holds a task (1 thread, queued work)
        thread.join(timeout=600)
        assert not thread.is_alive()
    result = outcome["result"]
    assert result.counts["done"] == GOOD and len(result.failed) == len(BAD)  # type: ignore[attr-defined]
    records = journal_records(out / ".mixhost-batch-master.jsonl")
    done = [r["key"] for r in records if r["status"] == "done"]
    assert len(done) == len(set(done)) == GOOD
    assert before < GOOD, "the batch ended before the kill"
    assert not any(r["worker"].endswith(f":{victim}") for r in records[before + len(BAD):])
    assert len(visible_files(out)) == GOOD
    for name in visible_files(out):
        measured = measure_file(out / name)
        assert abs(measured.integrated_lufs + 23.0) <= 0.2 and measured.true_peak_dbtp <= -1.0
