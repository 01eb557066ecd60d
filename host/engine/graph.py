"""The mix graph: tracks -> sends/buses -> master, processed block by block.

Each strip (track, bus, master) runs its chain, then its fader (gain, pan,
mute), and adds its output into destination accumulators.  Paths of
different latency are lined up by a delay on each edge into a sum.

The graph can be split: worker processes run :meth:`Graph.process_tracks`
for a subset of tracks into their own accumulators, and the main process
adds those and runs :meth:`Graph.mix`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio_io import AudioInfo, FileSource, probe
from ..dsp.decibels import db_to_gain
from ..dsp.delay_line import FixedDelay
from ..dsp.mixing import mix_static
from ..dsp.pan_law import balance_gains, mono_gains
from ..dsp.smoothing import Smoother
from ..errors import AudioInputError, SessionError
from ..registry import Parameter, Registry
from ..stages.base import refresh_values
from .chain import ChainRunner, SidechainLookup
from .order import strip_order

if TYPE_CHECKING:
    from ..session import Session
    from ..session.automation import Lane
    from ..session.plan import StripPlan


def _identity(value: float | np.ndarray) -> float | np.ndarray:
    return value


def _mute_to_level(value: float | np.ndarray) -> float | np.ndarray:
    return 1.0 - np.asarray(value) if np.ndim(value) else 1.0 - float(value)


class _Control:
    """A strip control (gain, pan, mute, send level) as the value applied to the audio.

    The control smooths what is applied (the linear gain for dB controls, the
    level for mute), so a fader jump from 0 to -60 dB fades in the amplitude
    domain without a step.  A linear automation lane is applied per sample,
    exactly; a step lane is smoothed like a hand move.
    """

    def __init__(self, param: Parameter, registry: Registry, lanes: list[Lane]) -> None:
        self.param = param
        self.registry = registry
        self._lane = next((lane for lane in lanes if lane.param is param), None)
        self.on_lane_change: Callable[[], None] | None = None  # the strip leaves its rest path
        self.applied = {"dB": db_to_gain}.get(param.spec.unit, _identity)
        if param.spec.is_boolean:
            self.applied = _mute_to_level
        self.smoother = Smoother(self._target(float(registry.values[param.slot])))
        self._raw = math.nan      # the registry value last seen, and what it applied as once settled
        self._settled: float | None = None

    def _target(self, value: float) -> float:
        return float(self.applied(value))

    def prepare(self, sample_rate: float, max_block: int) -> None:
        self.sample_rate = sample_rate
        self.smoother.prepare(sample_rate, max_block)

    def reset(self) -> None:
        self.smoother.reset(self._target(float(self.registry.values[self.param.slot])))
        self._raw, self._settled = math.nan, None

    @property
    def lane(self) -> Lane | None:
        return self._lane

    @lane.setter
    def lane(self, lane: Lane | None) -> None:
        """The live engine hands a lane to a hand and back (host.live.lanes)."""
        self._lane = lane
        self._raw, self._settled = math.nan, None
        if self.on_lane_change is not None:
            self.on_lane_change()

    @property
    def at_rest(self) -> bool:
        """The last :meth:`values` was the settled value of an unautomated control."""
        return self._settled is not None

    def values(self, position: int, frames: int) -> float | np.ndarray:
        lane = self.lane
        if lane is None:
            raw = float(self.registry.values[self.param.slot])
            if raw == self._raw and self._settled is not None:
                return self._settled  # unchanged and at rest: the common case, kept cheap
            self._raw = raw
            out = self.smoother.next(self._target(raw), frames)
            self._settled = out if isinstance(out, float) else None
            return out
        self._raw, self._settled = math.nan, None
        if lane.is_constant(position, frames, self.sample_rate):
            value = lane.value_at(position, self.sample_rate)
            self.registry.set_deferred(self.param, value)
            if lane.interpolation == "linear":  # continuous with the ramp before it: no glide
                self.smoother.reset(self._target(value))
            return self.smoother.next(self._target(value), frames)
        ramp = lane.block(position, frames, self.sample_rate)
        self.registry.set_deferred(self.param, float(ramp[-1]))
        applied = np.asarray(self.applied(ramp), dtype=np.float64)
        if lane.interpolation == "linear":  # already continuous: sample-accurate, no smoothing lag
            self.smoother.reset(float(applied[-1]))
            return applied
        return _follow(self.smoother, applied)


def _follow(smoother: Smoother, targets: np.ndarray) -> np.ndarray:
    """Smooth a stepped target signal (step automation) with the control's one-pole."""
    from scipy.signal import lfilter

    a = smoother._a  # noqa: SLF001 - same coefficient as the smoother it continues
    y, _ = lfilter([a], [1.0, a - 1.0], targets, zi=[(1.0 - a) * smoother.value])
    smoother.reset(float(y[-1]))
    return y


