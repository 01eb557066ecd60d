"""Offline rendering on several cores: tracks in worker processes, the mix in this one.

Each worker loads the session, builds the same graph and runs
``process_tracks`` for its share of the tracks into a double-buffered
shared-memory accumulator; the main process adds the workers' accumulators
and runs ``mix``.  Workers render block k+1 while the main process mixes
block k.  Memory stays bounded: only two blocks per worker are in flight.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import traceback
from collections.abc import Iterator
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MixhostError, RenderError
from .graph import Graph

SLOTS = 2
POLL_S = 0.5


def partition(graph: Graph, workers: int) -> list[list[str]]:
    """Split tracks into ``workers`` groups of similar cost; sidechain partners stay together."""
    groups: dict[str, set[str]] = {t.name: {t.name} for t in graph.tracks}
    for node in graph.tracks:
        for slot in node.chain.slots:
            partner = slot.sidechain_name
            if partner in groups and groups[partner] is not groups[node.name]:
                merged = groups[partner] | groups[node.name]
                for name in merged:
                    groups[name] = merged
    unique = {id(g): g for g in groups.values()}.values()
    cost = {t.name: t.in_channels * (1 + len(t.chain.slots)) for t in graph.tracks}
    shares: list[list[str]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for group in sorted(unique, key=lambda g: -sum(cost[n] for n in g)):
        i = loads.index(min(loads))
        shares[i] += sorted(group)
        loads[i] += sum(cost[n] for n in group)
    return [s for s in shares if s]


def mix_needs_tracks(graph: Graph) -> bool:
    """True when a bus or master stage is keyed by a track (it must run in one process)."""
    names = {t.name for t in graph.tracks}
    return any(slot.sidechain_name in names for node in [*graph.buses, graph.master] for slot in node.chain.slots)


class _Worker:
    def __init__(self, ctx: Any, session_path: Path, values: dict[str, float], tracks: list[str],
                 block_size: int, dests: int) -> None:
        shape = (SLOTS, dests, 2, block_size)
        self.shm = SharedMemory(create=True, size=int(np.prod(shape)) * 8)
        self.buffers = np.ndarray(shape, dtype=np.float64, buffer=self.shm.buf)
        self.requests: Any = ctx.Queue()
        self.replies: Any = ctx.Queue()
        self.process = ctx.Process(
            target=_worker_main, daemon=True,
            args=(str(session_path), values, tracks, block_size, self.shm.name, shape, self.requests, self.replies),
        )
        self.process.start()

    def request(self, slot: int, position: int, frames: int) -> None:
        self.requests.put((slot, position, frames))

    def wait(self) -> int:
        while True:
            try:
                reply = self.replies.get(timeout=POLL_S)
            except queue.Empty:
                if not self.process.is_alive():
                    raise RenderError(f"a render worker died (exit code {self.process.exitcode})") from None
                continue
            if isinstance(reply, tuple) and reply and reply[0] == "error":
                raise reply[1]
            return int(reply)

    def close(self) -> None:
        if self.process.is_alive():
            self.requests.put(None)
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.terminate()
        del self.buffers
        self.shm.close()
        self.shm.unlink()


def render_blocks(graph: Graph, workers: int, total: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (position, master block) for the whole render, tracks computed by workers."""
    session = graph.session
    shares = partition(graph, workers)
    values = session.values_snapshot()
    ctx = mp.get_context("spawn")
    dests = len(graph.buses) + 1
    block = graph.block_size
    pool = [_Worker(ctx, session.path.resolve(), values, share, block, dests) for share in shares]
    graph.active = []  # this process runs only the mix
    try:
        positions = list(range(0, total, block))
        for k, position in enumerate(positions[:SLOTS]):
            for w in pool:
                w.request(k % SLOTS, position, min(block, total - position))
        for k, position in enumerate(positions):
            frames = min(block, total - position)
            acc = graph.accumulators[:, :, :frames]
            acc[:] = 0.0
            for w in pool:
                slot = w.wait()
                acc += w.buffers[slot, :, :, :frames]
                ahead = k + SLOTS
                if ahead < len(positions):
                    w.request(slot, positions[ahead], min(block, total - positions[ahead]))
            yield position, graph.mix(position, frames, graph.accumulators)
    finally:
        for w in pool:
            w.close()


def _worker_main(session_path: str, values: dict[str, float], tracks: list[str], block_size: int,
                 shm_name: str, shape: tuple[int, ...], requests: Any, replies: Any) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        from ..session import load_session

        session = load_session(session_path)
        session.apply_snapshot(values)
        graph = Graph(session, block_size=block_size, tracks=set(tracks))
        graph.prepare()
        graph.reset()
        shm = SharedMemory(name=shm_name)
        buffers = np.ndarray(shape, dtype=np.float64, buffer=shm.buf)
        while (message := requests.get()) is not None:
            slot, position, frames = message
            acc = buffers[slot]
            acc[:, :, :frames] = 0.0
            graph.process_tracks(position, frames, acc)
            replies.put(slot)
        del buffers
        shm.close()
        graph.close()
    except MixhostError as error:
        replies.put(("error", error))
    except BaseException as error:  # noqa: BLE001 - hand any failure to the parent, which raises it
        replies.put(("error", RenderError(f"render worker failed: {error}\n{traceback.format_exc()}")))
