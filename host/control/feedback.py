"""Feedback to one surface: what its controls should show, coalesced per control.

Changes reach a surface from any thread (the API, automation dispatch,
another surface, its own input).  :meth:`Feedback.offer` only records the
latest value per control; the surface's own sender takes what is due with
:meth:`Feedback.due`, so one thread writes its port.  The rules:

* latest value only, and only when it differs from what the control shows;
* at most once per control per ``MIN_INTERVAL_S`` (a later value waits);
* no echo to the control that made the change: the surface reports its own
  moves with :meth:`moved`, which records the value as shown, so the change
  that comes back is no change.  If the registry refused the set or clamped
  the value, the stored value differs from what the control shows and is sent
  back (a correction);
* a touched motor fader gets nothing (:meth:`hold`); on release it gets the
  stored value at once (:meth:`release`), so it does not snap back.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Hashable
from typing import Any

MIN_INTERVAL_S = 0.010


class Feedback:
    """Per-control latest values waiting to be sent to one surface."""

    def __init__(self, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._wanted: dict[Hashable, float] = {}     # what each control should show
        self._shown: dict[Hashable, float] = {}      # what it shows (sent, or moved there by hand)
        self._sent_at: dict[Hashable, float] = {}
        self._held: set[Hashable] = set()
        self.coalesced = 0                           # offers replaced by a later one before sending

    def offer(self, key: Hashable, value: float) -> None:
        """The control ``key`` should show ``value`` (any thread)."""
        with self._lock:
            if key in self._wanted and self._wanted[key] != self._shown.get(key):
                self.coalesced += 1
            self._wanted[key] = value

    def moved(self, key: Hashable, value: float) -> None:
        """The control was moved by hand to ``value``: it shows that already."""
        with self._lock:
            self._shown[key] = value

    def refused(self, key: Hashable) -> None:
        """The registry refused the control's set: what it shows is wrong, send the stored value."""
        with self._lock:
            self._shown.pop(key, None)

    def hold(self, key: Hashable) -> None:
        """A touched motor fader: send it nothing until :meth:`release`."""
        with self._lock:
            self._held.add(key)

    def release(self, key: Hashable) -> None:
        """Let go: the stored value goes out at the next :meth:`due`, whatever the interval."""
        with self._lock:
            self._held.discard(key)
            self._shown.pop(key, None)
            self._sent_at.pop(key, None)

    def forget(self, keys: Any = None) -> None:
        """The surface redraws (a bank switch, a reconnect): everything is sent again."""
        with self._lock:
            if keys is None:
                self._shown.clear()
                self._sent_at.clear()
            else:
                for key in keys:
                    self._shown.pop(key, None)
                    self._sent_at.pop(key, None)

    def due(self, now: float | None = None) -> list[tuple[Hashable, float]]:
        """What to send now (the surface's sender thread): marked as shown."""
        now = time.monotonic() if now is None else now
        out = []
        with self._lock:
            for key, value in self._wanted.items():
                shown = self._shown.get(key)
                if key in self._held or (shown is not None and _same(shown, value)):
                    continue
                if now - self._sent_at.get(key, -math.inf) < self.min_interval_s:
                    continue
                self._shown[key] = value
                self._sent_at[key] = now
                out.append((key, value))
        return out

    def pending(self) -> int:
        """Controls whose latest value has not gone out yet (held ones included)."""
        with self._lock:
            return sum(1 for k, v in self._wanted.items()
                       if k not in self._shown or not _same(self._shown[k], v))


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))
