"""Offline rendering on several cores: tracks in worker processes, the mix in this one.

Each worker gets the graph as it is in memory (forked: this process's
prepared graph; spawned: the session loaded from its file, given the current
values and automation lanes, and built again) and runs ``process_tracks`` for
its share of the tracks into a
double-buffered shared-memory accumulator.  The main process renders its own
tracks block by block straight onto the workers' block, in the shared memory,
and runs ``mix`` there.  Workers render chunk k+1 while the
main process mixes chunk k.  Memory stays bounded: only two chunks per worker
are in flight.  While they run, the CPUs are kept out of sleep states
(:mod:`host.pm_qos`).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from ..errors import MixhostError, RenderError
from ..pm_qos import CpuLatencyRequest
from .graph import Graph
from .order import sidechain_keys

log = logging.getLogger(__name__)

SLOTS = 2
POLL_S = 0.5
CHUNK_FRAMES = 65536  # frames per worker exchange


def partition(graph: Graph, workers: int, mix_cost: int = 0) -> list[list[str]]:
    """Split tracks into ``workers`` groups of similar cost; sidechain partners stay together.

    The first group goes to the process that also mixes: it starts with
    ``mix_cost`` already on it.
    """
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
    loads = [mix_cost] + [0] * (workers - 1)
    for group in sorted(unique, key=lambda g: -sum(cost[n] for n in g)):
        i = loads.index(min(loads))
        shares[i] += sorted(group)
        loads[i] += sum(cost[n] for n in group)
    return [shares[0], *(s for s in shares[1:] if s)]


def mix_cost(graph: Graph, workers: int) -> int:
    """The main process's own work per frame, in the units of ``partition``'s track costs.

    The mix runs on the first worker's block, in place; per accumulator
    channel the main process adds each further worker's block to it.  Each
    bus and the master run a stereo chain, and the stereo mixdown is encoded
    (on a thread, but on these cores): about two stereo tracks' worth.
    Weighed on the engine benchmark (16 stereo tracks, 2 buses, 2 workers):
    4 beat 2 and 8 by 4-7 % in wall time.
    """
    channels = 2 * (len(graph.buses) + 1)
    chains = sum(2 * len(node.chain.slots) for node in [*graph.buses, graph.master])
    return channels * max(workers - 2, 0) + chains + 4


def mix_needs_tracks(graph: Graph) -> bool:
    """True when a bus or master stage is keyed by a track, or a track by a bus (one process runs all)."""
    return any((key.strip.kind == "track") != (key.key.kind == "track")
               for key in sidechain_keys(graph.session.plan))


def _start_method(graph: Graph) -> str:
    """fork when the session holds no plugins: workers then start at once, sharing the loaded session.

    Plugins (and instruments) are native objects that must not be duplicated by
    fork, so those sessions spawn fresh workers that load the session anew
    (a script that renders such a session on several cores needs the usual
    ``if __name__ == "__main__":`` guard).
    """
    session = graph.session
    plugins = session.instruments or any(
        "type" not in built.plan.entry for stages in session.stages.values() for built in stages)
    return "spawn" if plugins or "fork" not in mp.get_all_start_methods() else "fork"


class _Worker:
    def __init__(self, ctx: Any, job: dict[str, Any], shape: tuple[int, ...]) -> None:
        self.shm = SharedMemory(create=True, size=int(np.prod(shape)) * 8)
        self.buffers = np.ndarray(shape, dtype=np.float64, buffer=self.shm.buf)
        self.requests: Any = ctx.Queue()
        self.replies: Any = ctx.Queue()
        self.process = ctx.Process(target=_worker_main, daemon=True,
                                   args=(job, self.shm.name, shape, self.requests, self.replies))
        self.process.start()
        self._finished = False

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
                if reply[2]:  # for a bug report (`mixhost -vv`); the user sees the clean message
                    log.debug("render worker traceback:\n%s", reply[2])
                raise reply[1]
            return int(reply)

    def finish(self) -> None:
        """No more requests: the worker exits once it has answered the ones it has."""
        if not self._finished:
            self._finished = True
            self.requests.put(None)

    def close(self) -> None:
        if self.process.is_alive():
            self.finish()
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.terminate()
        del self.buffers
        self.shm.close()
        self.shm.unlink()


StemSink = Callable[[int, int, dict[str, np.ndarray]], None]


def render_blocks(graph: Graph, workers: int, total: int,
                  into: Callable[[int, int], np.ndarray | None] | None = None,
                  stems: StemSink | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (position, master block) for the whole render on ``workers`` processes.

    ``into(position, frames)`` may give the array each master block is mixed
    into (the writer's own buffer, saving a copy), or None for the graph's.
    ``stems(position, frames, posts)``, when given, receives each block's
    post-fader signal of every track that keeps it (``keep_post``), by name:
    a worker hands its tracks' back in the shared memory, after the sums.

    This process is one of them: block by block it adds its own share of the
    tracks onto the workers' block, in their shared memory, and mixes there
    (no buffer of its own to zero, sum and copy).  It waits for the
    workers once per chunk, at the chunk's first block; they are a chunk
    ahead by then.  Its share is smaller by the cost of the mix.  Chunks of
    several engine blocks (about CHUNK_FRAMES) keep the synchronisation cost
    per sample low.
    """
    session = graph.session
    method = _start_method(graph)
    ctx = mp.get_context(method)
    block = graph.block_size
    chunk = block * max(1, CHUNK_FRAMES // block)
    destinations = len(graph.buses) + 1
    kept = {node.name for node in graph.tracks if node.keep_post}
    base: dict[str, Any] = {"block_size": block}
    if method == "fork":
        base["graph"] = graph  # inherited, not pickled: prepared and rewound, ready to run
    else:  # the session as it is in memory: values set through the API and edited lanes, not the file's
        # (the class travels by name: the engine does not import the session module)
        base.update(session_type=type(session), session_state=session.worker_state())
    own, *others = partition(graph, workers, mix_cost=mix_cost(graph, workers))
    shares = [(share, [name for name in share if name in kept]) for share in others]
    pool = [_Worker(ctx, {**base, "tracks": share, "stems": posts},
                    (SLOTS, chunk // block, destinations + len(posts), 2, block)) for share, posts in shares]
    graph.active = [node for node in graph.tracks if node.name in set(own)]
    own_posts = [node for node in graph.active if node.name in kept]
    # the processes wait on each other at every chunk: CPUs that sleep there wake too slowly
    # (held after the workers started, so none inherits the request's file)
    awake = CpuLatencyRequest(0)
    if not awake.hold():
        log.debug("parallel render: %s", awake.reason)
    try:
        chunks = list(range(0, total, chunk))
        for k, start in enumerate(chunks[:SLOTS]):
            for w in pool:
                w.request(k % SLOTS, start, min(chunk, total - start))
        for k, start in enumerate(chunks):
            length = min(chunk, total - start)
            slots: list[int] = []
            for j, offset in enumerate(range(0, length, block)):
                frames = min(block, length - offset)
                if j == 0:  # the workers' chunk, rendered while this process ran the previous one
                    slots = [w.wait() for w in pool]
                acc = _summed([w.buffers[slot, j, :destinations] for w, slot in zip(pool, slots, strict=True)],
                              graph.accumulators)
                graph.process_tracks(start + offset, frames, acc[:, :, :frames])  # this process's tracks, on top
                if stems is not None:
                    posts = {node.name: node.post_fader(frames) for node in own_posts}
                    for w, slot, (_, names) in zip(pool, slots, shares, strict=True):
                        rows = w.buffers[slot, j, destinations:, :, :frames]
                        posts.update(zip(names, rows, strict=True))
                    stems(start + offset, frames, posts)
                out = into(start + offset, frames) if into is not None else None
                yield start + offset, graph.mix(start + offset, frames, acc, out)
            ahead = k + SLOTS
            for w, slot in zip(pool, slots, strict=True):
                if ahead < len(chunks):
                    w.request(slot, chunks[ahead], min(chunk, total - chunks[ahead]))
                else:  # all asked for: a worker exits after its last chunk, while this process mixes it
                    w.finish()
    finally:
        for w in pool:
            w.close()
        awake.release()


def _summed(parts: list[np.ndarray], spare: np.ndarray) -> np.ndarray:
    """The workers' blocks summed in place into the first (this process owns it until it asks for
    the slot again), so the mix runs on the shared memory with no copy; ``spare`` zeroed without workers."""
    if not parts:
        spare[...] = 0.0
        return spare
    for part in parts[1:]:
        parts[0] += part
    return parts[0]


def _render_chunk(graph: Graph, start: int, length: int, out: np.ndarray, posts: list[Any]) -> None:
    """This process's tracks for one chunk, into ``out`` shaped (blocks, destinations + posts, 2, block).

    After the destinations' sums, each block holds the post-fader signal of
    the tracks in ``posts`` (for stems), one row each.

    Block-major, so each block's accumulators are one contiguous array: the
    compiled mix (``mix_static``) then runs its contiguous, vectorised form; on
    a strided slice of a (destinations, 2, chunk) buffer it ran ~1.5x slower.
    """
    block = graph.block_size
    destinations = out.shape[1] - len(posts)
    for j, offset in enumerate(range(0, length, block)):
        frames = min(block, length - offset)
        acc = out[j, :destinations, :, :frames]
        acc[...] = 0.0
        graph.process_tracks(start + offset, frames, acc)
        for k, node in enumerate(posts):
            out[j, destinations + k, :, :frames] = node.post_fader(frames)


def _worker_graph(job: dict[str, Any]) -> Graph:
    """A spawned worker's graph: the session loaded anew, given the parent's values and lanes."""
    session = job["session_type"].from_worker_state(job["session_state"])
    graph = Graph(session, block_size=job["block_size"], tracks=set(job["tracks"]))
    graph.prepare()
    graph.reset()
    return graph


def _worker_main(job: dict[str, Any], shm_name: str, shape: tuple[int, ...], requests: Any,
                 replies: Any) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        graph = job["graph"] if "graph" in job else _worker_graph(job)
        graph.active = [node for node in graph.tracks if node.name in set(job["tracks"])]
        posts = [node for node in graph.active if node.name in set(job["stems"])]
        for node in posts:
            node.keep_post = True  # a spawned worker's graph is new: it must keep them too
        shm = SharedMemory(name=shm_name)
        buffers = np.ndarray(shape, dtype=np.float64, buffer=shm.buf)
        while (message := requests.get()) is not None:
            slot, start, length = message
            _render_chunk(graph, start, length, buffers[slot], posts)
            replies.put(slot)
        del buffers
        shm.close()
        graph.close()
    except MixhostError as error:  # a stage that raised keeps its cause's traceback for `mixhost -vv`
        replies.put(("error", error, traceback.format_exc() if error.__cause__ else ""))
    except BaseException as error:  # noqa: BLE001 - hand any failure to the parent, which raises it
        failure = RenderError(f"a render worker failed: {type(error).__name__}: {error}",
                              hint="`mixhost -vv render ...` logs its traceback; `-j 1` renders in one process")
        replies.put(("error", failure, traceback.format_exc()))
