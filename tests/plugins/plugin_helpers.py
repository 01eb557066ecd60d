"""Helpers for the plugin tests: bind a plugin stage to a registry, measure audio."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from host.registry import Registry
from host.stages.base import ParamView

SR = 48_000
BLOCK = 4096


class Bound:
    """A stage (or instrument source) bound to its own registry at ``tracks/t/<id>/...``."""

    def __init__(self, stage: Any, params: Mapping[str, Any] | None = None, prefix: str = "tracks/t") -> None:
        self.stage = stage
        self.registry = Registry()
        self.prefix = f"{prefix}/{getattr(stage, 'id', 'instrument')}"
        registered = {
            spec.name: self.registry.register(f"{self.prefix}/{spec.name}", spec)
            for spec in stage.param_specs()
        }
        stage.bind(ParamView(self.registry, registered))
        for name, value in (params or {}).items():
            self.set(name, value)

    def set(self, name: str, value: Any) -> None:
        self.registry.set(f"{self.prefix}/{name}", value)

    def run(self, signal: np.ndarray, block: int = BLOCK) -> np.ndarray:
        pieces = []
        for start in range(0, signal.shape[1], block):
            chunk = np.array(signal[:, start : start + block], dtype=np.float64)
            pieces.append(np.array(self.stage.process(chunk)))
        return np.concatenate(pieces, axis=1)


def sine(freq: float, seconds: float, amp: float = 0.5, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return np.tile(amp * np.sin(2 * np.pi * freq * t), (channels, 1))


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(max(np.sqrt(np.mean(np.square(x))), 1e-30)))


def envelope(x: np.ndarray, window: int = 480) -> np.ndarray:
    """Peak envelope: the max |x| over each run of ``window`` samples, one value per window."""
    mono = np.max(np.abs(np.atleast_2d(x)), axis=0)
    usable = mono[: mono.size // window * window]
    return usable.reshape(-1, window).max(axis=1)


def onsets(x: np.ndarray, threshold: float, window: int = 48, quiet_windows: int = 100) -> list[float]:
    """Times (s) where the envelope rises above ``threshold`` after ``quiet_windows`` below it."""
    env = envelope(x, window)
    times: list[float] = []
    quiet = quiet_windows
    for index, level in enumerate(env):
        if level >= threshold:
            if quiet >= quiet_windows:
                # refine to the first sample above threshold inside this window
                start = index * window
                mono = np.max(np.abs(np.atleast_2d(x)), axis=0)[start : start + window]
                times.append((start + int(np.argmax(mono >= threshold))) / SR)
            quiet = 0
        else:
            quiet += 1
    return times
