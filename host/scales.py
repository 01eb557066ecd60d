"""Mappings between a parameter's value and its normalised 0..1 position.

Controllers (faders, knobs, OSC sliders) speak in positions; the registry
stores values in the parameter's own unit.  Each scale is a pair of
vectorisable functions so a whole automation lane can be mapped at once.
"""

from __future__ import annotations

import math
from typing import Literal

Scale = Literal["linear", "log", "db_fader"]
SCALES: tuple[str, ...] = ("linear", "log", "db_fader")

# dB fader taper: position = (amplitude / max_amplitude) ** (1/4), i.e.
# value_db = max_db + 80 * log10(position).  It puts 0 dB near 84 % of travel
# on a +6 dB fader and spreads the useful -40..+6 dB range over most of the
# throw, as console faders do.
_FADER_DB_PER_DECADE = 80.0


def to_normalized(value: float, lo: float, hi: float, scale: str) -> float:
    """Value in the parameter's unit -> position in 0..1 (clamped)."""
    if hi == lo:
        return 0.0
    value = min(max(value, lo), hi)
    if scale == "log":
        pos = math.log(value / lo) / math.log(hi / lo)
    elif scale == "db_fader":
        if value <= lo:
            return 0.0
        pos = 10.0 ** ((value - hi) / _FADER_DB_PER_DECADE)
    else:
        pos = (value - lo) / (hi - lo)
    return min(max(pos, 0.0), 1.0)


def from_normalized(pos: float, lo: float, hi: float, scale: str) -> float:
    """Position in 0..1 -> value in the parameter's unit (clamped)."""
    pos = min(max(float(pos), 0.0), 1.0)
    if scale == "log":
        value = lo * (hi / lo) ** pos
    elif scale == "db_fader":
        value = lo if pos <= 0.0 else hi + _FADER_DB_PER_DECADE * math.log10(pos)
    else:
        value = lo + pos * (hi - lo)
    return min(max(value, lo), hi)
