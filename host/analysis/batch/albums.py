"""`batch tag`'s second half: album gains from the returned measurements, tags written in place.

Workers only measure (:class:`~host.analysis.batch.jobs.TagJob`); each measurement
comes back as plain data (:func:`measurement_data`: the figures and the
gating-block histogram, packed) and is journaled with it.  The planning
process feeds every result, as it arrives, to an :class:`AlbumTagger`; when
the last member of an album is in, the album is gated over the union of its
members' blocks (:func:`host.loudness.replaygain.album`, no file read again)
and its files are tagged in place (:func:`host.loudness.replaygain.write_tags`:
staged beside the file, audio bytes checked unchanged, renamed over it),
while the workers go on measuring the next albums.

Which files are written:

* every member of an album one of whose members was measured this run (a
  new or changed file, or one whose tags were written by nobody yet): the
  album gain may have moved, so the album is re-tagged as a whole;
* otherwise only the members whose tags are not what would be written (a
  tag editor or another tagger changed them); the others are left alone.

A member that fails (corrupt, empty, NaN, silent) is left out: its album is
tagged with the members that were measured, and the album's report names
what is missing.  After a write the file's new size and time are journaled,
so the next run skips it without reading it.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ...errors import MixhostError
from ...loudness import replaygain as rg
from ...tags import read_text_tags
from .inputs import fingerprint
from .jobs import DONE, FAILED, SKIPPED, UNCHANGED, Job, JobResult
from .journal import Journal

AlbumBy = Literal["folder", "tag"]
Event = dict[str, Any]


# -- a measurement as plain data (it travels from a worker and lives in the journal) ---------------
def _pack(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _unpack(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).copy()


def measurement_data(m: rg.TrackMeasurement) -> dict[str, Any]:
    """``m`` as JSON-ready data: its figures, and its gating histogram packed (little-endian, exact)."""
    return {
        "file": m.path, "integrated_lufs": m.integrated_lufs, "track_gain_db": m.gain_db,
        "sample_peak": m.sample_peak, "true_peak": m.true_peak, "duration_s": m.duration_s,
        "sample_rate": m.sample_rate, "channels": m.channels, "decoder": m.decoder,
        "gating": {"bins": _pack(m.gating_bins, "<i8"), "counts": _pack(m.gating_counts, "<i8"),
                   "energies": _pack(m.gating_energies, "<f8")},
    }


def measurement_of(data: Mapping[str, Any]) -> rg.TrackMeasurement:
    """The :class:`~host.loudness.replaygain.TrackMeasurement` of :func:`measurement_data`'s data
    (a silent track's loudness, journaled as null, is −inf again)."""
    loudness = data["integrated_lufs"]
    gating = data["gating"]
    return rg.TrackMeasurement(
        path=data["file"], integrated_lufs=-math.inf if loudness is None else float(loudness),
        sample_peak=float(data["sample_peak"]), true_peak=float(data["true_peak"]),
        duration_s=float(data["duration_s"]), sample_rate=float(data["sample_rate"]),
        channels=int(data["channels"]), decoder=data["decoder"],
        gating_bins=_unpack(gating["bins"], "<i8"), gating_counts=_unpack(gating["counts"], "<i8"),
        gating_energies=_unpack(gating["energies"], "<f8"))


def tags_match(path: Path, values: Mapping[str, str], remove: Sequence[str]) -> bool:
    """Whether ``path`` holds the tags ``values`` and none of ``remove`` (keys in any case)."""
    present = read_text_tags(path)
    return (all(present.get(key.upper()) == value for key, value in values.items())
            and not any(key.upper() in present for key in remove))


# -- the albums of a plan ---------------------------------------------------------------------------
def albums_of(jobs: Sequence[Job], by: AlbumBy | None) -> dict[str, list[str]]:
    """Album name -> the keys of its jobs; ``by=None`` (no album tags): every file alone, keyed by itself."""
    locations = {str(Path(getattr(job, "location", job.key))): job.key for job in jobs}
    if by is None:
        return {key: [key] for key in locations.values()}
    return {name: [locations[str(p)] for p in members]
            for name, members in rg.group_albums(list(locations), by=by).items()}


@dataclass
class AlbumReport:
    """What became of one album: its gain, its members, what was written."""

    name: str
    tracks: list[str]
    gain_db: float | None = None
    integrated_lufs: float | None = None
    peak: float | None = None
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # members that failed: the album is tagged without them

    def as_json(self) -> dict[str, Any]:
        return {"album": self.name, "tracks": len(self.tracks), "gain_db": self.gain_db,
                "integrated_lufs": self.integrated_lufs, "peak": self.peak, "written": len(self.written),
                "kept": len(self.kept), "missing": self.missing}


class AlbumTagger:
    """Takes each job's result as it arrives; tags an album once all its members are in."""

    def __init__(self, jobs: Sequence[Job], albums: Mapping[str, Sequence[str]], *, with_album: bool,
                 peak: rg.PeakKind = "sample") -> None:
        self.jobs = {job.key: job for job in jobs}
        self.albums = {name: list(keys) for name, keys in albums.items()}
        self.album_of = {key: name for name, keys in self.albums.items() for key in keys}
        self.with_album = with_album
        self.peak = peak
        self.results: dict[str, JobResult] = {}
        self.reports: list[AlbumReport] = []

    def take(self, result: JobResult, journal: Journal | None) -> list[Event]:
        """Keep ``result``; when it completes its album, tag the album.  Returns the events to emit."""
        self.results[result.key] = result
        name = self.album_of[result.key]
        if any(key not in self.results for key in self.albums[name]):
            return []
        report = self._tag(name, journal)
        self.reports.append(report)
        return [{"event": "album", **report.as_json()}]

    def summary(self) -> list[dict[str, Any]]:
        """Every tagged album's report, in the order they were tagged."""
        return [report.as_json() for report in self.reports]

    def _tag(self, name: str, journal: Journal | None) -> AlbumReport:
        keys = self.albums[name]
        report = AlbumReport(name, keys)
        members = {k: self.results[k] for k in keys if self.results[k].ok and self.results[k].data}
        report.missing = [k for k in keys if k not in members]
        measured = {k: measurement_of(r.data or {}) for k, r in members.items()}
        for key in [k for k, m in measured.items() if not math.isfinite(m.integrated_lufs)]:
            # silent: no gain to write; failed before any write, so it cannot renew its album
            self._fail(key, members.pop(key), rg.TaggingError(
                f"{key}: the track is silent (no block above −70 LUFS), so it has no gain",
                hint="leave silent files out of the tagging"), report, journal)
            del measured[key]
        whole = None
        if self.with_album and measured:
            whole = rg.album(measured.values())
            report.integrated_lufs = whole.integrated_lufs if math.isfinite(whole.integrated_lufs) else None
            report.gain_db = whole.gain_db if math.isfinite(whole.gain_db) else None
            report.peak = whole.sample_peak if self.peak == "sample" else whole.true_peak
        renewed = any(r.status == DONE for r in members.values())  # measured now: re-tag the whole album
        for key, result in members.items():
            self._tag_file(key, result, measured[key], whole, renewed, report, journal)
        return report

    def _tag_file(self, key: str, result: JobResult, track: rg.TrackMeasurement, whole: rg.AlbumGain | None,
                  renewed: bool, report: AlbumReport, journal: Journal | None) -> None:
        job = self.jobs[key]
        path = Path(getattr(job, "location", key))
        data = dict(result.data or {})
        try:
            values, remove = rg.tag_values(path, track, whole, peak=self.peak)
            if renewed or not tags_match(path, values, remove):
                rg.write_tags(path, track, whole, peak=self.peak)
                report.written.append(key)
                data["written"] = True
            else:
                report.kept.append(key)
                data["written"] = False
            data.update(album=report.name if whole else None, album_gain_db=report.gain_db,
                        tags=values, removed=list(remove))
            result.data = data
            result.stat = [list(fingerprint(location)) for location in job.inputs()]
        except (MixhostError, OSError) as error:
            self._fail(key, result, error, report, journal)
            return
        if journal is not None and data["written"]:
            # a measurement the journal had (skipped) stands: journaled as such, with the new file times
            journal.record(job, replace(result, status=UNCHANGED) if result.status == SKIPPED else result)

    def _fail(self, key: str, result: JobResult, error: Exception, report: AlbumReport,
              journal: Journal | None) -> None:
        """The file's tags cannot be written: its job fails (the next run tries it again)."""
        result.status, result.data = FAILED, None
        if isinstance(error, MixhostError):
            result.error = str(error)
        else:
            result.error = f"{key}: {getattr(error, 'strerror', None) or error}"
        report.missing.append(key)
        if journal is not None:
            journal.record(self.jobs[key], result)


def default_journal(locations: Sequence[str]) -> Path:
    """Where `batch tag` keeps its journal when not told: ``.mixhost-batch-tag.jsonl`` in the deepest
    folder holding every input; when that is the filesystem's root (inputs from unrelated places), a
    file in the user's state folder (``$XDG_STATE_HOME/mixhost``) named after the inputs' folders."""
    folders = sorted({os.path.dirname(os.path.abspath(location)) for location in locations})
    common = Path(os.path.commonpath(folders))
    if common.parent != common:
        return common / ".mixhost-batch-tag.jsonl"
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "mixhost"
    digest = hashlib.blake2b("\n".join(folders).encode(), digest_size=8).hexdigest()
    return state / f"batch-tag-{digest}.jsonl"
