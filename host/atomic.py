"""Temp files beside their target, for writes that land by rename or not at all.

Every temp file or folder mixhost makes is named
``.<target>.mixhost-<host>-<pid>-<random><suffix>`` (suffix ``.partial`` or
``.tmp``), in the folder of the file it becomes.  A run killed outright
(``kill -9``, a power cut) cannot remove its own; the next run on the same
machine that writes into that folder removes the ones whose process is gone
(:func:`reap_stale`).  A process that is alive keeps its temp files, so two
runs writing into one folder never remove each other's work.  Another
machine's pids (a shared or network folder, another container) mean nothing
here: its temp files go only after a day without a write.

:class:`OutputSet` lands several outputs together: each is written whole to
its temp file first, then all are renamed into place in one go, with SIGINT
and SIGTERM held off for those few renames.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from .errors import Interrupted, OutputError

log = logging.getLogger(__name__)

TEMP_MARK = "mixhost"
# .<name>.mixhost-<host>-<pid>-<mkstemp's random part><suffix>
_OURS = re.compile(r"^\..+\." + TEMP_MARK
                   + r"-(?P<host>[A-Za-z0-9]+)-(?P<pid>[0-9]+)-[A-Za-z0-9_]+\.(?:partial|tmp)$")
# the naming before the pid was part of it: whose they are cannot be told, so only the old ones go
_LEGACY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.partial$")
# a temp file whose owner cannot be asked (another machine's, or an old-style name) is left over
# once nothing has written to it for this long
UNKNOWN_OWNER_STALE_S = 24 * 3600.0
HOST = "".join(c for c in socket.gethostname() if c.isascii() and c.isalnum())[:24] or "host"
_reaped: set[Path] = set()


def ensure_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) for an output; an OSError becomes an OutputError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the folder {folder}: {error.strerror}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_DEFAULT_MODE = 0o666 & ~_umask()


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.{TEMP_MARK}-{HOST}-{os.getpid()}-"


def _unwritable(folder: Path, error: OSError) -> OutputError:
    # a read-only or missing folder is the user's to fix, not a crash
    return OutputError(f"cannot write into the folder {folder}: {error.strerror or error}",
                       hint="check that it exists and is writable, or write somewhere else "
                            "(for a render: `mixhost render -o DIR`)")


def temp_beside(path: Path, suffix: str = ".partial") -> Path:
    """An empty temp file in ``path``'s folder with the mode the final file should have.

    mkstemp makes files private (0600); a mix or a session is for sharing, so
    the temp file takes the target's current mode, or the umask's default.
    The first temp file of a run in a folder reaps the stale ones there.
    """
    reap_stale(path.parent)
    try:
        fd, name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=suffix, dir=path.parent)
    except OSError as error:
        raise _unwritable(path.parent, error) from None
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else _DEFAULT_MODE
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return Path(name)


def temp_folder_beside(path: Path) -> Path:
    """An empty scratch folder in ``path``'s folder, named (and reaped) like :func:`temp_beside`'s files."""
    reap_stale(path.parent)
    try:
        return Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".partial", dir=path.parent))
    except OSError as error:
        raise _unwritable(path.parent, error) from None


# -- stale temp files of runs that were killed ------------------------------------------------------------
def _alive_since(pid: int) -> float | None:
    """The start time (epoch seconds) of process ``pid``: None when there is no such process;
    0.0 when it exists but its start time cannot be read (then it counts as old enough to own anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: it exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks since boot
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0


def is_stale(entry: Path) -> bool:
    """True for a temp file or folder of mixhost's own whose run is over.

    The pid in its name is gone, or now belongs to a process that started after
    the file was last written (a reused pid).  The file's owner created it after
    it started, so a live owner always started earlier; with a one-second margin
    for the clocks' resolution.  Another machine's, or one named before the pid
    was in the name, only after ``UNKNOWN_OWNER_STALE_S`` without a write.
    """
    match = _OURS.match(entry.name)
    try:
        modified = entry.lstat().st_mtime
    except OSError:
        return False
    if match is None or match["host"] != HOST:
        ours = match is not None or _LEGACY.match(entry.name) is not None
        return ours and time.time() - modified > UNKNOWN_OWNER_STALE_S
    started = _alive_since(int(match["pid"]))
    return started is None or started > modified + 1.0


def reap_stale(folder: Path) -> list[Path]:
    """Remove the stale temp files and folders of mixhost's own in ``folder`` (once per run per folder)."""
    key = folder.absolute()
    if key in _reaped:
        return []
    _reaped.add(key)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        path = Path(entry.path)
        if not entry.name.startswith(".") or not is_stale(path):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as error:
            log.warning("cannot remove the leftover %s of an earlier run: %s", path, error.strerror or error)
            continue
        removed.append(path)
    if removed:
        log.info("removed %d leftover temp file(s) of an earlier, killed run in %s", len(removed), folder)
    return removed


# -- several outputs, landed together ------------------------------------------------------------------
@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM off for the block; one that came meanwhile acts when it ends.

    Python runs signal handlers in the main thread between bytecodes, so a
    handler swapped in for the block is what holds them (blocking the signal
    in one thread would not: the kernel may hand it to another).  Elsewhere
    than the main thread handlers cannot be set, and the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    wanted = [signal.SIGINT, signal.SIGTERM]
    previous = {number: signal.signal(number, lambda number, frame: caught.append(number)) for number in wanted}
    try:
        yield
    finally:
        for number, handler in previous.items():  # None: a handler not set from Python, i.e. the default
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        if caught:
            signal.raise_signal(caught[0])


class OutputSet:
    """The outputs of one command, staged as temp files beside their targets and landed together.

    ``add(temp, target)`` stages a finished temp file; ``scratch(path)`` names a
    temp file or folder to remove at the end whatever happens; ``land()``
    renames every staged file into place.  Leaving the ``with`` block by an
    exception before ``land`` removes every staged file, so the old outputs
    stay as they were; an interrupt then becomes :class:`Interrupted`, which
    says so.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self._scratch: list[Path] = []
        self.landed = False

    def add(self, temp: Path, target: Path) -> None:
        self._staged.append((temp, target))

    def stage(self, target: Path) -> Path:
        """A new temp file beside ``target``, staged to land on it: write it, then ``land``."""
        temp = temp_beside(target)
        self.add(temp, target)
        return temp

    def write_text(self, target: Path, text: str) -> None:
        """Stage ``text`` for ``target``; an OSError (a full disk) becomes an OutputError naming it."""
        try:
            self.stage(target).write_text(text, encoding="utf-8")
        except OSError as error:
            raise OutputError(f"{target}: cannot write it ({error.strerror or error})") from None

    def scratch(self, path: Path) -> Path:
        self._scratch.append(path)
        return path

    def land(self) -> list[Path]:
        """Rename every staged file into place; SIGINT and SIGTERM wait until all are."""
        with signals_held():
            for done, (temp, target) in enumerate(self._staged):
                try:
                    os.replace(temp, target)
                except OSError as error:  # a rename in one folder fails only if that folder changed under us
                    written = ", ".join(str(t) for _, t in self._staged[:done]) or "none"
                    raise OutputError(f"cannot put {target} in place: {error.strerror or error}; "
                                      f"written before it: {written}") from None
            self.landed = True
        return [target for _, target in self._staged]

    def discard(self) -> None:
        for temp, _ in self._staged:
            temp.unlink(missing_ok=True)
        self._staged.clear()

    def _clean_scratch(self) -> None:
        for path in self._scratch:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self._scratch.clear()

    def __enter__(self) -> OutputSet:
        return self

    def abandon(self, error: BaseException) -> None:
        """``error`` stopped the command: remove the scratch files, and the staged ones unless they
        landed already.  An interrupt before they landed becomes :class:`Interrupted`, which says so."""
        self._clean_scratch()
        if self.landed:
            return
        self.discard()
        if isinstance(error, KeyboardInterrupt) and not isinstance(error, Interrupted):
            raise Interrupted("nothing was written; the previous files are unchanged") from error

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self._clean_scratch()
        else:
            self.abandon(exc)


class Writeback:
    """Asks the kernel to start writing a growing temp file to disk while it is still being written.

    libsndfile fsyncs a file as it closes it (seen with strace), and the
    rename after it wants the data on disk anyway.  Left to the end, that
    fsync waited ~50 ms for a 4-minute stereo mix on this machine; with the
    writeback started every WRITEBACK_FRAMES frames it waits ~2 ms.
    ``POSIX_FADV_DONTNEED`` starts the writeback without waiting for it, and
    lets the kernel drop the pages from its cache once they are written, so a
    long render does not fill the page cache either.  A no-op where the call
    does not exist (macOS, Windows).
    """

    WRITEBACK_FRAMES = 1 << 20

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY) if hasattr(os, "posix_fadvise") else None
        self._frames = 0

    def wrote(self, frames: int) -> None:
        """Count ``frames`` more frames written; past WRITEBACK_FRAMES, start their writeback."""
        self._frames += frames
        if self._fd is not None and self._frames >= self.WRITEBACK_FRAMES:
            self._frames = 0
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
