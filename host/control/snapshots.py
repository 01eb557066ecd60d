"""Snapshots: saved sets of values in the session (``snapshots:``), recalled by name.

A recall is a :meth:`Registry.set_many` with a source, so it lands in one
block and every observer follows it: surfaces (a pickup resets), the
session document, the automation recorder.  With a fade, the recall hands
the block engine a fade (:meth:`Registry.fade`, :mod:`host.registry.fades`): every
numeric value moves from where it is at the next block to the snapshot
along its own scale, block by block and smoothed by the stages, landing
exactly on the stored values after ``fade_s`` of audio (played live or
rendered); booleans and choices switch at the end.  Its values reach
observers with the recall's source, as the engine's own writes do.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ruamel.yaml.comments import CommentedMap

from ..errors import ParameterError, SessionError
from ..registry import Registry, ValueLike
from ..session import Session
from ..session.yaml_doc import locate, to_plain
from ..suggest import did_you_mean

log = logging.getLogger(__name__)

SKIPPED_PREFIXES = ("transport/",)   # the transport is no part of a mix


class Snapshots:
    """The session's snapshots: save, list, recall (any thread)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.registry: Registry = session.registry
        self._check()

    def _check(self) -> None:
        """Every address in every snapshot exists, is settable and holds a value it takes
        (file:line, and a did-you-mean for an address, if not): a recall sets all or none."""
        addresses = [p.address for p in self.registry]
        for name, values in self._stored().items():
            for address, value in values.items():
                if address not in self.registry:
                    raise self._error(name, address, f"no parameter at {address!r}; "
                                                     f"{did_you_mean(address, addresses)}")
                param = self.registry.param(address)
                if param.spec.read_only:
                    raise self._error(name, address, f"{address} is read-only; a snapshot cannot set it")
                try:
                    param.parse(value)
                except ParameterError as error:
                    raise self._error(name, address, error.message) from None

    def _error(self, name: str, address: str, message: str) -> SessionError:
        line, column = locate(self.session.document, ("snapshots", name, address))
        return SessionError(f"snapshot {name!r}: {message}", file=str(self.session.path), line=line,
                            column=column, hint="fix or remove the entry in `snapshots:`")

    def _stored(self) -> dict[str, dict[str, Any]]:
        stored = self.session.document.get("snapshots") if hasattr(self.session.document, "get") else None
        return to_plain(stored) if stored else {}

    def names(self) -> list[str]:
        return list(self._stored())

    def save(self, name: str) -> dict[str, ValueLike]:
        """Store the mix's current values as snapshot ``name`` in the session document."""
        values: dict[str, ValueLike] = {}
        for param in self.registry:
            if param.spec.read_only or param.address.startswith(SKIPPED_PREFIXES):
                continue
            values[param.address] = param.present(float(self.registry.values[param.slot]))
        document = self.session.document
        if document.get("snapshots") is None:
            document["snapshots"] = CommentedMap()
        document["snapshots"][name] = CommentedMap(values)
        return values

    def recall(self, name: str, source: str = "api", fade_s: float = 0.0) -> None:
        """Set every value of snapshot ``name`` with ``source``: at once, or over ``fade_s`` seconds."""
        stored = self._stored()
        if name not in stored:
            raise ParameterError(f"no snapshot {name!r}; {did_you_mean(name, stored)}")
        items = list(stored[name].items())
        if not math.isfinite(fade_s) or fade_s < 0:
            raise ParameterError(f"fade time {fade_s}: give a number of seconds from 0")
        if fade_s > 0:
            samples = max(1, int(round(fade_s * self.session.sample_rate)))
            self.registry.fade(items, samples, source)
            return
        self.cancel_fade()   # a fade still running would move on from the recalled values
        self.registry.set_many(items, source)

    def recall_index(self, index: int, source: str, fade_s: float = 0.0, names: list[str] | None = None) -> bool:
        """Recall the ``index``-th snapshot (a program change); False if there is none."""
        names = names or self.names()
        if not 0 <= index < len(names):
            return False
        self.recall(names[index], source, fade_s)
        return True

    def cancel_fade(self) -> None:
        """Stop a running fade where it is (from the next block)."""
        if self.registry.fades.running:
            self.registry.fades.request(None)
