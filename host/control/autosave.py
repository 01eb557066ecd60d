"""Autosave: a mix made by hand is never lost.

While values change by hand (any source but the engine's own), the session
document (which every change updates) is written beside the session as
``<name>.autosave.yaml`` at most every ``INTERVAL_S``, atomically (a temporary
file, then a rename), so a kill at any moment leaves the last complete one.
The next start finds an autosave newer than the session: ``--recover`` takes
its values (:func:`recover`), otherwise a notice says it is there.
A ``--save`` writes the session itself, comments kept, and drops the autosave.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from ..registry import Change
from ..session import ENGINE_SOURCES, Session, yaml_doc

log = logging.getLogger(__name__)

INTERVAL_S = 10.0


def autosave_path(session_path: Path) -> Path:
    return session_path.with_name(f"{session_path.stem}.autosave{session_path.suffix or '.yaml'}")


def newer_autosave(session_path: Path) -> Path | None:
    """The autosave beside a session if it is newer than the session file."""
    path = autosave_path(session_path)
    try:
        if path.stat().st_mtime > session_path.stat().st_mtime:
            return path
    except OSError:
        return None
    return None


class Autosave:
    """Writes the session document beside the session while values change (control thread)."""

    def __init__(self, session: Session, interval_s: float = INTERVAL_S) -> None:
        self.session = session
        self.interval_s = interval_s
        self.path = autosave_path(session.path)
        self.writes = 0
        self._dirty = threading.Event()
        self._last = -float("inf")
        self._remove = session.registry.observe(self._changed)

    def _changed(self, change: Change) -> None:
        if change.source not in ENGINE_SOURCES and not change.address.startswith("transport/"):
            self._dirty.set()

    def poll(self, now: float | None = None) -> bool:
        """Write if something changed and the interval has passed; True when written."""
        now = time.monotonic() if now is None else now
        if not self._dirty.is_set() or now - self._last < self.interval_s:
            return False
        return self.write(now)

    def write(self, now: float | None = None) -> bool:
        self._dirty.clear()
        try:
            yaml_doc.save(self.session.document, self.path)
        except RuntimeError:   # the document changed under the dump (a set from another thread): next time
            self._dirty.set()
            return False
        except OSError as error:
            log.warning("autosave to %s failed: %s", self.path, error)
            return False
        self._last = time.monotonic() if now is None else now
        self.writes += 1
        return True

    def discard(self) -> None:
        """The session itself was saved: the autosave is stale."""
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        self._remove()


def recover(session: Session, path: Path, source: str = "recover") -> list[str]:
    """Take the values (and snapshots) of an autosave into a loaded session; returns what changed.

    Values are set through the registry, so the session document follows and a
    later save writes them.  Entries the session no longer has are skipped.
    """
    saved = yaml_doc.load(path)
    registry = session.registry
    changed = []
    items: list[tuple[str, Any]] = []
    for param in registry:
        if param.doc_path is None or param.spec.read_only:
            continue
        found, value = _lookup(saved, param.doc_path)
        if not found:
            continue
        try:
            stored = param.parse(value)
        except Exception:  # noqa: BLE001 - a hand-edited autosave: skip what no longer parses
            continue
        if stored != float(registry.values[param.slot]):
            items.append((param.address, value))
            changed.append(param.address)
    registry.set_many(items, source)
    if "snapshots" in saved:
        session.document["snapshots"] = saved["snapshots"]
    return changed


def _lookup(document: Any, path: tuple[str | int, ...]) -> tuple[bool, Any]:
    node = document
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, node
