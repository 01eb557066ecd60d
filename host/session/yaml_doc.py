"""Round-trip YAML: load with line numbers, save keeping comments and key order.

Parsing is ruamel.yaml's; this module only maps its errors to ours and finds
the line and column of a key path inside a loaded document.
"""

from __future__ import annotations

import copy
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from ..atomic import temp_beside
from ..errors import SessionError


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    return yaml


def load(path: Path) -> Any:
    """Load a YAML file as a round-trip document; errors name file:line:column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SessionError("file not found", file=str(path), hint="check the path") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SessionError(f"cannot read the file: {error}", file=str(path)) from None
    return loads(text, str(path))


# ruamel's round-trip parser is pure Python (about 30 ms for a 16-track session), and scripts
# load the same file again and again (a render per variation): parsed documents are kept, by
# their text, and each load gets its own deep copy (comments and line numbers included).
_PARSED: OrderedDict[str, Any] = OrderedDict()
_PARSED_LOCK = threading.Lock()
PARSED_KEEP = 16                 # documents kept at most, the most recently loaded
PARSED_BUDGET_CHARS = 1 << 20    # and at most this much text between them (a parsed document is
                                 # some 20x its text in memory); a larger file is parsed every time


def loads(text: str, file: str = "<string>") -> Any:
    """Parse YAML text as a round-trip document; errors name file:line:column."""
    with _PARSED_LOCK:
        parsed = _PARSED.get(text)
        if parsed is not None:
            _PARSED.move_to_end(text)
    if parsed is None:
        parsed = _parse(text, file)
        if len(text) <= PARSED_BUDGET_CHARS:
            with _PARSED_LOCK:
                _PARSED[text] = parsed
                while len(_PARSED) > PARSED_KEEP or sum(map(len, _PARSED)) > PARSED_BUDGET_CHARS:
                    _PARSED.popitem(last=False)
    return copy.deepcopy(parsed)


def _parse(text: str, file: str) -> Any:
    try:
        return _yaml().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        raise SessionError(
            f"invalid YAML: {problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except YAMLError as error:
        raise SessionError(f"invalid YAML: {error}", file=file) from None


def dumps(document: Any) -> str:
    stream = io.StringIO()
    _yaml().dump(document, stream)
    return stream.getvalue()


def save(document: Any, path: Path) -> None:
    """Write atomically: a temp file in the same folder, then rename."""
    text = dumps(document)
    tmp = temp_beside(path, ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def locate(document: Any, key_path: Sequence[str | int]) -> tuple[int | None, int | None]:
    """1-based (line, column) of the deepest node of ``key_path`` present in the document."""
    line: int | None = None
    column: int | None = None
    node = document
    if isinstance(node, (CommentedMap, CommentedSeq)):
        line, column = node.lc.line + 1, node.lc.col + 1
    for key in key_path:
        try:
            if isinstance(node, CommentedMap) and key in node:
                pos = node.lc.value(key) if _is_scalar(node[key]) else node.lc.key(key)
                line, column = pos[0] + 1, pos[1] + 1
                node = node[key]
            elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
                pos = node.lc.item(key)
                line, column = pos[0] + 1, pos[1] + 1
                node = node[key]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line, column


def key_position(document: Any, key_path: Sequence[str | int], key: str) -> tuple[int | None, int | None]:
    """1-based position of ``key`` itself inside the mapping at ``key_path``."""
    node = document
    for part in key_path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return locate(document, key_path)
    if isinstance(node, CommentedMap) and key in node:
        pos = node.lc.key(key)
        return pos[0] + 1, pos[1] + 1
    return locate(document, key_path)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (CommentedMap, CommentedSeq))


def to_plain(node: Any) -> Any:
    """A round-trip node as plain dicts, lists and scalars."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if hasattr(node, "real") and type(node).__name__ in ("ScalarFloat",):
        return float(node)
    if type(node).__name__ in ("ScalarInt", "HexInt", "OctalInt", "BinaryInt"):
        return int(node)
    if isinstance(node, str):
        return str(node)
    return node
