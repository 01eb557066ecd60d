"""Mix variations from a Python script: ``mixhost batch render SESSION --variations SCRIPT``.

The script defines ``variations(session)``, a function (or generator) that
yields ``(name, changes)`` pairs, where ``changes`` is either a dict of
parameter addresses and values (``{"tracks/vocals/gain_db": 3}``), applied
to the session as loaded, or a :class:`~host.session.Session` it changed
itself::

    def variations(session):
        yield "vocal-up", {"tracks/vocals/gain_db": +2}
        yield "vocal-down", {"tracks/vocals/gain_db": -2}
        yield "instrumental", {"tracks/vocals/mute": True}

Each variation is captured as the session's worker state (its file, values
and lanes), so it renders in a worker exactly as the script made it.
Addresses are checked here, in the planning process: an unknown one stops
the batch before any render, with exit code 2.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ...errors import MixhostError, UserInputError

Variations = Callable[[Any], list[tuple[str, dict[str, Any]]]]


def load_variations(script: Path) -> Variations:
    """The script's ``variations`` function, wrapped to return (name, worker state) pairs."""
    if not script.is_file():
        raise UserInputError(f"{script}: no such variations script", hint="check the path")
    try:
        namespace = runpy.run_path(str(script))
    except MixhostError:
        raise
    except Exception as error:
        raise UserInputError(f"{script}: the script failed to load ({type(error).__name__}: {error})") from None
    make = namespace.get("variations")
    if not callable(make):
        raise UserInputError(f"{script}: defines no variations(session) function",
                             hint="define def variations(session): yield name, {address: value}")

    def collect(session: Any) -> list[tuple[str, dict[str, Any]]]:
        baseline = session.values_snapshot()
        found: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        try:
            for item in make(session):
                name, changes = _pair(script, item)
                if name in seen:
                    raise UserInputError(f"{script}: two variations are named {name!r}",
                                         hint="name each variation differently")
                seen.add(name)
                found.append((name, _state(session, changes, baseline)))
        except MixhostError:
            raise
        except Exception as error:
            raise UserInputError(f"{script}: variations({session.path.name}) failed "
                                 f"({type(error).__name__}: {error})") from None
        if not found:
            raise UserInputError(f"{script}: variations({session.path.name}) yielded nothing")
        return found

    return collect


def _pair(script: Path, item: Any) -> tuple[str, Any]:
    if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
        raise UserInputError(f"{script}: variations() yielded {item!r}",
                             hint="yield (name, {address: value}) or (name, session)")
    return item[0], item[1]


def _state(session: Any, changes: Any, baseline: Mapping[str, float]) -> dict[str, Any]:
    """The worker state of ``session`` with ``changes``; ``session`` is put back as it was."""
    if not isinstance(changes, Mapping):
        if hasattr(changes, "worker_state"):
            return dict(changes.worker_state())
        raise UserInputError(f"a variation's changes must be a dict or a session, not {type(changes).__name__}")
    try:
        for address, value in changes.items():
            session.set(address, value, source="batch")
        return dict(session.worker_state())
    finally:
        session.apply_snapshot(baseline)
