"""The interpreter lock around a plugin call, which lets it go.

Live, the graph runs in the audio callback, and while a block runs the engine
asks other threads to wait long before they may take the lock from it
(:data:`host.live.engine.GIL_HOLD_S`).  A compiled call that lets the lock go
mid-block (pedalboard does, around every plugin call) lets a waiting control
thread take it; the callback, back from the call, must then wait for the lock,
and under that long interval it waits until the other thread lets go by itself
(the whole of what it was doing).  :class:`LettingGo` shortens the interval for
the length of such a call, so the callback asks for the lock back soon after the
call returns, then restores it.  Offline it costs two calls and changes nothing
the render computes.
"""

from __future__ import annotations

import sys

HAND_BACK_S = 0.0001   # how long the caller waits for the lock after the call before asking for it


class LettingGo:
    """``with letting_go:`` around a call that lets the lock go.  One per caller that runs
    on one thread at a time (a stage): it keeps the interval it replaced."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = 0.0

    def __enter__(self) -> None:
        self._held = sys.getswitchinterval()
        if self._held > HAND_BACK_S:
            sys.setswitchinterval(HAND_BACK_S)

    def __exit__(self, *exc: object) -> None:
        if self._held > HAND_BACK_S:
            sys.setswitchinterval(self._held)
