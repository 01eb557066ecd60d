"""Decibels to amplitude: the two conversions the stages and the engine share."""

from __future__ import annotations

from typing import Any

import numpy as np

SILENCE_DB = -120.0  # the bottom of a fader: treated as -inf


def db_to_amp(db: float | np.ndarray) -> Any:
    """``10^(dB/20)``, a float for a scalar and an array for an array."""
    return np.power(10.0, np.asarray(db, dtype=np.float64) / 20.0) if np.ndim(db) else 10.0 ** (
        float(db) / 20.0
    )


def db_to_gain(db: float | np.ndarray) -> float | np.ndarray:
    """A fader's gain: as :func:`db_to_amp`, but ``SILENCE_DB`` and below are silence (0)."""
    if isinstance(db, float | int):
        return 0.0 if db <= SILENCE_DB else 10.0 ** (db / 20.0)
    gain = np.power(10.0, np.asarray(db) / 20.0)
    gain = np.where(np.asarray(db) <= SILENCE_DB, 0.0, gain)
    return float(gain) if gain.ndim == 0 else gain
