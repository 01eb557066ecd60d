"""MIDI map files: reusable controller mappings, referred to by name or path.

Map files are looked up as chain files are (:mod:`host.session.lookup`): a
name in the session's folder, its ``controllers/`` subfolder, the folders in
``MIXHOST_CONTROLLER_PATH`` and the shipped maps (``controllers/`` of a
source checkout, or ``share/mixhost/controllers`` under the installation
prefix); a relative path also from where mixhost runs.  A map file is
validated against ``mixhost schema --controller``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ...errors import SessionError
from ...session import schema_check, yaml_doc
from ...session.lookup import NamedFiles, is_path
from ...session.schema import controller_schema
from ...suggest import did_you_mean

PACKAGE_MAPS = Path(__file__).resolve().parents[3] / "controllers"
INSTALLED_MAPS = Path(sys.prefix) / "share" / "mixhost" / "controllers"


@dataclass
class MapDocument:
    """A loaded map: its round-trip document, where it came from, and its key path in that file."""

    file: str
    document: Any
    key_path: tuple[str | int, ...] = ()

    @property
    def node(self) -> Any:
        node = self.document
        for key in self.key_path:
            node = node[key]
        return node


MAP_FILES = NamedFiles("controllers", "MIXHOST_CONTROLLER_PATH", (PACKAGE_MAPS, INSTALLED_MAPS))


def search_dirs(base_dir: Path) -> list[Path]:
    """The folders a map name is looked up in, in order."""
    return MAP_FILES.search_dirs(base_dir)


def available(base_dir: Path) -> list[str]:
    """The names of the map files that ``base_dir`` can refer to (for did-you-mean)."""
    return MAP_FILES.names(base_dir)


def find(ref: str, base_dir: Path) -> Path | None:
    """The map file ``ref`` names, or None."""
    found = MAP_FILES.find(ref, base_dir)
    candidate = Path(ref)
    if found is None and is_path(ref) and not candidate.is_absolute() and candidate.is_file():
        return candidate    # a path given on the command line, relative to where mixhost runs
    return found


def load(ref: str, base_dir: Path) -> MapDocument:
    """Resolve and load a map file (schema-checked)."""
    path = find(ref, base_dir)
    if path is None:
        raise SessionError(f"MIDI map {ref!r} not found; {did_you_mean(ref, available(base_dir))}",
                           hint="give a map name from controllers/ or a path to a .yaml map file")
    document = yaml_doc.load(path)
    schema_check.validate(document, controller_schema(), str(path))
    return MapDocument(str(path), document)


def append_mapping(document: Any, entry: dict[str, Any], *, in_session: bool) -> None:
    """Append ``entry`` to the ``mappings:`` of a map document, or of a session's ``controllers:``.

    The keys are made when missing; the entry is written on one line (flow
    style), as the map files are written by hand.
    """
    holder = document
    if in_session:
        if document.get("controllers") is None:
            document["controllers"] = CommentedMap()
        holder = document["controllers"]
    if holder.get("mappings") is None:
        holder["mappings"] = CommentedSeq()
    item = CommentedMap(entry)
    item.fa.set_flow_style()
    holder["mappings"].append(item)


def collect(session_document: Any, session_file: str, base_dir: Path, extra: list[str]) -> list[MapDocument]:
    """The session's ``controllers:`` (and the map files it includes), then each ``--midi-map``."""
    found: list[MapDocument] = []
    seen: set[str] = set()

    def add(map_doc: MapDocument) -> None:
        found.append(map_doc)
        for index, ref in enumerate(map_doc.node.get("maps", []) or []):
            try:
                included = load(str(ref), base_dir)
            except SessionError as error:
                if error.line is None:   # not found: point at the `maps:` entry
                    line, column = yaml_doc.locate(map_doc.document, (*map_doc.key_path, "maps", index))
                    raise SessionError(error.message, file=map_doc.file, line=line, column=column,
                                       hint=error.hint) from None
                raise
            if included.file not in seen:
                seen.add(included.file)
                add(included)

    if hasattr(session_document, "get") and session_document.get("controllers") is not None:
        add(MapDocument(session_file, session_document, ("controllers",)))
    for ref in extra:
        loaded = load(ref, base_dir)
        if loaded.file not in seen:
            seen.add(loaded.file)
            add(loaded)
    return found
