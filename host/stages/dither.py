"""Dither stage: TPDF dither and requantisation to a bit depth, optional noise shaping.

The render writer applies :func:`host.dsp.dither.dither` on its own when it
writes integer PCM below 32 bits, so this stage is only needed for noise
shaping or a depth of your own.  Put it last in the master chain: when it is
last (not bypassed), at the file's bit depth, with the master fader at 0 dB
and no resampling after it, the writer does not dither a second time.
Option ``seed`` makes the noise reproducible.  At 24 bits the added noise is
below -130 dBFS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..dsp.dither import SHAPING_FIR, SUPPORTED_BITS, dither
from ..errors import SessionError
from ..registry import ParamSpec, boolean
from .native import NativeStage


class Dither(NativeStage):
    type_name = "dither"
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("bits", 16.0, 8.0, 24.0, unit="bit", smooth=False,
                  doc="output bit depth: 8, 12, 16, 20 or 24 (others round down to one of these)"),
        boolean("shaping", False, doc="F-weighted noise shaping"),
    )
    OPTIONS: ClassVar[dict[str, Any]] = {"seed": {"type": "integer", "minimum": 0}}

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        seed = self.options.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise SessionError(f"stage {stage_id!r}: seed must be a non-negative integer, got {seed!r}")
        self._seed = seed

    def _setup(self) -> None:
        self._rng = np.random.default_rng(self._seed)
        self._errors = np.zeros((self.channels, len(SHAPING_FIR)))

    def _clear(self) -> None:
        self._errors[:] = 0.0

    @property
    def output_bits(self) -> int:
        """The bit depth the stage quantises to (``bits`` rounded down to a supported depth)."""
        wanted = self.value("bits")
        return max(b for b in SUPPORTED_BITS if b <= wanted)

    def _process(self, block: np.ndarray) -> np.ndarray:
        return dither(block, self.output_bits, self._rng, self.switch("shaping"), self._errors[: block.shape[0]])