@dataclass
class _Edge:
    dest: int                   # accumulator index: buses in order, master last
    level: _Control | None      # send level (None: the strip's main output)
    pre_fader: bool
    delay: FixedDelay | None = None
    latency_in: int = 0


class StripNode:
    """A track, bus or master: chain, fader, and edges to destinations."""

    def __init__(self, strip: StripPlan, session: Session, lanes: list[Lane]) -> None:
        reg = session.registry
        self.plan = strip
        self.name = strip.name
        self.address = strip.address
        self.registry = reg
        self.chain = ChainRunner(session.stages.get(strip.address, []), reg, lanes)

        def control(name: str) -> _Control | None:
            address = f"{strip.address}/{name}"
            return _Control(reg.param(address), reg, lanes) if address in reg else None

        self.gain = control("gain_db")
        self.pan = control("pan")
        self.mute = control("mute")
        self.solo_slot = reg.param(f"{strip.address}/solo").slot if f"{strip.address}/solo" in reg else None
        self.edges: list[_Edge] = []
        self.sends_spec = [(s.bus, control(f"sends/{s.bus}/level_db"), s.pre_fader) for s in strip.sends]
        self.in_channels = 2
        self.source: FileSource | Any | None = None   # a file, or an instrument rendering MIDI
        self.info: AudioInfo | None = None             # the source file's header, probed once at open
        self.source_latency = 0
        self.latency_out = 0
        self.chain_out: np.ndarray | None = None
        self._forced = Smoother(1.0)
        self._fast = False        # the compiled summing path; set by the graph once edge delays are known
        self.keep_post = False    # write the post-fader signal (stems) on the compiled path too
        self._pan_key: tuple[float, int] | None = None
        self._pan_cache: tuple[float, float] = (1.0, 1.0)
        # the rest path: while every control is at rest and unchanged, the last block's summing
        # coefficients hold and a block is one compiled call
        self._at_rest = False
        self._was_forced = False
        self._post_left = self._post_right = 0.0

    def post_fader(self, frames: int) -> np.ndarray:
        """The strip's last block after fader, pan and mute (stereo): valid when it ran, and on the
        compiled path only with ``keep_post`` (set for stems and for the live engine's meters)."""
        return self._post[:, :frames]

    def controls(self) -> list[_Control]:
        found = [self.gain, self.pan, self.mute, *(e.level for e in self.edges)]
        return [c for c in found if c is not None]

    def prepare(self, sample_rate: float, max_block: int) -> None:
        channels = self.chain.prepare(sample_rate, max_block, self.in_channels)
        if channels not in (1, 2):
            raise self._channels_error(channels)
        self.chain_channels = channels
        for c in self.controls():
            c.prepare(sample_rate, max_block)
        self._forced.prepare(sample_rate, max_block)
        self._input = np.zeros((self.in_channels, max_block))
        self._post = np.zeros((2, max_block))
        self._k_left = np.zeros(len(self.edges))
        self._k_right = np.zeros(len(self.edges))
        self._dests = np.array([edge.dest for edge in self.edges], dtype=np.int64)
        self._pre = np.zeros((2, max_block))
        self._scratch = np.zeros((2, max_block))
        controls = self.controls()
        for c in controls:
            c.on_lane_change = self._leave_rest
        self._control_slots = np.array([c.param.slot for c in controls], dtype=np.intp)
        self._control_seen = np.full(len(controls), np.nan)
        self._at_rest = False

    def _channels_error(self, channels: int) -> SessionError:
        """Point at the stage that made the channel count (in its session or chain file)."""
        culprit = next((slot for slot in reversed(self.chain.slots) if slot.out_channels != slot.in_channels), None)
        where = culprit.built.plan.where if culprit is not None else self.plan.where.at("chain")
        made_by = f" (stage {culprit.address} outputs them)" if culprit is not None else ""
        return where.error(f"the chain of {self.address} ends with {channels} channels{made_by}; "
                           "a strip's chain must end mono or stereo",
                           hint="configure the stage for a stereo output, or follow it with a stage "
                                "that mixes down to stereo")

    def _leave_rest(self) -> None:
        self._at_rest = False

    def reset(self) -> None:
        self.chain.reset()
        self._at_rest = False
        for c in self.controls():
            c.reset()
        for edge in self.edges:
            if edge.delay is not None:
                edge.delay.reset()

    # -- processing --------------------------------------------------------------
    def run(self, block: np.ndarray, position: int, forced_mute: bool, sidechain: SidechainLookup,
            accumulators: np.ndarray) -> None:
        frames = block.shape[1]
        out = self.chain.process(block, position, sidechain)
        self.chain_out = out
        if self._at_rest and forced_mute == self._was_forced \
                and not refresh_values(self.registry.values, self._control_slots, self._control_seen):
            # every control at rest and unchanged since the last block: its coefficients hold
            mix_static(out, frames, self._k_left, self._k_right, self._dests, accumulators, self._post,
                       self._post_left, self._post_right, self.keep_post)
            return
        self._at_rest = False
        self._was_forced = forced_mute
        level = self.mute.values(position, frames) if self.mute is not None else 1.0
        # another track's solo mutes this one, with the same short fade as its own mute
        forced = self._forced.next(0.0 if forced_mute else 1.0, frames)
        level = level * forced
        gain = self.gain.values(position, frames) if self.gain is not None else 1.0
        left, right = self._pan_gains(position, frames, out.shape[0])
        if self._fast and isinstance(gain, float) and isinstance(level, float) and isinstance(left, float) \
                and self._static_mix(out, frames, gain, level, left, right, position, accumulators):
            # at rest when every control returned its settled value (no lane, no glide)
            self._at_rest = isinstance(forced, float) and all(c.at_rest for c in self.controls())
            return
        post = self._post[:, :frames]
        common = gain * level
        np.multiply(out[0], common * left, out=post[0])
        np.multiply(out[-1], common * right, out=post[1])
        pre = None
        for edge in self.edges:
            if edge.level is None:
                signal = post
            elif edge.pre_fader:
                if pre is None:
                    pre = self._pre[:, :frames]
                    np.multiply(out[0], level * left, out=pre[0])
                    np.multiply(out[-1], level * right, out=pre[1])
                signal = pre
            else:
                signal = post
            self._add(edge, signal, position, frames, accumulators)

    def _static_mix(self, out: np.ndarray, frames: int, gain: float, level: float, left: float, right: float,
                    position: int, accumulators: np.ndarray) -> bool:
        """Every coefficient is constant this block: sum in one compiled pass.  False if not."""
        k_left, k_right = self._k_left, self._k_right
        for e, edge in enumerate(self.edges):
            scale = 1.0
            if edge.level is not None:
                send = edge.level.values(position, frames)
                if not isinstance(send, float):
                    return False
                scale = send
            fader = level if edge.pre_fader else gain * level
            k_left[e] = fader * left * scale
            k_right[e] = fader * right * scale
        self._post_left, self._post_right = gain * level * left, gain * level * right
        mix_static(out, frames, k_left, k_right, self._dests, accumulators, self._post,
                   self._post_left, self._post_right, self.keep_post)
        return True

    def _pan_gains(self, position: int, frames: int, channels: int) -> tuple[Any, Any]:
        if self.pan is None:
            return 1.0, 1.0
        pan = self.pan.values(position, frames)
        if isinstance(pan, float):
            key = (pan, channels)
            if key != self._pan_key:  # the law's trigonometry only when the pan moves
                self._pan_key = key
                laws = mono_gains if channels == 1 else balance_gains
                left, right = laws(pan, self.plan.pan_law)
                self._pan_cache = (float(left), float(right))
            return self._pan_cache
        laws = mono_gains if channels == 1 else balance_gains
        return laws(pan, self.plan.pan_law)

    def _add(self, edge: _Edge, signal: np.ndarray, position: int, frames: int, accumulators: np.ndarray) -> None:
        if edge.level is not None:
            send = edge.level.values(position, frames)
            scratch = self._scratch[:, :frames]
            np.multiply(signal, send, out=scratch)
            signal = scratch
        if edge.delay is not None:
            signal = edge.delay.process(signal)
        accumulators[edge.dest, :, :frames] += signal


