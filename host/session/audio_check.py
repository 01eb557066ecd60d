"""Checks of a session's audio that go beyond the schema (used by `mixhost validate`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio_io import AudioInfo, FileSource, probe
from ..errors import AudioInputError
from .plan import Located
from .session import Session

SCAN_BLOCK = 65536
# a source that ends before this share of the session is worth a note (a 1 s stem in a 33 s song:
# often the wrong file, or an export cut short)
SHORT_SOURCE_SHARE = 0.25


@dataclass(frozen=True)
class Note:
    """Something fine but worth saying (``note``), or likely wrong but playable (``warning``)."""

    level: str   # "note" | "warning"
    text: str

    def __str__(self) -> str:
        return f"{self.level}: {self.text}"


def check_audio(session: Session) -> list[Note]:
    """Probe and scan every source; raise for problems, return notes and warnings for the rest."""
    notes: list[Note] = []
    rate = session.sample_rate
    lengths: dict[str, int] = {}   # track address -> its source's length at the session rate
    for track in session.plan.tracks:
        source = track.settings.get("source")
        if source is None:
            continue
        at: Located = track.where.at("source")
        try:
            info = probe(session.plan.base_dir / source)
            read = _scan(FileSource(info, info.sample_rate))
        except AudioInputError as error:
            raise at.error(error.message, hint=error.hint, cls=AudioInputError) from None
        truncation = info.truncation or _ends_early(info, read)
        if truncation:
            notes.append(Note("warning", f"{at.location}: {track.address}: {truncation}"))
        if info.channels == 1:
            notes.append(Note("note", f"{track.address}: mono source, panned as a mono source ({track.pan_law} law)"))
        if info.sample_rate != rate:
            notes.append(Note("note", f"{track.address}: {info.sample_rate} Hz source, resampled to {rate} Hz "
                                      "(soxr, HQ)"))
        lengths[track.address] = int(np.ceil(min(read, info.frames) * rate / info.sample_rate))
    notes += _short_sources(session, lengths)
    return notes


def _ends_early(info: AudioInfo, read: int) -> str | None:
    """A file whose audio ends before its header's length (a cut FLAC keeps its frame count)."""
    if read >= info.frames:
        return None
    return (f"{info.path.name} is truncated: its header says {info.duration_s:.2f} s, the audio in it ends at "
            f"{read / info.sample_rate:.2f} s (it plays that long, then silence)")


def _short_sources(session: Session, lengths: dict[str, int]) -> list[Note]:
    rate = session.sample_rate
    longest = dict(lengths)
    longest.update({address: instrument.frames or 0 for address, instrument in session.instruments.items()})
    if not longest:
        return []
    leader = max(longest, key=lambda address: longest[address])
    total = longest[leader]
    return [
        Note("note", f"{address}: its source lasts {frames / rate:.2f} s of the session's {total / rate:.2f} s "
                     f"(set by {leader}); the track is silent after it")
        for address, frames in lengths.items()
        if frames < SHORT_SOURCE_SHARE * total
    ]


def _scan(source: FileSource) -> int:
    """Read the whole source (NaN/Inf and read errors raise); returns the frames it held."""
    block = np.zeros((source.channels, SCAN_BLOCK))
    total = 0
    try:
        while got := source.read(block):
            total += got
    finally:
        source.close()
    return total
