"""The session file: read, check, plan, relocate, and the Python API over it.

* :mod:`.session`: :class:`Session` and :func:`load_session` (the API);
* :mod:`.yaml_doc`: the round-trip YAML document, with line numbers;
* :mod:`.schema`: the session and chain JSON Schemas;
* :mod:`.schema_check`: validation against a schema, with file:line errors;
* :mod:`.plan`: a checked session as tracks, buses and stage plans;
* :mod:`.chains`: chain files, found by name or path;
* :mod:`.relocation`: relative paths kept right when a session is saved elsewhere;
* :mod:`.automation`: automation lanes;
* :mod:`.audio_check`: the session's audio files checked before a render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ENGINE_SOURCES", "BuiltStage", "Session", "load_session"]

if TYPE_CHECKING:
    from .session import ENGINE_SOURCES, BuiltStage, Session, load_session


def __getattr__(name: str) -> Any:
    # Lazy: reading a file's YAML or schema must not import the engine, and the
    # engine's imports of this package must not wait for the session module.
    if name in __all__:
        from . import session

        return getattr(session, name)
    raise AttributeError(f"module 'host.session' has no attribute {name!r}")
