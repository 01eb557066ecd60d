"""Chain files: reusable lists of stages, referred to by name or path.

A name is looked up, in order, in the session's folder, its ``chains/``
subfolder, the folders in ``MIXHOST_CHAIN_PATH`` and the shipped chains: the
``chains/`` folder of a source checkout, or ``share/mixhost/chains`` under the
installation prefix of a wheel (where ``pyproject.toml`` installs them as data
files, since they live outside the ``host`` package).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..errors import SessionError
from ..suggest import did_you_mean
from . import schema_check, yaml_doc
from .schema import chain_schema

PACKAGE_CHAINS = Path(__file__).resolve().parents[2] / "chains"
INSTALLED_CHAINS = Path(sys.prefix) / "share" / "mixhost" / "chains"


def search_dirs(base_dir: Path) -> list[Path]:
    dirs = [base_dir, base_dir / "chains"]
    dirs += [Path(p) for p in os.environ.get("MIXHOST_CHAIN_PATH", "").split(os.pathsep) if p]
    dirs += [PACKAGE_CHAINS, INSTALLED_CHAINS]
    return dirs


def available(base_dir: Path) -> list[str]:
    names: set[str] = set()
    for folder in search_dirs(base_dir):
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def find(ref: str, base_dir: Path) -> Path | None:
    candidate = Path(ref)
    if candidate.suffix in (".yaml", ".yml"):
        path = candidate if candidate.is_absolute() else base_dir / candidate
        return path if path.is_file() else None
    for folder in search_dirs(base_dir):
        path = folder / f"{ref}.yaml"
        if path.is_file():
            return path
    return None


def load(ref: str, base_dir: Path) -> tuple[Path, Any]:
    """Resolve and load a chain file; returns (path, round-trip document)."""
    path = find(ref, base_dir)
    if path is None:
        raise SessionError(
            f"chain {ref!r} not found; {did_you_mean(ref, available(base_dir))}",
            hint="give a chain name from chains/ or a path to a .yaml chain file",
        )
    document = yaml_doc.load(path)
    schema_check.validate(document, chain_schema(), str(path))
    return path, document
