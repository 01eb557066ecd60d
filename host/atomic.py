"""Temp files beside their target, for writes that land by rename or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import OutputError


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


def temp_beside(path: Path, suffix: str = ".partial") -> Path:
    """An empty temp file in ``path``'s folder with the mode the final file should have.

    mkstemp makes files private (0600); a mix or a session is for sharing, so
    the temp file takes the target's current mode, or the umask's default.
    """
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as error:  # a read-only or missing folder is the user's to fix, not a crash
        raise OutputError(f"cannot write into the folder {path.parent}: {error.strerror or error}",
                          hint="check that it exists and is writable, or write somewhere else "
                               "(for a render: `mixhost render -o DIR`)") from None
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else _DEFAULT_MODE
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return Path(name)


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
