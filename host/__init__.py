"""mixhost: a scriptable plugin host and mixing/mastering processor.

The public API::

    import host
    s = host.load_session("session.yaml")
    s.set("tracks/vocals/gain_db", -3)
    result = s.render()
    s.save("session-v2.yaml")
    result = host.batch("master", ["catalogue/"], out_dir="mastered", target="spotify")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import MixhostError, UserInputError

__version__ = "0.1.0"
__all__ = ["MixhostError", "Session", "UserInputError", "batch", "load_session", "__version__"]

if TYPE_CHECKING:
    from .session import Session, load_session


def __getattr__(name: str) -> Any:
    # Lazy: `import host` (and `mixhost --help`) must not import numpy, scipy or pedalboard.
    if name == "batch":  # host.batch(command, inputs, ...): the catalogue workflow
        import importlib

        return importlib.import_module(".analysis.batch", __name__).batch
    if name in ("Session", "load_session"):
        from . import session

        return getattr(session, name)
    raise AttributeError(f"module 'host' has no attribute {name!r}")
