"""Terminal keys as a control surface for ``mixhost live``.

Single key presses are read from a terminal in cbreak mode by a thread (the
terminal's mode is restored on close).  The control loop then applies them
through the engine's transport commands with the source ``keys``, like a
control surface's buttons, so other controllers hear of them:

space play/stop, ``0`` or Home back to the start, ``l`` loop on/off, ``p``
panic (and resume), ``s`` save, ``m`` MIDI learn (arm, or cancel when armed;
Escape cancels too: :class:`~host.control.midi.learn.ArmedLearn`), ``q`` quit.
"""

from __future__ import annotations

import os
import select
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ..errors import UserInputError

if TYPE_CHECKING:
    from ..live.engine import LiveEngine

SOURCE = "keys"
RESUMED = "panic cleared: output on again, the transport stays stopped"
NO_SAVE = "nothing to save into: this session has no file"
NO_LOOP = ("no loop to switch on: start with --loop A B, or set "
           "transport/loop_start_s and transport/loop_end_s")
NO_LEARN = ("MIDI learn needs a MIDI surface driven by a map: start with --midi-in NAME "
            "(a `controllers:` key or --midi-map gives it its map; `mappings: []` starts an empty one)")
ESCAPE = "\x1b"


class Learn(Protocol):
    """What the learn keys drive (:class:`~host.control.midi.learn.ArmedLearn`)."""

    def toggle(self) -> str: ...

    def cancel(self) -> str | None: ...


class Keys:
    """Single key presses from a terminal (cbreak mode, restored on close), read by a thread."""

    HOME = ("\x1b[H", "\x1bOH", "\x1b[1~", "\x1b[7~")

    def __init__(self, fd: int) -> None:
        import termios
        import tty

        self.fd = fd
        self._saved = termios.tcgetattr(fd)
        # TCSANOW, not tty's default TCSAFLUSH: a key typed while the session loads is kept
        tty.setcbreak(fd, termios.TCSANOW)
        self.pressed: deque[str] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="mixhost-keys", daemon=True)
        self._thread.start()

    @classmethod
    def open_if_terminal(cls) -> Keys | None:
        try:
            fd = sys.stdin.fileno()
            if not os.isatty(fd):
                return None
            return cls(fd)
        except (OSError, ValueError, ImportError):  # no stdin, or no termios (Windows)
            return None

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                data = os.read(self.fd, 16).decode(errors="replace")
                if not data:
                    return
                self.pressed.extend([data] if data.startswith("\x1b") else list(data))

    def close(self) -> None:
        import termios

        self._stop.set()
        self._thread.join(timeout=1)
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def handle(self, engine: LiveEngine, notify: Callable[[str], None], *,
               follow_transport: bool = False, save: Callable[[], None] | None = None,
               learn: Learn | None = None) -> bool:
        """Apply the keys pressed since the last poll; False when q asks to quit.

        With ``follow_transport`` only q, p, s, m and Escape work: JACK's
        transport rules the others.  ``notify`` receives what the user should
        be told (a panic cleared, no loop to switch on, learn's progress).
        ``save`` writes the mix into the session file (s); without it, s says
        how to get one.  ``learn``: MIDI learn (m arms or cancels, Escape
        cancels); without it, m says what it needs.
        """
        while self.pressed:
            key = self.pressed.popleft()
            if key == "q":
                return False
            if key == "p":
                self._panic_or_resume(engine, notify)
            elif key == "s":
                if save is None:
                    notify(NO_SAVE)
                else:
                    save()
            elif key == "m":
                notify(NO_LEARN if learn is None else learn.toggle())
            elif key == ESCAPE:
                told = learn.cancel() if learn is not None else None
                if told:
                    notify(told)
            elif follow_transport:
                continue  # JACK's transport rules: the keys below would be refused
            elif key == " ":
                engine.transport_command("play_stop", source=SOURCE)
            elif key in ("0", *self.HOME):
                engine.transport_command("locate", 0.0, source=SOURCE)
            elif key == "l":
                try:
                    engine.transport_command("loop_toggle", source=SOURCE)
                except UserInputError:
                    notify(NO_LOOP)
        return True

    @staticmethod
    def _panic_or_resume(engine: LiveEngine, notify: Callable[[str], None]) -> None:
        if not engine.panicked:
            engine.transport_command("panic", source=SOURCE)
        elif engine.resume():
            notify(RESUMED)
