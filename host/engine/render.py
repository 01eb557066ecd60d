"""Offline render: stream the session through the graph into atomic output files."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import OutputSet
from ..audio_io import AtomicWriter, WriteBehind
from ..outputs import Output, audio_format, guard, prepare
from .graph import Graph
from .parallel import mix_needs_tracks, render_blocks

if TYPE_CHECKING:
    from ..session import Session

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
    #: why the render used fewer processes than asked for (``workers=N``), or None
    workers_note: str | None = None
    #: per `loudness` stage (``strip/stage``): target_lufs, ceiling_dbtp and the achieved
    #: integrated_lufs and true_peak_dbtp (of the written mixdown when the stage ends the master chain)
    loudness: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def realtime_factor(self) -> float:
        return self.duration_s / self.elapsed_s if self.elapsed_s > 0 else math.inf


def output_settings(session: Session, out_dir: Path | None) -> dict[str, Any]:
    outputs = dict(session.config.get("outputs", {}))
    # without a mixdown name, the default one takes the extension of the format asked for
    mixdown, fmt = audio_format(Path(outputs.get("mixdown", "out/mix")), outputs.get("format"),
                                ("wav", "flac"), where=f"{session.path}'s outputs.format")
    base = session.plan.base_dir
    outputs["mixdown"] = (out_dir / mixdown.name) if out_dir is not None else (base / mixdown)
    outputs["format"] = fmt
    stems = outputs.get("stems")
    if stems:
        folder = Path(stems) if isinstance(stems, str) else Path("stems")
        outputs["stems"] = (out_dir / folder.name) if out_dir is not None else base / folder
    return outputs


def input_files(session: Session) -> list[Path]:
    """Every file the render reads (the session itself, what it names, audio and MIDI): none may be written over."""
    base = session.plan.base_dir
    found = [session.path, *session.referenced_files()]
    for track in session.plan.tracks:
        if track.settings.get("source"):
            found.append(base / str(track.settings["source"]))
        midi = (track.settings.get("instrument") or {}).get("midi")
        if midi:
            found.append(base / Path(str(midi)).expanduser())
    return found


def stem_path(settings: dict[str, Any], track: str) -> Path:
    return Path(settings["stems"]) / f"{track}.{settings['format']}"


def output_files(session: Session, settings: dict[str, Any]) -> list[Output]:
    """Every file the render writes, each with what to change if it cannot be written."""
    files = [Output(Path(settings["mixdown"]), "write the mix to another file (`outputs.mixdown`, or -o DIR)")]
    if settings.get("stems"):
        files += [Output(stem_path(settings, t.name), "write the stems to another folder (`outputs.stems`, or -o DIR)")
                  for t in session.plan.tracks]
    return files


def validate_outputs(session: Session, out_dir: Path | None = None) -> list[Path]:
    """The files a render would write, refused as a render refuses them, without creating a folder."""
    return [output.path for output in guard(output_files(session, output_settings(session, out_dir)),
                                            input_files(session))]


def check_outputs(session: Session, settings: dict[str, Any]) -> None:
    """Refuse, before any work, an output that is an input or that another output also writes."""
    prepare(output_files(session, settings), input_files(session))


def choose_workers(requested: int | None, graph: Graph, settings: dict[str, Any]) -> tuple[int, str | None]:
    """The number of processes, and why it is fewer than ``requested`` (None when it is not)."""
    if requested is not None and requested <= 1:
        return 1, None
    reason = one_process_reason(graph, settings)
    if reason is not None:
        return 1, reason if requested else None
    if requested is None:
        seconds = graph.length / graph.sample_rate * len(graph.tracks)
        return (min(os.cpu_count() or 1, len(graph.tracks)) if seconds >= PARALLEL_MIN_TRACK_SECONDS else 1), None
    if requested > len(graph.tracks):
        return len(graph.tracks), f"one process per track at most ({len(graph.tracks)} tracks)"
    return requested, None


def one_process_reason(graph: Graph, settings: dict[str, Any]) -> str | None:
    """Why this session renders in one process whatever ``-j`` asks, or None."""
    if mix_needs_tracks(graph):
        return "a sidechain between a track and a bus needs all strips in one process"
    if len(graph.tracks) < 2:
        return "one track"
    if any(stage in analysis_stages(graph) for node in graph.tracks for stage in _stages_of(node)):
        return "a track's loudness stage measures whole passes in the process that mixes"
    return None


def _warn_truncated(graph: Graph) -> None:
    """A source whose header claims more than the file holds renders, shorter: say so."""
    for node in graph.tracks:
        if node.info is not None and node.info.truncation:
            log.warning("%s: %s: %s", node.plan.where.at("source").location, node.address, node.info.truncation)


def render_session(session: Session, out_dir: Path | None = None, *, workers: int | None = None,
                   progress: Progress | None = None) -> RenderResult:
    settings = output_settings(session, out_dir)
    check_outputs(session, settings)
    started = time.perf_counter()
    graph = Graph(session)
    staged = OutputSet()  # every file lands at the end, together
    try:
        graph.prepare()
        _warn_truncated(graph)
        analysis = analysis_stages(graph)
        workers, workers_note = choose_workers(workers, graph, settings)
        if workers_note is not None:
            log.info("rendering on %d process%s: %s", workers, "es" if workers > 1 else "", workers_note)
        length = graph.length + int(round(float(settings.get("tail_s", 0)) * graph.sample_rate))
        for stage in analysis:
            stage.restart()
        while True:
            final = all([stage.start_pass() for stage in analysis])
            graph.rewind()
            writers = _open_writers(graph, settings) if final else None
            _run_pass(graph, workers, length, writers, progress)
            try:
                done = all([stage.end_pass() for stage in analysis])
            except BaseException:
                if writers is not None:
                    writers.abort()
                raise
            if done and writers is not None:
                break
            if writers is not None:
                writers.abort()
        loudness = _loudness_report(graph)
        writers.finish(staged, _mixdown_check(graph, settings, loudness))
        staged.land()
    except BaseException as error:
        staged.abandon(error)  # the old files stay as they were; an interrupt says so
        raise
    finally:
        graph.close()
    elapsed = time.perf_counter() - started
    peak = 20 * math.log10(writers.mix.peak) if writers.mix.peak > 0 else -math.inf
    return RenderResult(writers.paths, length / graph.sample_rate, peak, elapsed, workers, graph.latency,
                        loudness=loudness, workers_note=workers_note)


def _loudness_report(graph: Graph) -> dict[str, dict[str, float]]:
    """What each `loudness` stage achieved at its output in the final pass."""
    return {
        f"{node.address}/{stage.id}": {
            "target_lufs": stage.target.integrated_lufs,
            "ceiling_dbtp": stage.target.ceiling_dbtp,
            "integrated_lufs": stage.achieved_lufs,
            "true_peak_dbtp": stage.achieved_true_peak_dbtp,
        }
        for node in [*graph.tracks, *graph.buses, graph.master]
        for stage in _stages_of(node)
        if stage.type_name == "loudness"
    }


def _mixdown_check(graph: Graph, settings: dict[str, Any],
                   loudness: dict[str, dict[str, float]]) -> Callable[[Path], None] | None:
    """When a `loudness` stage ends the master chain, the written mixdown must meet its target.

    Dither, quantisation and resampling come after the stage, so the file is
    measured before it is renamed into place; a file that misses is refused.
    """
    stages = _stages_of(graph.master)
    if not stages or stages[-1].type_name != "loudness":
        return None
    stage = stages[-1]
    entry = loudness[f"{graph.master.address}/{stage.id}"]

    def check(path: Path) -> None:
        from ..loudness.conformance import check_written

        result = check_written(path, stage.target, str(settings["mixdown"]))
        entry["integrated_lufs"], entry["true_peak_dbtp"] = result.integrated_lufs, result.true_peak_dbtp

    return check


def analysis_stages(graph: Graph) -> list[Any]:
    """Stages that need the whole render before their output is final (e.g. `loudness`)."""
    nodes = [*graph.tracks, *graph.buses, graph.master]
    return [stage for node in nodes for stage in _stages_of(node) if getattr(stage, "ANALYSIS", False)]


def _stages_of(node: Any) -> list[Any]:
    return [slot.stage for slot in node.chain.slots]


@dataclass
class _Writers:
    """The mixdown and stem files of one pass: committed together or aborted together."""

    mix: AtomicWriter
    stems: dict[str, AtomicWriter]

    @property
    def paths(self) -> list[Path]:
        return [self.mix.path, *(w.path for w in self.stems.values())]

    def finish(self, staged: OutputSet, verify: Callable[[Path], None] | None = None) -> None:
        """Complete every file and stage it in ``staged``; when ``verify`` refuses the mixdown, none is."""
        try:
            staged.add(self.mix.finish(verify), self.mix.path)
            for stem in self.stems.values():
                staged.add(stem.finish(), stem.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        for writer in [self.mix, *self.stems.values()]:
            writer.abort()


def _open_writers(graph: Graph, settings: dict[str, Any]) -> _Writers:
    bit_depth = settings.get("bit_depth", 24)
    dither = bool(settings.get("dither", True)) and not _master_dithers(graph, bit_depth, settings)
    mix = AtomicWriter(settings["mixdown"], graph.sample_rate, 2, settings["format"], bit_depth,
                       dither=dither, file_rate=settings.get("sample_rate"))
    try:
        return _Writers(mix, _stem_writers(graph, settings))
    except BaseException:
        mix.abort()
        raise


def _master_dithers(graph: Graph, bit_depth: Any, settings: dict[str, Any]) -> bool:
    """True when the mix reaches the file already dithered onto its grid: the writer must not dither again.

    That is a master chain ending in an active `dither` stage at the file's bit
    depth, with nothing after it that moves samples off the grid (a master
    fader other than 0 dB or automated, or resampling to another file rate).
    """
    slots = graph.master.chain.slots
    if not slots or getattr(slots[-1].stage, "output_bits", None) != bit_depth:
        return False
    registry = graph.session.registry
    if registry.values[slots[-1].built.bypass.slot] >= 0.5:
        return False
    fader = graph.master.gain
    if fader is not None and (fader.lane is not None or registry.values[fader.param.slot] != 0.0):
        return False
    return settings.get("sample_rate") in (None, graph.sample_rate)


def _run_pass(graph: Graph, workers: int, length: int, writers: _Writers | None,
              progress: Progress | None) -> None:
    """One pass over the whole session; writes only when ``writers`` are given."""
    total = length + graph.latency
    stems = writers.stems if writers is not None else {}
    # a parallel render encodes the mixdown on a thread, on whichever core is idle; one worker stays on one core
    behind = WriteBehind(writers.mix) if writers is not None and workers > 1 else None
    try:
        if workers > 1:  # past the latency a master block is written whole: mix it in the writer's buffer
            into = None if behind is None else (
                lambda position, frames: behind.reserve(frames) if position >= graph.latency else None)
            sink = None if not stems else (
                lambda position, frames, posts: _write_stems(graph, stems, posts, position, frames, length))
            blocks = render_blocks(graph, workers, total, into, sink)
        else:
            blocks = _blocks(graph, total, length, stems)
        _drain(blocks, behind or (writers.mix if writers is not None else None), graph.latency, total, progress)
        if behind is not None:
            behind.finish()
    except BaseException:
        if behind is not None:
            behind.stop()
        if writers is not None:
            writers.abort()
        raise


def _blocks(graph: Graph, total: int, length: int,
            stems: dict[str, AtomicWriter]) -> Iterator[tuple[int, np.ndarray]]:
    block = graph.block_size
    for position in range(0, total, block):
        frames = min(block, total - position)
        out = graph.process(position, frames)
        if stems:
            _write_stems(graph, stems, {n.name: n.post_fader(frames) for n in graph.tracks}, position, frames, length)
        yield position, out


def _write_stems(graph: Graph, stems: dict[str, AtomicWriter], posts: dict[str, np.ndarray], position: int,
                 frames: int, length: int) -> None:
    """Write one block of each track's post-fader signal, ``posts`` by name, to its stem."""
    for node in graph.tracks:
        if node.name in stems:
            # each stem lines up with its source: drop the track's own chain latency
            start, stop = node.latency_out, node.latency_out + length
            lo, hi = max(start - position, 0), min(stop - position, frames)
            if lo < hi:
                stems[node.name].write(posts[node.name][:, lo:hi])


