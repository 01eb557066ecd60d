"""Vectorised DSP building blocks shared by stages and the engine."""

from __future__ import annotations

import os
from pathlib import Path


def kernels_compiled() -> bool:
    """False when numba has nothing cached for these kernels yet: the first render compiles them.

    Numba keeps its cache in ``NUMBA_CACHE_DIR`` when that is set, else in the
    ``__pycache__`` beside the source when it can write there.  Elsewhere (a
    read-only install) we cannot tell, and say True rather than announce a
    compile that may not come.
    """
    here = Path(__file__).resolve().parent
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    if chosen:
        return next(Path(chosen).rglob("dynamics.*.nbi"), None) is not None
    cache = here / "__pycache__"
    if not os.access(cache if cache.exists() else here, os.W_OK):
        return True
    return next(cache.glob("dynamics.*.nbi"), None) is not None


def stream_format(channels: int, sample_rate: float) -> tuple[int, float]:
    """``(channels, sample_rate)`` of a streaming processor, checked: one channel or more, a positive rate."""
    if channels < 1:
        raise ValueError("channels must be at least 1")
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    return int(channels), float(sample_rate)
