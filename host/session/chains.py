"""Chain files: reusable lists of stages, referred to by name or path.

A name is looked up, in order, in the session's folder, its ``chains/``
subfolder, the folders in ``MIXHOST_CHAIN_PATH`` and the shipped chains: the
``chains/`` folder of a source checkout, or ``share/mixhost/chains`` under the
installation prefix of a wheel (where ``pyproject.toml`` installs them as data
files, since they live outside the ``host`` package).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from ..errors import SessionError
from ..suggest import did_you_mean
from . import schema_check, yaml_doc
from .lookup import NamedFiles, is_path
from .schema import chain_schema

PACKAGE_CHAINS = Path(__file__).resolve().parents[2] / "chains"
INSTALLED_CHAINS = Path(sys.prefix) / "share" / "mixhost" / "chains"


CHAIN_FILES = NamedFiles("chains", "MIXHOST_CHAIN_PATH", (PACKAGE_CHAINS, INSTALLED_CHAINS))


def search_dirs(base_dir: Path) -> list[Path]:
    """The folders a chain name is looked up in, in order."""
    return CHAIN_FILES.search_dirs(base_dir)


# a chain file's one required top-level key (the session files beside it have none)
_CHAIN_KEY = re.compile(r"^chain\s*:", re.MULTILINE)


def available(base_dir: Path) -> list[str]:
    """The names of the chain files that ``base_dir`` can refer to (for did-you-mean)."""
    return CHAIN_FILES.names(base_dir, _is_chain_file)


def _is_chain_file(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return _CHAIN_KEY.search(handle.read(65536)) is not None
    except OSError:
        return False


def find(ref: str, base_dir: Path) -> Path | None:
    """The chain file ``ref`` names, or None."""
    return CHAIN_FILES.find(ref, base_dir)


def resolve(ref: str, base_dir: Path) -> Path:
    """The chain file ``ref`` names; a SessionError saying where names are looked up if none."""
    path = find(ref, base_dir)
    if path is not None:
        return path
    if is_path(ref):
        raise SessionError(f"chain file {ref!r} not found (relative to {base_dir})",
                           hint="check the path, or give a chain name")
    folders = ", ".join(str(folder) for folder in search_dirs(base_dir) if folder.is_dir())
    raise SessionError(
        f"no chain named {ref!r}; {did_you_mean(ref, available(base_dir))}",
        hint=f"chain names are looked up in {folders or 'no existing folder'} "
             "(and the folders in MIXHOST_CHAIN_PATH); or give a path to a .yaml chain file",
    )


def load(ref: str, base_dir: Path) -> tuple[Path, Any]:
    """Resolve and load a chain file; returns (path, round-trip document)."""
    path = resolve(ref, base_dir)
    document = yaml_doc.load(path)
    schema_check.validate(document, chain_schema(), str(path))
    return path, document
