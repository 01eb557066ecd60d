"""Shared fixtures: generated audio and session files written into a temp folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 48000


def tone(freq: float = 1000.0, seconds: float = 1.0, amp: float = 0.5, sr: int = SR,
         channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t)
    return x if channels == 1 else np.stack([x] * channels, axis=1)


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x)))))


@pytest.fixture
def write_audio(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, data: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data, sr, subtype=subtype)
        return path

    return write


@pytest.fixture
def write_session(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "session.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


def read_mix(path: Path) -> np.ndarray:
    data, _ = sf.read(path, always_2d=True)
    return data
