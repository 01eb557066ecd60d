"""Checks of a session's audio that go beyond the schema (used by `mixhost validate`)."""

from __future__ import annotations

import numpy as np

from ..audio_io import FileSource, probe
from ..errors import AudioInputError
from .plan import Located
from .session import Session

SCAN_BLOCK = 65536


def check_audio(session: Session) -> list[str]:
    """Probe and scan every source; raise for problems, return notes for what is fine but worth saying."""
    notes = []
    rate = session.sample_rate
    for track in session.plan.tracks:
        source = track.settings.get("source")
        if source is None:
            continue
        at: Located = track.where.at("source")
        try:
            info = probe(session.plan.base_dir / source)
            _scan(FileSource(info, info.sample_rate))
        except AudioInputError as error:
            raise at.error(error.message, hint=error.hint, cls=AudioInputError) from None
        if info.channels == 1:
            notes.append(f"{track.address}: mono source, panned as a mono source ({track.pan_law} law)")
        if info.sample_rate != rate:
            notes.append(f"{track.address}: {info.sample_rate} Hz source, resampled to {rate} Hz (soxr, HQ)")
    return notes


def _scan(source: FileSource) -> None:
    block = np.zeros((source.channels, SCAN_BLOCK))
    try:
        while source.read(block):
            pass
    finally:
        source.close()
