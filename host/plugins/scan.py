"""Finding plugins: standard locations, the scan itself, lookup by name.

Locations searched, in order:

* Linux: ``~/.vst3``, ``/usr/lib/vst3``, ``/usr/local/lib/vst3``;
* macOS: ``~/Library/Audio/Plug-Ins/{VST3,Components}`` and
  ``/Library/Audio/Plug-Ins/{VST3,Components}``;
* Windows: ``%CommonProgramFiles%\\VST3`` (and the x86 one);
* every directory in ``MIXHOST_PLUGIN_PATH`` (``os.pathsep``-separated);
* directories given to :func:`scan`.

``MIXHOST_STANDARD_PLUGIN_DIRS``, when set, replaces the OS's standard
locations (``os.pathsep``-separated; empty means none), so tests and CI see
only the plugins they name, whatever else the machine has installed.

Each bundle found is probed in its own process (:mod:`host.plugins.probe`),
several at a time, unless the cache already holds it at the same mtime.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PluginError
from ..suggest import closest
from .buses import BusLayout
from .cache import Entry, PluginCache, bundle_mtime
from .loader import plugin_format
from .probe import DEFAULT_TIMEOUT_S, ProbeResult, probe

log = logging.getLogger(__name__)

PLUGIN_PATH_ENV = "MIXHOST_PLUGIN_PATH"
STANDARD_DIRS_ENV = "MIXHOST_STANDARD_PLUGIN_DIRS"


def standard_dirs() -> list[Path]:
    """The directories plugins are installed in on this OS (or ``MIXHOST_STANDARD_PLUGIN_DIRS``)."""
    if STANDARD_DIRS_ENV in os.environ:
        return [Path(p) for p in os.environ[STANDARD_DIRS_ENV].split(os.pathsep) if p]
    home = Path.home()
    if sys.platform == "darwin":
        return [
            home / "Library/Audio/Plug-Ins/VST3",
            home / "Library/Audio/Plug-Ins/Components",
            Path("/Library/Audio/Plug-Ins/VST3"),
            Path("/Library/Audio/Plug-Ins/Components"),
        ]
    if sys.platform == "win32":
        dirs = []
        for var in ("CommonProgramFiles", "CommonProgramFiles(x86)"):
            base = os.environ.get(var)
            if base:
                dirs.append(Path(base) / "VST3")
        return dirs
    return [home / ".vst3", Path("/usr/lib/vst3"), Path("/usr/local/lib/vst3")]


def search_dirs(extra: Iterable[Path | str] = ()) -> list[Path]:
    """Standard locations, then ``MIXHOST_PLUGIN_PATH``, then ``extra``; no duplicates."""
    env = [Path(p) for p in os.environ.get(PLUGIN_PATH_ENV, "").split(os.pathsep) if p]
    out: list[Path] = []
    for directory in [*standard_dirs(), *env, *(Path(p) for p in extra)]:
        resolved = directory.expanduser()
        if resolved not in out:
            out.append(resolved)
    return out


def find_bundles(directories: Iterable[Path]) -> list[Path]:
    """Every plugin bundle under ``directories`` (recursing, but not into bundles)."""
    found: list[Path] = []
    for directory in directories:
        if not directory.is_dir():
            continue
        if plugin_format(directory) is not None:
            found.append(directory.resolve())
            continue
        visited: set[str] = set()
        for root, dirs, files in os.walk(directory, followlinks=True):
            here = Path(root)
            real = os.path.realpath(root)
            if real in visited:  # a symlink cycle: do not walk the same folder twice
                dirs[:] = []
                continue
            visited.add(real)
            for name in sorted(dirs):
                if plugin_format(Path(name)) is not None:
                    found.append((here / name).resolve())
            dirs[:] = sorted(d for d in dirs if plugin_format(Path(d)) is None)
            # a VST3 on Windows may also be a single file
            found.extend((here / f).resolve() for f in sorted(files) if plugin_format(Path(f)) is not None)
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


@dataclass
class ScanReport:
    """What a scan did: probed now, reused from the cache, failed (now or before)."""

    probed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped_failed: dict[str, str] = field(default_factory=dict)


def scan(
    directories: Sequence[Path | str] = (),
    *,
    retry_failed: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    cache: PluginCache | None = None,
    jobs: int | None = None,
) -> ScanReport:
    """Scan the standard locations plus ``directories`` and update the cache."""
    cache = cache or PluginCache()
    bundles = find_bundles(search_dirs(directories))
    known: dict[str, list[Entry]] = {}
    for entry in cache.entries():
        known.setdefault(entry.path, []).append(entry)
    report = ScanReport()
    to_probe: list[tuple[Path, float]] = []
    for bundle in bundles:
        key = str(bundle)
        try:
            mtime = bundle_mtime(bundle)
        except OSError as error:  # a broken link or a bundle removed mid-scan fails alone
            _record(cache, report, bundle, 0.0, ProbeResult(key, False, reason=_unreadable(error)))
            continue
        rows = known.get(key, [])
        if rows and all(row.mtime == mtime for row in rows):
            if all(row.ok for row in rows):
                report.cached.append(key)
                continue
            if not retry_failed:
                report.skipped_failed[key] = rows[0].reason
                continue
        to_probe.append((bundle, mtime))
    vanished = [path for path in known if not Path(path).exists()]
    if vanished:
        cache.forget(vanished)
    workers = max(1, min(jobs or os.cpu_count() or 2, len(to_probe) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda item: probe(item[0], timeout), to_probe))
    for (bundle, mtime), result in zip(to_probe, results, strict=True):
        _record(cache, report, bundle, mtime, result)
    return report


def _unreadable(error: OSError) -> str:
    return f"cannot read the bundle ({error.strerror or error}): a broken link, or removed while scanning?"


def _record(cache: PluginCache, report: ScanReport, bundle: Path, mtime: float, result: ProbeResult) -> None:
    key = str(bundle)
    if result.ok:
        cache.store(key, mtime, result.plugins)
        report.probed.append(key)
        log.info("scanned %s: %s", key, ", ".join(p["name"] for p in result.plugins))
    else:
        cache.store_failure(key, mtime, result.reason)
        report.failed[key] = result.reason
        log.info("plugin %s failed its probe: %s", key, result.reason)


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _names_of(entry: Entry) -> tuple[str, str]:
    return entry.name, Path(entry.path).stem


def find_plugin(name: str, *, cache: PluginCache | None = None, scan_if_empty: bool = True) -> Entry:
    """The cached plugin called ``name`` (its own name or its bundle's, any case/spacing).

    Scans on demand when the cache holds no plugin at all; raises
    :class:`PluginError` with a did-you-mean from the cache otherwise.
    """
    cache = cache or PluginCache()
    entries = [e for e in cache.entries() if e.ok]
    if not entries and scan_if_empty:
        scan(cache=cache)
        entries = [e for e in cache.entries() if e.ok]
    wanted = _key(name)
    for entry in entries:
        if any(_key(candidate) == wanted for candidate in _names_of(entry)):
            return entry
    if not entries:
        raise PluginError(
            f"no plugin named {name!r}: the plugin cache is empty",
            hint=f"install plugins in a standard location or list their folders in {PLUGIN_PATH_ENV}, "
            "then run `mixhost plugins scan`",
        )
    names = sorted({e.name for e in entries})
    match = closest(name, names) or closest(name, [Path(e.path).stem for e in entries])
    suggestion = f'did you mean "{match}"?' if match else "known plugins: " + ", ".join(names[:12])
    raise PluginError(
        f"no plugin named {name!r}; {suggestion}",
        hint="`mixhost plugins list` shows the scanned plugins; `mixhost plugins scan DIR` adds a folder",
    )


def scanned_entry(path: Path, plugin_name: str | None = None, *, cache: PluginCache | None = None) -> Entry | None:
    """The cache row of the plugin at ``path`` (``plugin_name`` in a shell bundle), probing it first
    when the cache does not hold the bundle as it is now.

    A ``path:`` entry in a session may name a bundle no scan has seen; probing it here (in a
    child process, like a scan) records it, so its bus layout is known before it is loaded.
    Returns None when the bundle fails its probe (loading it will then say why).
    """
    cache = cache or PluginCache()
    bundle = path.resolve()
    key = str(bundle)
    try:
        mtime = bundle_mtime(bundle)
    except OSError:
        return None
    rows = [e for e in cache.entries_for(key) if e.mtime == mtime]
    if not rows:
        _record(cache, ScanReport(), bundle, mtime, probe(bundle))
        rows = [e for e in cache.entries_for(key) if e.mtime == mtime]
    ok = [e for e in rows if e.ok]
    named = [e for e in ok if plugin_name is None or e.name == plugin_name]
    return named[0] if len(named) == 1 or (named and plugin_name) else None


def bus_layout(path: Path, plugin_name: str | None = None, *, cache: PluginCache | None = None) -> BusLayout | None:
    """The audio buses of the plugin at ``path`` as its probe read them; None when unknown."""
    entry = scanned_entry(path, plugin_name, cache=cache)
    return BusLayout.from_json(entry.info.get("buses")) if entry is not None else None
