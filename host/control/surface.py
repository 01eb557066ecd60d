"""The surface protocol, and the set of surfaces a live run drives.

A surface (a MIDI controller, later an OSC tablet or a browser page) has:

* ``open(context)`` / ``close()``;
* ``poll()``: housekeeping from the live control loop (a vanished port,
  timers); a surface that needs low latency reads its input in a thread of
  its own and sets registry values from there;
* ``receive(change)``: every registry change from every source, in the
  thread that made it.  It only records what its controls should show (its
  :class:`~host.control.feedback.Feedback`); the surface's own sender writes
  the port, so observers firing in several threads never write a port at once.

:class:`SurfaceContext` is what a surface may use: the registry, the engine
(touch, transport commands, meters), the selection and the snapshots.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..registry import Change, Registry
from ..session import Session
from .meters import MeterReader
from .selection import Selection
from .snapshots import Snapshots

log = logging.getLogger(__name__)


@dataclass
class SurfaceContext:
    """What surfaces share: the session's registry and the live engine around it."""

    session: Session
    engine: Any = None      # a LiveEngine while live (touch, transport_command, meters); None offline
    selection: Selection = field(init=False)
    snapshots: Snapshots = field(init=False)
    #: MIDI learn while live (:class:`~host.control.midi.learn.ArmedLearn`: arm, cancel, target), set
    #: by ``mixhost live`` when a map-driven MIDI surface runs; None otherwise.  Any surface may arm it.
    learn: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.selection = Selection(self.session.registry)
        self.snapshots = Snapshots(self.session)
        #: a surface's save button: the live control loop writes the session (comments kept)
        self.save_requested = threading.Event()

    @property
    def registry(self) -> Registry:
        return self.session.registry

    def meter_reader(self) -> MeterReader | None:
        """A reader of its own over the engine's meters (None without an engine)."""
        meters = getattr(self.engine, "meters", None)
        return MeterReader(meters) if meters is not None else None

    def helper_thread(self, native_id: int | None) -> str:
        """A surface's own thread that runs Python while the audio plays: scheduled as the
        engine's helpers are (:meth:`host.live.engine.LiveEngine.schedule_helper`); says how.
        ``native_id`` None: the thread has not started, and is left alone."""
        if native_id is None:
            return "normal priority (not started)"
        schedule = getattr(self.engine, "schedule_helper", None)
        return schedule(native_id) if schedule is not None else "normal priority (no engine)"

    def touch(self, address: str, touched: bool, source: str) -> None:
        if self.engine is not None:
            self.engine.touch(address, touched, source)

    def transport(self, command: str, value: float | None = None, source: str = "api") -> None:
        if self.engine is not None:
            self.engine.transport_command(command, value, source=source)


class Surface(Protocol):
    """A control surface (see the module docstring)."""

    name: str

    def open(self, context: SurfaceContext) -> None: ...

    def close(self) -> None: ...

    def poll(self) -> None: ...

    def receive(self, change: Change) -> None: ...

    def describe(self) -> str:
        """One line for the user: what it is and where it is connected."""
        ...


class Surfaces:
    """The surfaces of one live run: opened together, fed every change, polled, closed."""

    def __init__(self, context: SurfaceContext) -> None:
        self.context = context
        self.surfaces: list[Surface] = []
        self._remove: Any = None

    def add(self, surface: Surface) -> None:
        self.surfaces.append(surface)

    def __bool__(self) -> bool:
        return bool(self.surfaces)

    def open(self) -> None:
        opened: list[Surface] = []
        try:
            for surface in self.surfaces:
                surface.open(self.context)
                opened.append(surface)
        except BaseException:
            for surface in opened:
                surface.close()
            raise
        self._remove = self.context.registry.observe(self._fan_out)

    def _fan_out(self, change: Change) -> None:
        for surface in self.surfaces:
            surface.receive(change)

    def poll(self) -> None:
        for surface in self.surfaces:
            try:
                surface.poll()
            except Exception:  # noqa: BLE001 - one broken surface must not stop the mix or the others
                log.warning("surface %s failed while polling", surface.name, exc_info=True)

    def close(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None
        for surface in self.surfaces:
            try:
                surface.close()
            except Exception:  # noqa: BLE001
                log.warning("surface %s failed to close", surface.name, exc_info=True)
