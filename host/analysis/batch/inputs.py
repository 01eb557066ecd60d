"""The inputs of a batch: files, folders (recursive) and globs, in one deterministic order.

Every argument becomes zero or more :class:`Source` entries, each an audio
file and the path it has relative to the folder or glob root it came from
(``--keep-tree`` writes the output there).  A folder contributes the audio
files below it (by extension), a glob its matches, a file itself.  The
result is sorted within each argument and de-duplicated across arguments
(the same file named twice is one job), so two runs over the same catalogue
plan the same jobs in the same order.

A URL (``s3://bucket/masters/*.flac``, ``gcs://…``, ``file://…``) is
expanded with fsspec when fsspec and the protocol's backend are installed;
its jobs read the file through fsspec (:func:`local_copy`).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ...errors import UserInputError

#: the extensions a folder is searched for (what libsndfile reads)
AUDIO_SUFFIXES = (".wav", ".wave", ".flac", ".aif", ".aiff", ".aifc", ".ogg", ".oga", ".opus",
                  ".mp3", ".w64", ".rf64", ".caf")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, order=True)
class Source:
    """One input file: where it is (a path, or a URL) and its path under the argument's root."""

    location: str
    relative: str

    @property
    def is_url(self) -> bool:
        return is_url(self.location)

    @property
    def name(self) -> str:
        return PurePosixPath(self.relative).name


def is_url(text: str) -> bool:
    """``proto://…``; a Windows drive (``C:\\``) is not a URL."""
    head, sep, _ = text.partition("://")
    return bool(sep) and len(head) > 1 and head.replace("+", "").replace("-", "").isalnum()


def expand(arguments: Sequence[str | Path], suffixes: Sequence[str] = AUDIO_SUFFIXES) -> list[Source]:
    """Every input file the arguments name, in order; :class:`UserInputError` for one naming nothing.

    ``suffixes`` are what a folder is searched for (a glob or a file is
    taken as named, so a corrupt ``.wav`` still becomes a job, and fails
    there with the single command's message).
    """
    seen: set[str] = set()
    sources: list[Source] = []
    for argument in arguments:
        text = str(argument)
        found = list(_expand_url(text, suffixes) if is_url(text) else _expand_path(text, suffixes))
        if not found:
            raise UserInputError(f"{text}: no audio files there",
                                 hint="name files, folders or globs such as 'masters/**/*.wav'")
        for source in sorted(found):
            key = source.location if source.is_url else os.path.realpath(source.location)
            if key not in seen:
                seen.add(key)
                sources.append(source)
    return sources


def _audio(name: str, suffixes: Sequence[str]) -> bool:
    return not PurePosixPath(name).name.startswith(".") and name.lower().endswith(tuple(suffixes))


def _expand_path(text: str, suffixes: Sequence[str]) -> Iterator[Source]:
    path = Path(text).expanduser()
    if any(c in text for c in _GLOB_CHARS):
        root = _glob_root(text)
        for match in glob.glob(str(path), recursive=True):
            if Path(match).is_dir():
                yield from _walk(Path(match), suffixes, root)
            elif not Path(match).name.startswith("."):
                yield Source(match, Path(os.path.relpath(match, root)).as_posix())
    elif path.is_dir():
        yield from _walk(path, suffixes, path)
    elif path.exists() or path.is_symlink():
        yield Source(str(path), path.name)
    else:
        raise UserInputError(f"{text}: no such file or folder", hint="check the path")


def _walk(folder: Path, suffixes: Sequence[str], root: Path) -> Iterator[Source]:
    for directory, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # temp folders of killed runs, .git
        for name in files:
            if _audio(name, suffixes):
                full = Path(directory) / name
                yield Source(str(full), full.relative_to(root).as_posix())


def _glob_root(pattern: str) -> Path:
    """The folder a glob's relative paths start from: its parts before the first wildcard."""
    parts = Path(pattern).expanduser().parts
    fixed = [p for p in _until_wild(parts)]
    return Path(*fixed) if fixed else Path(".")


def _until_wild(parts: Iterable[str]) -> Iterator[str]:
    for part in parts:
        if any(c in part for c in _GLOB_CHARS):
            return
        yield part


# -- URLs, through fsspec -------------------------------------------------------------------------
def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise UserInputError(f"{url}: reading URLs needs fsspec",
                             hint="pip install fsspec (and the protocol's backend, e.g. s3fs)") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as error:
        raise UserInputError(f"{url}: {error}", hint="install the fsspec backend for this protocol") from None
    return fs, path


def _expand_url(url: str, suffixes: Sequence[str]) -> Iterator[Source]:
    fs, path = _filesystem(url)
    protocol = url.split("://", 1)[0]
    if any(c in path for c in _GLOB_CHARS):
        root = "/".join(_until_wild(path.split("/")))
        matches = fs.glob(path)
    elif fs.isdir(path):
        root, matches = path, [p for p in fs.find(path) if _audio(p, suffixes)]
    elif fs.exists(path):
        root, matches = str(PurePosixPath(path).parent), [path]
    else:
        raise UserInputError(f"{url}: no such file or folder", hint="check the URL")
    for match in matches:
        relative = str(PurePosixPath(match).relative_to(root)) if root else match
        yield Source(fs.unstrip_protocol(match) if protocol != "file" else f"file://{match}", relative)


@contextlib.contextmanager
def local_copy(location: str) -> Iterator[Path]:
    """A local file for ``location``: the path itself, or a URL's file fetched into a temp folder."""
    if not is_url(location):
        yield Path(location)
        return
    fs, path = _filesystem(location)
    folder = Path(tempfile.mkdtemp(prefix="mixhost-batch-"))
    try:
        local = folder / PurePosixPath(path).name
        fs.get_file(path, str(local))
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fingerprint(location: str) -> tuple[int, int]:
    """(size, modification time in ns) of an input: the quick check of the journal.

    A URL's modification time is whatever its store reports (0 when none).
    """
    if not is_url(location):
        st = os.stat(location)
        return st.st_size, st.st_mtime_ns
    fs, path = _filesystem(location)
    info = fs.info(path)
    modified = info.get("mtime") or info.get("LastModified") or 0
    stamp = int(modified.timestamp() * 1e9) if hasattr(modified, "timestamp") else int(float(modified) * 1e9)
    return int(info.get("size") or 0), stamp


def content_digest(location: str, chunk: int = 1 << 20) -> str:
    """BLAKE2b of an input's bytes, streamed (what the journal compares when the quick check differs)."""
    digest = hashlib.blake2b(digest_size=20)
    if is_url(location):
        fs, path = _filesystem(location)
        with fs.open(path, "rb") as handle:
            for block in iter(lambda: handle.read(chunk), b""):
                digest.update(block)
    else:
        with open(location, "rb") as handle:
            for block in iter(lambda: handle.read(chunk), b""):
                digest.update(block)
    return digest.hexdigest()
