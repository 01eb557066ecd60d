"""Files a session refers to by name or by path: chain files and MIDI map files.

Both kinds are looked up by one rule, so a user learns it once: a reference
ending in ``.yaml`` or ``.yml`` is a path (relative to the session's folder);
any other is a name, looked up in order in the session's folder, its
subfolder for the kind, the folders of the kind's search-path variable and
the shipped folders.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def is_path(ref: str) -> bool:
    """True when ``ref`` is a path to a file rather than a name to look up."""
    return Path(ref).suffix in (".yaml", ".yml")


def _every_file(path: Path) -> bool:
    return True


@dataclass(frozen=True)
class NamedFiles:
    """Where the files of one kind are looked up."""

    subfolder: str  # beside the session: "chains", "controllers"
    path_variable: str  # the user's own folders, os.pathsep-separated
    shipped: tuple[Path, ...]  # a source checkout's folder, then the installed one

    def search_dirs(self, base_dir: Path) -> list[Path]:
        """The folders a name is looked up in, the first match winning."""
        dirs = [base_dir, base_dir / self.subfolder]
        dirs += [Path(p) for p in os.environ.get(self.path_variable, "").split(os.pathsep) if p]
        return [*dirs, *self.shipped]

    def names(self, base_dir: Path, keep: Callable[[Path], bool] = _every_file) -> list[str]:
        """The names ``base_dir`` can refer to (for did-you-mean); ``keep`` skips other YAML."""
        found: set[str] = set()
        for folder in self.search_dirs(base_dir):
            if folder.is_dir():
                found.update(p.stem for p in folder.glob("*.yaml") if keep(p))
        return sorted(found)

    def find(self, ref: str, base_dir: Path) -> Path | None:
        """The file ``ref`` refers to, or None when there is none."""
        if is_path(ref):
            candidate = Path(ref)
            path = candidate if candidate.is_absolute() else base_dir / candidate
            return path if path.is_file() else None
        for folder in self.search_dirs(base_dir):
            path = folder / f"{ref}.yaml"
            if path.is_file():
                return path
        return None
