"""The one small protocol every stage implements.

Native stages, pedalboard plugins and user Python stages all look the same
to the engine:

* ``PARAMS``: the parameters the stage declares (registered by the engine at
  ``<owner>/<stage id>/<name>``);
* ``prepare(sample_rate, max_block, channels)``: allocate, compute constants;
* ``process(block)``: one block of shape ``(channels, frames)``, float64,
  returns the processed block (in place is allowed);
* ``reset()``: forget all state (tails, envelopes);
* ``latency``: samples of delay the stage adds, for latency compensation.

Parameter values are read through :class:`ParamView` at block start.  A
stage never reads the YAML, never blocks and never does I/O in ``process``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numba import njit

from ..registry import Parameter, ParamSpec, Registry


class ParamView:
    """A stage's window onto its parameters in the registry (lock-free reads)."""

    __slots__ = ("_registry", "_slots", "_slot_array", "params")

    def __init__(self, registry: Registry, params: Mapping[str, Parameter]) -> None:
        self._registry = registry
        self.params = dict(params)
        self._slots = {name: p.slot for name, p in params.items()}
        self._slot_array = np.array(list(self._slots.values()), dtype=np.intp)

    def snapshot_array(self) -> np.ndarray:
        """A buffer for :meth:`refresh`: one value per parameter, NaN so the first refresh differs."""
        return np.full(len(self._slot_array), np.nan)

    def refresh(self, last: np.ndarray) -> bool:
        """Copy the current values into ``last``; True when any differs from what it held.

        One compiled pass and no allocation, so a stage can tell at each block
        start, for the price of a single call, whether any of its parameters moved.
        """
        return refresh_values(self._registry.values, self._slot_array, last)

    @property
    def registry(self) -> Registry:
        return self._registry

    @property
    def slot_array(self) -> np.ndarray:
        """The parameters' registry slots, in declaration order (read-only use)."""
        return self._slot_array

    def __getitem__(self, name: str) -> float:
        return float(self._registry.values[self._slots[name]])

    @property
    def values(self) -> np.ndarray:
        """The registry's value array (read it by the parameters' slots; never write it)."""
        return self._registry.values

    def __contains__(self, name: object) -> bool:
        return name in self._slots

    def as_dict(self) -> dict[str, float]:
        values = self._registry.values
        return {name: float(values[slot]) for name, slot in self._slots.items()}


class Stage:
    """Base class for stages.  Subclasses set ``type_name``, ``PARAMS`` and override hooks."""

    type_name: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = ()
    #: keys a stage accepts in its YAML entry besides id/type/params/bypass
    OPTIONS: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        self.id = stage_id
        self.options = dict(options or {})
        self.sample_rate = 0.0
        self.channels = 0
        self.max_block = 0
        self.p: ParamView | None = None

    # -- parameters ----------------------------------------------------------
    def param_specs(self) -> tuple[ParamSpec, ...]:
        """The parameters of this instance (plugins and user stages override)."""
        return self.PARAMS

    def bind(self, view: ParamView) -> None:
        self.p = view

    # -- protocol ------------------------------------------------------------
    def prepare(self, sample_rate: float, max_block: int, channels: int) -> None:
        self.sample_rate = float(sample_rate)
        self.max_block = int(max_block)
        self.channels = int(channels)
        self._prepare()

    def process(self, block: np.ndarray) -> np.ndarray:
        return self._process(block)

    def reset(self) -> None:
        self._reset()

    @property
    def latency(self) -> int:
        return 0

    def output_channels(self, input_channels: int) -> int:
        return input_channels

    # -- hooks for subclasses --------------------------------------------------
    def _prepare(self) -> None:
        pass

    def _process(self, block: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _reset(self) -> None:
        pass


@njit(cache=True)
def refresh_values(values: np.ndarray, slots: np.ndarray, last: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Copy ``values[slots]`` into ``last``; True when any differs from what it held (ParamView.refresh)."""
    changed = False
    for i in range(slots.shape[0]):
        v = values[slots[i]]
        if v != last[i]:  # NaN in ``last`` (never refreshed) always differs
            changed = True
            last[i] = v
    return changed


def prime_block_size(processor: Any, silence: np.ndarray, sample_rate: float) -> None:
    """Prepare a pedalboard processor, once, for blocks as long as ``silence`` (float32 zeros).

    pedalboard prepares what it runs for the length of the block it is given
    (up to ``buffer_size``) and prepares it again whenever a later block is
    longer, and preparing clears the state: a JUCE reverb loses its tail, a
    VST3 plugin is deactivated and activated.  A chain's blocks do vary: 64
    samples at a time while automation moves, whole blocks after it, so the
    tail was cut where a lane ended.  One block of silence at the longest
    length, right after a reset, makes every later block a shorter one.
    """
    processor.process(silence, sample_rate, buffer_size=silence.shape[1], reset=False)
