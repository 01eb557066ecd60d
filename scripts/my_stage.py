"""Tilt EQ: a mixhost user stage, and the reference example for writing one.

Use it in a chain or session file (the path is relative to the session)::

    chain:
      - {type: python, id: tilt, module: scripts/my_stage.py, params: {tilt_db: 3}}

Its parameters are then registry addresses like any native stage's
(``tracks/vocals/tilt/tilt_db``), so automation, MIDI and OSC can move them.

A user stage module provides:

* ``PARAMS``: a list of dicts ``{name, default, min, max[, unit, scale, doc]}``;
  ``scale`` is ``linear``, ``log`` (frequencies) or ``db_fader``;
* ``process(block, sample_rate, params) -> block``: ``block`` is a float64
  numpy array of shape ``(channels, frames)``; ``params`` maps each name to
  its smoothed value for this block; return an array of the same shape;
* optionally ``RAMPS``: the parameters ``process`` takes per sample.  While
  only those glide, ``process`` runs once per block and each is an array of
  per-sample values (a float once landed); otherwise it runs on 8-frame
  slices of the block, each with constant values;
* optionally ``prepare(sample_rate, channels)`` (called before audio flows),
  ``reset()`` (forget all state) and ``LATENCY`` (samples of delay added).

Each stage instance gets its own copy of the module, so the module-level
``_state`` below is private to one instance.  Keep ``process`` vectorised
(numpy/scipy): it runs on every block.

The tilt: a one-pole low-pass at ``pivot_hz`` splits the signal into
``low`` and ``high = x - low``; the output is ``low * g_low + high * g_high``
with ``g_low = 10^(-tilt/40)`` and ``g_high = 10^(+tilt/40)``, so +6 dB tilts
the spectrum by -3 dB at the bottom and +3 dB at the top, about the pivot.
At 0 dB the bands sum back to the input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.signal import lfilter

PARAMS = [
    {"name": "tilt_db", "default": 0.0, "min": -12.0, "max": 12.0, "unit": "dB",
     "doc": "positive: brighter, negative: darker"},
    {"name": "pivot_hz", "default": 800.0, "min": 100.0, "max": 5000.0, "unit": "Hz", "scale": "log",
     "doc": "frequency the spectrum tilts about"},
]

# the tilt is two gains, which broadcast per sample; the pivot sets a filter coefficient, one per call
RAMPS = ["tilt_db"]

_state: dict[str, np.ndarray] = {}


def prepare(sample_rate: float, channels: int) -> None:
    _state["zi"] = np.zeros((channels, 1))


def reset() -> None:
    _state["zi"][:] = 0.0


def process(block: np.ndarray, sample_rate: float, params: dict[str, Any]) -> np.ndarray:
    # one-pole low-pass y[n] = (1 - a) x[n] + a y[n-1], a = exp(-2 pi f / fs)
    a = math.exp(-2.0 * math.pi * params["pivot_hz"] / sample_rate)
    channels = block.shape[0]
    low, _state["zi"][:channels] = lfilter([1.0 - a], [1.0, -a], block, axis=-1,
                                           zi=_state["zi"][:channels])
    tilt_db = params["tilt_db"]  # a float, or per-sample values while it glides
    if np.ndim(tilt_db) == 0 and tilt_db == 0.0:
        return block
    g_low = 10.0 ** (-tilt_db / 40.0)
    g_high = 10.0 ** (tilt_db / 40.0)
    return low * g_low + (block - low) * g_high
