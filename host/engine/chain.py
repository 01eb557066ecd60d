"""Runs a strip's chain of stages on blocks: bypass, sidechains, automation."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..dsp.delay_line import FixedDelay
from ..errors import RenderError
from ..registry import Registry
from ..stages.native import SUB_BLOCK

if TYPE_CHECKING:
    from ..session import BuiltStage
    from ..session.automation import Lane

SidechainLookup = Callable[[str], "np.ndarray | None"]


class _Slot:
    """One stage in a chain, with its bypass crossfade and latency-matched dry path.

    A keyed stage's detector must hear its key in time with its own input.
    The graph measures both paths' latency (:meth:`align`): a key that arrives
    early is delayed; one that arrives late delays the stage's input instead,
    which adds to the chain's latency (compensated downstream like any other).
    """

    def __init__(self, built: BuiltStage, registry: Registry) -> None:
        self.built = built
        self.stage = built.stage
        self.address = built.plan.address
        self._bypass_slot = built.bypass.slot
        self._registry = registry
        self.sidechain_name = str(self.stage.options.get("sidechain", "") or "") if getattr(
            self.stage, "SIDECHAIN", False) else ""
        self._was_bypassed = False
        self._dry: FixedDelay | None = None
        self._key_delay: FixedDelay | None = None  # the key, held back to meet the stage's input
        self._input_delay: FixedDelay | None = None  # the stage's input, held back to meet a late key
        self._plain = False
        self.last_out: np.ndarray | None = None   # the live NaN guard looks here for the culprit

    def prepare(self, sample_rate: float, max_block: int, channels: int) -> int:
        self.stage.prepare(sample_rate, max_block, channels)
        self.out_channels = self.stage.output_channels(channels)
        self.in_channels = channels
        self._max_block = max_block
        self.align(0)
        self._was_bypassed = self._registry.values[self._bypass_slot] >= 0.5
        return self.out_channels

    @property
    def latency(self) -> int:
        """Samples this slot delays its strip: the stage's own latency plus any input delay."""
        held = self._input_delay.delay if self._input_delay is not None else 0
        return held + self.stage.latency

    def align(self, key_lead: int) -> None:
        """Line the key up with the stage's input: ``key_lead`` is how many samples the key
        arrives before it (negative: after)."""
        key, held = max(key_lead, 0), max(-key_lead, 0)
        self._key_delay = FixedDelay(2, key, self._max_block) if key else None
        self._input_delay = FixedDelay(self.in_channels, held, self._max_block) if held else None
        self._dry = FixedDelay(self.in_channels, held + self.stage.latency, self._max_block)
        self._plain = not self.sidechain_name and not held  # no key to feed, no input to hold back

    def process(self, block: np.ndarray, sidechain: SidechainLookup) -> np.ndarray:
        bypassed = bool(self._registry.values[self._bypass_slot] >= 0.5)
        if self._plain and not bypassed and not self._was_bypassed:  # the common case, kept short
            self.last_out = wet = self._run(block)
            return wet
        key = self._key(sidechain) if self.sidechain_name else None  # the key's delay runs while bypassed too
        if bypassed and self._was_bypassed:
            self.last_out = None
            if self._input_delay is not None:
                self._input_delay.process(block)  # kept running, so un-bypassing resumes in time
            return self._dry_path(block)
        if self.sidechain_name:
            self.stage.sidechain = key  # type: ignore[attr-defined]
        dry = self._dry_path(block.copy()) if bypassed != self._was_bypassed else None
        if self._input_delay is not None:
            block = self._input_delay.process(block)
        wet = self._run(block)
        if dry is not None:  # bypass switched this block: crossfade, so it never clicks
            ramp = np.linspace(0.0, 1.0, wet.shape[1])
            if bypassed:
                ramp = 1.0 - ramp
            wet = wet * ramp + _match(dry, wet.shape[0]) * (1.0 - ramp)
            self._was_bypassed = bypassed
        self.last_out = wet
        return wet

    def _run(self, block: np.ndarray) -> np.ndarray:
        try:
            return self.stage.process(block)
        except RenderError:
            raise  # already names the stage
        except Exception as error:  # a stage failed: name it
            raise RenderError(f"{self.address}: the stage failed: {error}") from error

    def _key(self, sidechain: SidechainLookup) -> np.ndarray | None:
        key = sidechain(self.sidechain_name)
        if key is None or self._key_delay is None:
            return key
        return self._key_delay.process(key)

    def _dry_path(self, block: np.ndarray) -> np.ndarray:
        assert self._dry is not None
        return _match(self._dry.process(block), self.out_channels)

    def reset(self) -> None:
        self.stage.reset()
        for delay in (self._dry, self._key_delay, self._input_delay):
            if delay is not None:
                delay.reset()