def _at_source(node: StripNode, error: AudioInputError) -> AudioInputError:
    """An audio problem, reported at the track's `source:` line in the session file."""
    if error.line is not None or "source" not in node.plan.settings:
        return error
    located = node.plan.where.at("source").error(error.message, hint=error.hint, cls=AudioInputError)
    assert isinstance(located, AudioInputError)
    return located


class Graph:
    """The whole mix for one session; see the module docstring."""

    def __init__(self, session: Session, *, block_size: int | None = None,
                 tracks: set[str] | None = None) -> None:
        plan = session.plan
        self.session = session
        self.sample_rate = plan.sample_rate
        self.block_size = block_size or plan.block_size
        lanes = session.lanes
        self.tracks = [StripNode(t, session, lanes) for t in plan.tracks]
        self.buses = [StripNode(b, session, lanes) for b in plan.buses]
        self.master = StripNode(plan.master, session, lanes)
        self.dest_index = {b.name: i for i, b in enumerate(self.buses)} | {"master": len(self.buses)}
        self._wire()
        # run order: every strip after the strips routed into it and the strips keying its sidechains
        nodes = {n.address: n for n in [*self.tracks, *self.buses]}
        self.order = [nodes[strip.address] for strip in strip_order(plan)]
        self.active = [t for t in self.tracks if tracks is None or t.name in tracks]
        self._solo_slots = [t.solo_slot for t in self.tracks if t.solo_slot is not None]

    def _wire(self) -> None:
        for node in [*self.tracks, *self.buses]:
            node.edges = [_Edge(self.dest_index[node.plan.output or "master"], None, False)]
            node.edges += [_Edge(self.dest_index[bus], level, pre) for bus, level, pre in node.sends_spec]

    # -- set-up ----------------------------------------------------------------------
    def open_sources(self) -> None:
        for node in self.tracks:
            instrument = self.session.instruments.get(node.address)
            if instrument is not None:
                instrument.seek(0)
                node.in_channels = instrument.channels
                node.source_latency = instrument.latency
                node.source = instrument if node in self.active else None
                continue
            if node.plan.settings.get("source") is not None:
                node.info = info = self._probe(node)
                node.in_channels = info.channels
                if node in self.active:
                    node.source = FileSource(info, self.sample_rate)

    def _probe(self, node: StripNode) -> AudioInfo:
        try:
            return probe(self.session.plan.base_dir / str(node.plan.settings["source"]))
        except AudioInputError as error:
            raise _at_source(node, error) from None

    def prepare(self) -> None:
        self.open_sources()
        self._sidechains = {n.name: n for n in [*self.tracks, *self.buses]}
        for node in [*self.tracks, *self.buses, self.master]:
            node.prepare(self.sample_rate, self.block_size)
        self._plan_latency()
        self.session.registry.fades.warm_up()   # compiled now, not in the block that first fades
        self.accumulators = np.zeros((len(self.buses) + 1, 2, self.block_size))
        self._master_out = np.zeros((2, self.block_size))

    def _plan_latency(self) -> None:
        """Delay each edge so that all paths into a sum arrive together, and each keyed stage's key
        so that it meets the stage's input.

        Strips are planned in run order: a strip's inputs and keys before it.
        """
        arrivals: dict[int, list[tuple[StripNode, _Edge]]] = {}
        keys = self._sidechains

        def key_latency(name: str) -> int | None:  # a key runs, so is planned, before what it keys
            return keys[name].latency_out if name in keys else None

        for node in [*self.order, self.master]:
            if node.plan.kind == "track":
                latency_in = node.source_latency
            else:
                incoming = arrivals.get(self.dest_index[node.name], [])  # the master's name is its index's key
                latency_in = max((src.latency_out for src, _ in incoming), default=0)
                for src, edge in incoming:
                    gap = latency_in - src.latency_out
                    edge.delay = FixedDelay(2, gap, self.block_size) if gap > 0 else None
            node.chain.align(latency_in, key_latency)
            node.latency_out = latency_in + node.chain.latency
            for edge in node.edges:
                arrivals.setdefault(edge.dest, []).append((node, edge))
        self.latency = self.master.latency_out
        for node in self.tracks:  # buses sum into later buses in place: they keep the numpy path
            node._fast = all(edge.delay is None for edge in node.edges)

    @property
    def length(self) -> int:
        """Session length in samples: the longest source (an instrument's includes its release tail)."""
        lengths = [i.frames or 0 for i in self.session.instruments.values()]
        for node in self.tracks:
            if node.plan.settings.get("source"):
                info = node.info or self._probe(node)
                lengths.append(int(np.ceil(info.frames * self.sample_rate / info.sample_rate)))
        return max(lengths, default=0)

    def reset(self, position: int = 0) -> None:
        """Clear all signal state; automated parameters start at their lanes' values (no glide in)."""
        registry = self.session.registry
        for lane in self.session.lanes:
            registry.set_deferred(lane.param, lane.value_at(position, self.sample_rate))
        for node in [*self.tracks, *self.buses, self.master]:
            node.reset()

    def stages(self) -> list[Any]:
        """Every stage of every strip (tracks, buses, master), in no particular order."""
        return [slot.stage for node in [*self.tracks, *self.buses, self.master] for slot in node.chain.slots]

    def rewind(self) -> None:
        """Back to the start of the session with all signal state cleared (a new pass)."""
        for node in self.tracks:
            if node.source is not None:
                node.source.seek(0)
        self.reset()

    def close(self) -> None:
        for node in self.tracks:
            if isinstance(node.source, FileSource):  # instruments belong to the session, kept for reuse
                node.source.close()

    # -- processing ------------------------------------------------------------------
    def _sidechain(self, name: str) -> np.ndarray | None:
        node = self._sidechains.get(name)
        return None if node is None else node.chain_out

    def process_tracks(self, position: int, frames: int, accumulators: np.ndarray) -> None:
        """Add the active tracks' outputs for one block into ``accumulators``.

        For a graph split across processes, whose tracks are keyed by tracks only
        (see :func:`~host.engine.parallel.mix_needs_tracks`).
        """
        any_solo = self._any_solo()
        for node in self.order:
            if node.plan.kind == "track":
                self._run_track(node, position, frames, any_solo, accumulators)

    def mix(self, position: int, frames: int, accumulators: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Run buses and master over the summed track outputs; returns the master block.

        ``out``, a (2, frames) array, receives the master block (else the graph's own buffer).
        """
        for node in self.order:
            if node.plan.kind == "bus":
                self._run_bus(node, position, frames, accumulators)
        return self._run_master(position, frames, accumulators, out)

    def _any_solo(self) -> bool:
        values = self.session.registry.values
        return any(values[s] >= 0.5 for s in self._solo_slots)

    def _run_track(self, node: StripNode, position: int, frames: int, any_solo: bool,
                   accumulators: np.ndarray) -> None:
        if node not in self.active:
            node.chain_out = None  # not run here (another process, or taken out live): keys nothing
            return
        block = node._input[:, :frames]
        if node.source is not None:
            try:
                node.source.read(block)
            except AudioInputError as error:  # NaN/Inf found while streaming
                raise _at_source(node, error) from None
        else:
            block.fill(0.0)
        values = self.session.registry.values
        forced = any_solo and node.solo_slot is not None and values[node.solo_slot] < 0.5
        node.run(block, position, forced, self._sidechain, accumulators)

    def _run_bus(self, node: StripNode, position: int, frames: int, accumulators: np.ndarray) -> None:
        index = self.dest_index[node.name]
        node.run(accumulators[index, :, :frames], position, False, self._sidechain, accumulators)

    def _run_master(self, position: int, frames: int, accumulators: np.ndarray,
                    into: np.ndarray | None = None) -> np.ndarray:
        out = self.master.chain.process(accumulators[-1, :, :frames], position, self._sidechain)
        self.master.chain_out = out
        gain = self.master.gain.values(position, frames) if self.master.gain else 1.0
        master = self._master_out[:, :frames] if into is None else into
        np.multiply(out, gain, out=master)
        return master

    def process(self, position: int, frames: int) -> np.ndarray:
        """One block of the whole mix: every strip in run order, so a sidechain hears this block of its key.

        At block start a running fade (a snapshot recall, :mod:`host.registry.fades`) moves its values.
        """
        self.session.registry.fades.advance(frames)
        accumulators = self.accumulators
        accumulators[:, :, :frames] = 0.0
        any_solo = self._any_solo()
        for node in self.order:
            if node.plan.kind == "track":
                self._run_track(node, position, frames, any_solo, accumulators)
            else:
                self._run_bus(node, position, frames, accumulators)
        return self._run_master(position, frames, accumulators)