def _drain(blocks: Iterator[tuple[int, np.ndarray]], writer: AtomicWriter | WriteBehind | None, latency: int,
           total: int, progress: Progress | None) -> None:
    """Write the master blocks, dropping the first `latency` samples so the mix lines up with its sources."""
    for position, out in blocks:
        frames = out.shape[1]
        skip = min(max(latency - position, 0), frames)
        if skip < frames and writer is not None:
            writer.write(out[:, skip:])
        if progress is not None:
            progress(position + frames, total)


def _stem_writers(graph: Graph, settings: dict[str, Any]) -> dict[str, AtomicWriter]:
    """One writer per track, at the mixdown's output rate (folders made by `check_outputs`)."""
    if not settings.get("stems"):
        return {}
    for node in graph.tracks:
        node.keep_post = True
    writers: dict[str, AtomicWriter] = {}
    try:
        for node in graph.tracks:
            writers[node.name] = AtomicWriter(
                stem_path(settings, node.name), graph.sample_rate, 2, settings["format"],
                settings.get("bit_depth", 24), dither=bool(settings.get("dither", True)),
                file_rate=settings.get("sample_rate"))
    except BaseException:
        for writer in writers.values():  # the ones opened before the failure leave no temp files
            writer.abort()
        raise
    return writers