def _match(block: np.ndarray, channels: int) -> np.ndarray:
    if block.shape[0] == channels:
        return block
    if channels == 2 and block.shape[0] == 1:
        return np.repeat(block, 2, axis=0)
    return block.mean(axis=0, keepdims=True)


def _sliced(lookup: SidechainLookup, start: int, stop: int) -> SidechainLookup:
    def sliced(name: str) -> np.ndarray | None:
        key = lookup(name)
        return None if key is None else key[:, start:stop]

    return sliced


class ChainRunner:
    """The stages of one strip, run in order on each block."""

    def __init__(self, built: list[BuiltStage], registry: Registry, lanes: list[Lane]) -> None:
        self.slots = [_Slot(b, registry) for b in built]
        self.registry = registry
        # lanes on parameters a stage takes per sample (gain, pan) become ramps; the rest are
        # stepped every SUB_BLOCK samples
        self.ramped: list[tuple[Lane, dict[str, np.ndarray], str]] = []
        self.lanes = []
        # a linear lane is continuous already: the stage takes its value without smoothing it again
        self._follow: dict[int, Callable[[], None]] = {}
        for b in built:
            params = dict(b.stage.p.params) if b.stage.p else {}
            follow = getattr(b.stage, "follow", None)
            params["bypass"] = b.bypass
            accurate: frozenset[str] = getattr(b.stage, "SAMPLE_ACCURATE", frozenset())
            for lane in lanes:
                name = next((n for n, p in params.items() if p is lane.param), None)
                if name is None:
                    continue
                if name in accurate and lane.interpolation == "linear":
                    self.ramped.append((lane, b.stage.ramps, name))  # type: ignore[attr-defined]
                else:
                    self.lanes.append(lane)
                    if follow is not None and lane.interpolation == "linear" and name != "bypass":
                        self._follow[lane.param.slot] = partial(follow, name)
        self.latency = 0
        self.out_channels = 0

    def prepare(self, sample_rate: float, max_block: int, channels: int) -> int:
        self.sample_rate = sample_rate
        for slot in self.slots:
            channels = slot.prepare(sample_rate, max_block, channels)
        self.latency = sum(slot.latency for slot in self.slots)
        self.out_channels = channels
        self._out = np.zeros((channels, max_block))
        return channels

    def process(self, block: np.ndarray, position: int, sidechain: SidechainLookup) -> np.ndarray:
        if not self.slots:
            return block
        frames = block.shape[1]
        for lane, ramps, name in self.ramped:
            ramps[name] = lane.block(position, frames, self.sample_rate)
            self.registry.set_deferred(lane.param, float(ramps[name][-1]))
        if not self.lanes or all(lane.is_constant(position, frames, self.sample_rate) for lane in self.lanes):
            self._apply_lanes(position)
            return self._run(block, sidechain)
        # automated stage parameters move inside this block: step them every SUB_BLOCK samples
        out = self._out[:, :frames]
        for start in range(0, frames, SUB_BLOCK):
            stop = min(start + SUB_BLOCK, frames)
            self._apply_lanes(position + start)
            out[:, start:stop] = self._run(block[:, start:stop], _sliced(sidechain, start, stop))
        return out

    def align(self, input_latency: int, key_latency: Callable[[str], int | None]) -> None:
        """Line each keyed stage up with its key, given the latency of this chain's input and,
        by name, of each key's chain output (None: no such strip here)."""
        at = input_latency
        for slot in self.slots:
            key = key_latency(slot.sidechain_name) if slot.sidechain_name else None
            slot.align(at - key if key is not None else 0)
            at += slot.latency
        self.latency = at - input_latency

    def _apply_lanes(self, position: int) -> None:
        for lane in self.lanes:
            value = lane.value_at(position, self.sample_rate)
            self.registry.set_deferred(lane.param, value)
            follow = self._follow.get(lane.param.slot)
            if follow is not None:
                follow()

    def _run(self, block: np.ndarray, sidechain: SidechainLookup) -> np.ndarray:
        for slot in self.slots:
            block = slot.process(block, sidechain)
        return block

    def reset(self) -> None:
        for slot in self.slots:
            slot.reset()
