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
