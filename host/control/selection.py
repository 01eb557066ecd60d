"""The selected strip: one pointer that select buttons, a tablet or the API move.

Mappings may target ``selected/...`` (``selected/eq/*``: the selected strip's
EQ); they are resolved at each move, so a control follows the selection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..errors import ParameterError
from ..registry import Registry
from ..suggest import did_you_mean

PREFIX = "selected/"

Listener = Callable[[str, str], None]   # (strip address, source)


class Selection:
    """Which strip is selected (by address: ``tracks/vox``, ``master``)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        strips = registry.strips()
        self._addresses = [s.address for s in strips]
        self._names = {s.name: s.address for s in strips}
        self.current: str = self._addresses[0] if self._addresses else ""
        self._listeners: tuple[Listener, ...] = ()
        self._lock = threading.Lock()

    def select(self, strip: str, source: str = "api") -> str:
        """Select a strip by address (``tracks/vox``) or name (``vox``); returns its address."""
        address = strip if strip in self._addresses else self._names.get(strip)
        if address is None:
            raise ParameterError(f"no strip {strip!r} to select; "
                                 f"{did_you_mean(strip, [*self._addresses, *self._names])}")
        with self._lock:
            changed = address != self.current
            self.current = address
        if changed:
            for listener in self._listeners:
                listener(address, source)
        return address

    def observe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return remove

    def resolve(self, target: str) -> str:
        """``selected/eq/*`` -> ``tracks/vox/eq/*`` for the strip selected now; other targets unchanged."""
        if target.startswith(PREFIX):
            return f"{self.current}/{target[len(PREFIX):]}"
        return target
