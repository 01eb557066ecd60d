"""Run a stage standalone: a private registry, its specs registered, a bound ParamView."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from host.registry import Registry
from host.stages import stage_class
from host.stages.base import ParamView, Stage

SR = 48_000


class Harness:
    """A stage bound to its own registry; ``set`` changes a parameter as a controller would."""

    def __init__(
        self,
        type_name: str,
        options: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        sample_rate: float = SR,
        channels: int = 2,
        max_block: int = 8192,
    ) -> None:
        self.registry = Registry()
        self.stage: Stage = stage_class(type_name)("st", options)
        registered = {
            spec.name: self.registry.register(f"test/st/{spec.name}", spec)
            for spec in self.stage.param_specs()
        }
        self.stage.bind(ParamView(self.registry, registered))
        for name, value in (params or {}).items():
            self.set(name, value)
        self.stage.prepare(sample_rate, max_block, channels)
        self.sample_rate = sample_rate

    def set(self, name: str, value: Any) -> None:
        self.registry.set(f"test/st/{name}", value)

    def process(self, block: np.ndarray) -> np.ndarray:
        return np.array(self.stage.process(np.array(block, dtype=np.float64)))

    def run(self, signal: np.ndarray, block: int = 128) -> np.ndarray:
        """Process a whole ``(channels, frames)`` signal in blocks of ``block`` frames."""
        x = np.atleast_2d(np.asarray(signal, dtype=np.float64))
        pieces = [self.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)]
        return np.concatenate(pieces, axis=1)


def db(x: float | np.ndarray) -> Any:
    return 20.0 * np.log10(np.maximum(np.abs(x), 1e-300))


def sine(freq: float, seconds: float, amp: float = 0.5, channels: int = 2, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.tile(amp * np.sin(2 * np.pi * freq * t), (channels, 1))


def noise(seconds: float, amp: float = 0.25, channels: int = 2, seed: int = 1, sr: int = SR) -> np.ndarray:
    return amp * np.random.default_rng(seed).standard_normal((channels, int(seconds * sr)))


def impulse(frames: int, channels: int = 2) -> np.ndarray:
    x = np.zeros((channels, frames))
    x[:, 0] = 1.0
    return x


def magnitude_db(h: np.ndarray, freqs: np.ndarray, sr: float = SR) -> np.ndarray:
    """Magnitude response (dB) of an impulse response at the given frequencies."""
    n = np.arange(len(h))
    response = np.exp(-2j * np.pi * np.outer(freqs, n) / sr) @ h
    return np.asarray(db(response))


def max_step(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x, axis=-1))))
