"""Relative paths of a session document, rewritten for a save into another folder.

Relative paths in a session resolve against the session file's folder.  A
copy saved elsewhere must still reach the same stems, chain files, plugins,
presets, MIDI files, user stages and references, so each relative path is
rewritten relative to the new folder while the copy is written, then put
back (the loaded session still lives in its own folder).  `outputs:` is left
alone on purpose: a copy renders beside itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import chains

# (container, key, value before the rewrite), to undo in reverse order
Undo = list[tuple[Any, str | int, Any]]

FILE_KEYS_OF_PLUGIN = ("path", "preset", "state")
FILE_KEYS_OF_INSTRUMENT = ("path", "midi", "preset", "state")


def relocate(document: Any, old_dir: Path, new_dir: Path) -> Undo:
    """Rewrite the document's relative paths from ``old_dir`` to ``new_dir``; returns how to undo it."""
    old_dir, new_dir = old_dir.resolve(), new_dir.resolve()
    undo: Undo = []
    if old_dir == new_dir or not isinstance(document, dict):
        return undo
    for container, key, kind in _path_slots(document):
        value = container[key]
        moved = _moved_chain(value, old_dir, new_dir) if kind == "chain" else _moved_file(value, old_dir, new_dir)
        if moved is not None and moved != value:
            undo.append((container, key, value))
            container[key] = moved
    return undo


def restore(undo: Undo) -> None:
    for container, key, value in reversed(undo):
        container[key] = value


def referenced_files(document: Any, base_dir: Path) -> list[Path]:
    """Every file the document names (sources, chain files, plugins, presets, states, MIDI files,
    user stages, references), resolved against ``base_dir``; names that reach no file are left out."""
    found: list[Path] = []
    if not isinstance(document, dict):
        return found
    for container, key, kind in _path_slots(document):
        value = container[key]
        if kind == "chain":
            chain = chains.find(value, base_dir) if isinstance(value, str) else None
            if chain is not None:
                found.append(chain)
        elif isinstance(value, str) and value:
            found.append(base_dir / Path(value).expanduser())
    return found


def session_files(path: Path) -> list[Path]:
    """A session file and every file it names: what a command reading the session must not write over."""
    from . import yaml_doc

    return [path, *referenced_files(yaml_doc.load(path), path.absolute().parent)]


def _moved_file(value: Any, old_dir: Path, new_dir: Path) -> str | None:
    if not isinstance(value, str) or not value or Path(value).expanduser().is_absolute():
        return None
    return Path(os.path.relpath(old_dir / value, new_dir)).as_posix()


def _moved_chain(value: Any, old_dir: Path, new_dir: Path) -> str | None:
    """A chain reference, by name or path: rewritten only if the new folder would find another file."""
    if not isinstance(value, str):
        return None
    found = chains.find(value, old_dir)
    if found is None:
        return None
    again = chains.find(value, new_dir)
    if again is not None and again.resolve() == found.resolve():
        return None  # a shipped chain, or one on MIXHOST_CHAIN_PATH: the name still works
    return Path(os.path.relpath(found.resolve(), new_dir)).as_posix()


def _path_slots(document: dict[str, Any]) -> Iterator[tuple[Any, str | int, str]]:
    """Every (container, key, kind) of the document that holds a file path; kind is "file" or "chain"."""
    meta = document.get("session")
    references = meta.get("references") if isinstance(meta, dict) else None
    for index, reference in enumerate(references if isinstance(references, list) else []):
        if isinstance(reference, dict):
            yield from _keys(reference, ("path",))
        else:
            yield references, index, "file"
    for section in ("tracks", "buses"):
        strips = document.get(section)
        for strip in strips.values() if isinstance(strips, dict) else []:
            yield from _strip_slots(strip)
    yield from _strip_slots(document.get("master"))


def _strip_slots(strip: Any) -> Iterator[tuple[Any, str | int, str]]:
    if not isinstance(strip, dict):
        return
    yield from _keys(strip, ("source",))
    if isinstance(strip.get("instrument"), dict):
        yield from _keys(strip["instrument"], FILE_KEYS_OF_INSTRUMENT)
    chain = strip.get("chain")
    if isinstance(chain, str):
        yield strip, "chain", "chain"
    for entry in chain if isinstance(chain, list) else []:
        if not isinstance(entry, dict):
            continue
        if "type" in entry:
            yield from _keys(entry, ("module",))  # a user Python stage's file
        elif "chain" in entry:
            yield entry, "chain", "chain"
        else:
            yield from _keys(entry, FILE_KEYS_OF_PLUGIN)


def _keys(mapping: dict[str, Any], keys: tuple[str, ...]) -> Iterator[tuple[Any, str | int, str]]:
    for key in keys:
        if isinstance(mapping.get(key), str):
            yield mapping, key, "file"
