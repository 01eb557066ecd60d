"""The plugin scan cache: SQLite in the user's cache directory.

One row per plugin (a shell bundle gives several rows), keyed by bundle path
and plugin name, with the bundle's modification time.  A bundle whose mtime
is unchanged is not probed again.  A failed probe is stored as one row with
an empty name, status ``failed`` and the reason; the next scan skips it
unless asked to retry.

The directory is ``platformdirs.user_cache_dir("mixhost")``, or the
environment variable ``MIXHOST_CACHE_DIR`` when set (tests, CI).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PluginError

CACHE_DIR_ENV = "MIXHOST_CACHE_DIR"
DB_NAME = "plugins.sqlite"
SCHEMA_VERSION = 2  # 2: rows carry the plugin's audio buses ("buses")

STATUS_OK = "ok"
STATUS_FAILED = "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plugins (
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    mtime REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    info TEXT NOT NULL DEFAULT '{}',
    scanned_at REAL NOT NULL,
    PRIMARY KEY (path, name)
);
"""


def cache_dir() -> Path:
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("mixhost"))


@dataclass(frozen=True)
class Entry:
    """One cached plugin (or one failed bundle, with ``name == ""``)."""

    path: str
    name: str
    mtime: float
    status: str
    reason: str
    info: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


def bundle_mtime(path: Path) -> float:
    """The newest mtime inside a bundle: rebuilding a plugin touches its binary, not the folder."""
    newest = path.stat().st_mtime
    if path.is_dir():
        for root, _dirs, files in os.walk(path):
            for name in files:
                try:
                    newest = max(newest, (Path(root) / name).stat().st_mtime)
                except OSError:
                    continue
    return newest


class PluginCache:
    """The SQLite scan cache (opened per use; scans are rare and short)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or cache_dir()
        self.path = self.directory / DB_NAME

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30)
        except (OSError, sqlite3.Error) as error:
            raise PluginError(
                f"cannot open the plugin cache {self.path}: {error}",
                hint=f"set {CACHE_DIR_ENV} to a writable folder",
            ) from None
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                connection.execute("DROP TABLE IF EXISTS plugins")
            connection.execute(_SCHEMA)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            with connection:
                yield connection
        finally:
            connection.close()

    def entries(self) -> list[Entry]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT path, name, mtime, status, reason, info FROM plugins ORDER BY name, path"
            ).fetchall()
        return [Entry(p, n, m, s, r, json.loads(i)) for p, n, m, s, r, i in rows]

    def entries_for(self, path: str) -> list[Entry]:
        return [e for e in self.entries() if e.path == path]

    def store(self, path: str, mtime: float, plugins: Iterable[dict[str, Any]]) -> None:
        """Replace a bundle's rows with successfully probed plugins."""
        now = time.time()
        with self._connect() as db:
            db.execute("DELETE FROM plugins WHERE path = ?", (path,))
            db.executemany(
                "INSERT INTO plugins VALUES (?, ?, ?, ?, '', ?, ?)",
                [(path, str(p["name"]), mtime, STATUS_OK, json.dumps(p), now) for p in plugins],
            )

    def store_failure(self, path: str, mtime: float, reason: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM plugins WHERE path = ?", (path,))
            db.execute(
                "INSERT INTO plugins VALUES (?, '', ?, ?, ?, '{}', ?)",
                (path, mtime, STATUS_FAILED, reason, time.time()),
            )

    def forget(self, paths: Iterable[str]) -> None:
        with self._connect() as db:
            db.executemany("DELETE FROM plugins WHERE path = ?", [(p,) for p in paths])

    def clear(self) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM plugins")
