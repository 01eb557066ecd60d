"""The plugin scan cache: SQLite in the user's cache directory.

One row per plugin (a shell bundle gives several rows), keyed by bundle path
and plugin name, with the bundle's modification time.  A bundle whose mtime
is unchanged is not probed again.  A failed probe is stored as one row with
an empty name, status ``failed`` and the reason; the next scan skips it
unless asked to retry.

The directory is ``platformdirs.user_cache_dir("mixhost")``, or the
environment variable ``MIXHOST_CACHE_DIR`` when set (tests, CI).

A cache file SQLite cannot read (not a database, a malformed image: a disk
fault, a crash mid-write, another program's file) is only a cache: it is
moved aside to ``plugins.sqlite.corrupt`` with a warning naming both paths,
and an empty cache is built in its place (scans fill it again).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PluginError

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "MIXHOST_CACHE_DIR"
DB_NAME = "plugins.sqlite"
CORRUPT_SUFFIX = ".corrupt"
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
        #: True once this cache found its file unreadable and started an empty one
        self.recovered = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = self._open()
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def _open(self) -> sqlite3.Connection:
        """A connection with the schema in place; an unreadable file is set aside first."""
        try:
            return self._open_schema()
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError):  # locked, read-only, I/O: not the file's content
                raise self._unusable(error) from None
            self._set_aside(error)
            try:
                return self._open_schema()
            except sqlite3.Error as again:
                raise self._unusable(again) from None

    def _open_schema(self) -> sqlite3.Connection:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30)
        except (OSError, sqlite3.Error) as error:
            raise self._unusable(error) from None
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                connection.execute("DROP TABLE IF EXISTS plugins")
            connection.execute(_SCHEMA)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            # the header can be intact over a damaged body: one read of every row finds that too
            connection.execute("SELECT count(*), max(length(info)) FROM plugins").fetchone()
        except BaseException:
            connection.close()
            raise
        return connection

    def _unusable(self, error: BaseException) -> PluginError:
        return PluginError(f"cannot open the plugin cache {self.path}: {error}",
                           hint=f"set {CACHE_DIR_ENV} to a writable folder")

    def _set_aside(self, error: sqlite3.DatabaseError) -> None:
        """Move the unreadable cache file (and a journal of it) aside, keeping the last one for a look."""
        aside = self.path.with_name(self.path.name + CORRUPT_SUFFIX)
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            pass  # another process set it aside first
        except OSError as move_error:
            raise self._unusable(move_error) from None
        for suffix in ("-journal", "-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        self.recovered = True
        log.warning("the plugin cache %s was unreadable (%s): moved it to %s and started an empty one; "
                    "the next scan fills it again", self.path, error, aside)

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
