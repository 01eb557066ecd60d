"""Offline render: stream the session through the graph into atomic output files."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio_io import AtomicWriter, check_output_path
from ..session import Session
from .graph import Graph
from .parallel import mix_needs_tracks, render_blocks

log = logging.getLogger(__name__)

# Below this much audio (track-seconds) worker start-up costs more than it saves.
PARALLEL_MIN_TRACK_SECONDS = 240.0

Progress = Callable[[int, int], None]


@dataclass
class RenderResult:
    outputs: list[Path]
    duration_s: float
    peak_dbfs: float
    elapsed_s: float
    workers: int
    latency_samples: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def realtime_factor(self) -> float:
        return self.duration_s / self.elapsed_s if self.elapsed_s > 0 else math.inf


def output_settings(session: Session, out_dir: Path | None) -> dict[str, Any]:
    outputs = dict(session.config.get("outputs", {}))
    mixdown = Path(outputs.get("mixdown", "out/mix.wav"))
    fmt = outputs.get("format") or ("flac" if mixdown.suffix.lower() == ".flac" else "wav")
    if mixdown.suffix.lower() not in (".wav", ".flac"):
        mixdown = mixdown.with_suffix(f".{fmt}")
    base = session.plan.base_dir
    outputs["mixdown"] = (out_dir / mixdown.name) if out_dir is not None else (base / mixdown)
    outputs["format"] = fmt
    stems = outputs.get("stems")
    if stems:
        folder = Path(stems) if isinstance(stems, str) else Path("stems")
        outputs["stems"] = (out_dir / folder.name) if out_dir is not None else base / folder
    return outputs


def choose_workers(requested: int | None, graph: Graph, settings: dict[str, Any]) -> int:
    if requested is not None and requested <= 1:
        return 1
    if settings.get("stems") or mix_needs_tracks(graph) or len(graph.tracks) < 2:
        if requested:
            log.info("rendering on one core (stems, or a bus keyed by a track, need all tracks in one process)")
        return 1
    if requested is None:
        seconds = graph.length / graph.sample_rate * len(graph.tracks)
        return min(os.cpu_count() or 1, len(graph.tracks)) if seconds >= PARALLEL_MIN_TRACK_SECONDS else 1
    return min(requested, len(graph.tracks))


def render_session(session: Session, out_dir: Path | None = None, *, workers: int | None = None,
                   progress: Progress | None = None) -> RenderResult:
    settings = output_settings(session, out_dir)
    inputs = [session.plan.base_dir / t.settings["source"] for t in session.plan.tracks if t.settings.get("source")]
    mix_path: Path = settings["mixdown"]
    check_output_path(mix_path, inputs)
    started = time.perf_counter()
    graph = Graph(session)
    graph.prepare()
    graph.reset()
    try:
        workers = choose_workers(workers, graph, settings)
        length = graph.length + int(round(float(settings.get("tail_s", 0)) * graph.sample_rate))
        total = length + graph.latency
        bit_depth = settings.get("bit_depth", 24)
        with AtomicWriter(mix_path, graph.sample_rate, 2, settings["format"], bit_depth,
                          dither=bool(settings.get("dither", True)),
                          file_rate=settings.get("sample_rate")) as writer:
            stems = _stem_writers(graph, settings)
            try:
                blocks = (render_blocks(graph, workers, total) if workers > 1
                          else _blocks(graph, total, length, stems))
                _drain(blocks, writer, graph.latency, total, progress)
                for stem in stems.values():
                    stem.commit()
            except BaseException:
                for stem in stems.values():
                    stem.abort()
                raise
            writer.commit()
    finally:
        graph.close()
    elapsed = time.perf_counter() - started
    peak = 20 * math.log10(writer.peak) if writer.peak > 0 else -math.inf
    return RenderResult([mix_path, *(w.path for w in stems.values())], length / graph.sample_rate, peak,
                        elapsed, workers, graph.latency)


def _blocks(graph: Graph, total: int, length: int,
            stems: dict[str, AtomicWriter]) -> Iterator[tuple[int, np.ndarray]]:
    block = graph.block_size
    for position in range(0, total, block):
        frames = min(block, total - position)
        out = graph.process(position, frames)
        for node in graph.tracks:
            if node.name in stems:
                # each stem lines up with its source: drop the track's own chain latency
                start, stop = node.latency_out, node.latency_out + length
                lo, hi = max(start - position, 0), min(stop - position, frames)
                if lo < hi:
                    stems[node.name].write(node._post[:, lo:hi])
        yield position, out


def _drain(blocks: Iterator[tuple[int, np.ndarray]], writer: AtomicWriter, latency: int, total: int,
           progress: Progress | None) -> None:
    """Write the master blocks, dropping the first `latency` samples so the mix lines up with its sources."""
    for position, out in blocks:
        frames = out.shape[1]
        skip = min(max(latency - position, 0), frames)
        if skip < frames:
            writer.write(out[:, skip:])
        if progress is not None:
            progress(position + frames, total)


def _stem_writers(graph: Graph, settings: dict[str, Any]) -> dict[str, AtomicWriter]:
    folder = settings.get("stems")
    if not folder:
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    return {
        node.name: AtomicWriter(folder / f"{node.name}.{settings['format']}", graph.sample_rate, 2,
                                settings["format"], settings.get("bit_depth", 24),
                                dither=bool(settings.get("dither", True)))
        for node in graph.tracks
    }
