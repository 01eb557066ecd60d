"""Loudness targets: the named delivery presets (integrated loudness and true-peak ceiling).

Values are the platforms' published normalisation references and the
broadcast recommendations (EBU R128: −23 LUFS / −1 dBTP; ATSC A/85: −24 LKFS
/ −2 dBTP).  A custom target is written ``-14`` or ``-14/-1`` (LUFS / dBTP).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserInputError
from ..suggest import did_you_mean

DEFAULT_CEILING_DBTP = -1.0


@dataclass(frozen=True)
class LoudnessTarget:
    name: str
    integrated_lufs: float
    ceiling_dbtp: float

    def describe(self) -> str:
        return f"{self.name} ({self.integrated_lufs:g} LUFS, {self.ceiling_dbtp:g} dBTP)"


PRESETS: dict[str, LoudnessTarget] = {
    t.name: t
    for t in (
        LoudnessTarget("spotify", -14.0, -1.0),
        LoudnessTarget("apple-music", -16.0, -1.0),
        LoudnessTarget("youtube", -14.0, -1.0),
        LoudnessTarget("tidal", -14.0, -1.0),
        LoudnessTarget("amazon", -14.0, -2.0),
        LoudnessTarget("deezer", -15.0, -1.0),
        LoudnessTarget("ebu-r128", -23.0, -1.0),
        LoudnessTarget("atsc-a85", -24.0, -2.0),
        LoudnessTarget("podcast", -16.0, -1.0),
    )
}


def resolve_target(spec: str) -> LoudnessTarget:
    """A preset name, or a custom ``LUFS`` / ``LUFS/dBTP`` such as ``-14`` or ``-14/-1.5``."""
    text = spec.strip().lower()
    if text in PRESETS:
        return PRESETS[text]
    parts = text.split("/")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UserInputError(
            f"unknown loudness target {spec!r}",
            hint=f"{did_you_mean(text, PRESETS)} (or a custom target such as -14 or -14/-1)",
        ) from None
    if len(values) > 2 or not -70.0 < values[0] < 0.0:
        raise UserInputError(
            f"bad loudness target {spec!r}",
            hint="give the integrated loudness in LUFS (-70 to 0), optionally /ceiling in dBTP",
        )
    ceiling = values[1] if len(values) == 2 else DEFAULT_CEILING_DBTP
    if ceiling > 0.0:
        raise UserInputError(f"bad true-peak ceiling in {spec!r}", hint="a ceiling is <= 0 dBTP")
    return LoudnessTarget(f"custom {text}", values[0], ceiling)
