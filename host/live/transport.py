"""The live transport: play, stop, locate and loop, with the position in samples.

Control threads (the CLI, the Python API, later MIDI and OSC) queue
commands; the audio thread drains the queue at block start
(:meth:`Transport.apply_pending`), so the position and the rolling state
only ever change between blocks.  Reads of ``position``/``rolling`` from a
control thread are plain attribute reads (atomic under the GIL).

Each command carries its source (``api``, ``midi:<port>``...), so the
``transport/...`` parameters (:mod:`host.live.transport_params`) can tell
controllers who changed the transport.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UserInputError


@dataclass(frozen=True)
class Command:
    kind: str                 # "play" | "stop" | "locate" | "loop" | "unloop" | "range"
    start: int = 0
    end: int = 0
    source: str = "api"
    #: the registry slot whose observers already heard of this command (a registry set); -1: none
    heard: int = -1


CommandHook = Callable[[Command], None]


class Transport:
    """Transport state owned by the audio thread, driven by queued commands."""

    def __init__(self, sample_rate: int, min_loop: int = 1) -> None:
        self.sample_rate = sample_rate
        self.min_loop = max(1, int(min_loop))
        self.position = 0
        self.rolling = False
        self.loop: tuple[int, int] | None = None
        #: the last loop range asked for; kept while the loop is off, so it can come back on
        self.loop_range: tuple[int, int] | None = None
        self._commands: deque[Command] = deque()
        #: bumped each time the position jumps (locate, loop change): sources must refill
        self.generation = 0

    # -- commands (any thread) ---------------------------------------------------
    def play(self, source: str = "api", heard: int = -1) -> None:
        self._commands.append(Command("play", source=source, heard=heard))

    def stop(self, source: str = "api", heard: int = -1) -> None:
        self._commands.append(Command("stop", source=source, heard=heard))

    def locate(self, frame: int, source: str = "api", heard: int = -1) -> None:
        """Move the play position to ``frame`` (samples from the session start)."""
        if frame < 0:
            raise UserInputError(f"cannot locate to {frame}: positions start at 0")
        self._commands.append(Command("locate", int(frame), source=source, heard=heard))

    def locate_seconds(self, seconds: float, source: str = "api", heard: int = -1) -> None:
        self.locate(int(round(seconds * self.sample_rate)), source, heard)

    def set_loop(self, start: int, end: int, source: str = "api", heard: int = -1) -> None:
        """Loop [start, end) in samples; the loop must be at least one block long."""
        self.check_loop(start, end)
        self._commands.append(Command("loop", int(start), int(end), source=source, heard=heard))

    def check_loop(self, start: int, end: int) -> None:
        if start < 0 or end - start < self.min_loop:
            raise UserInputError(
                f"loop {start}..{end} is too short; a loop spans at least {self.min_loop} samples"
            )

    def clear_loop(self, source: str = "api", heard: int = -1) -> None:
        self._commands.append(Command("unloop", source=source, heard=heard))

    def set_loop_range(self, start: int, end: int, source: str = "api", heard: int = -1) -> None:
        """Remember a loop range without switching the loop on (moves a loop that is on)."""
        self._commands.append(Command("range", int(start), int(end), source=source, heard=heard))

    @property
    def seconds(self) -> float:
        return self.position / self.sample_rate

    # -- the audio thread ------------------------------------------------------------
    def apply_pending(self, hook: CommandHook | None = None) -> bool:
        """Apply queued commands (``hook`` sees each); True when the position jumped (sources must refill)."""
        jumped = False
        while self._commands:
            command = self._commands.popleft()
            jumped |= self._apply(command)
            if hook is not None:
                hook(command)
        if jumped:
            self.generation += 1
        return jumped

    def drop_pending(self, hook: CommandHook | None = None) -> None:
        """Forget queued commands (while panicked); ``hook`` sees each, so a controller can be corrected."""
        while self._commands:
            command = self._commands.popleft()
            if hook is not None:
                hook(command)

    def _apply(self, command: Command) -> bool:
        if command.kind == "play":
            self.rolling = True
        elif command.kind == "stop":
            self.rolling = False
        elif command.kind == "locate":
            self.position = command.start
            return True
        elif command.kind == "loop":
            self.loop = self.loop_range = (command.start, command.end)
            return True  # the sources read ahead along the loop: they must refill
        elif command.kind == "unloop":
            was_on = self.loop is not None
            self.loop = None
            return was_on
        elif command.kind == "range":
            self.loop_range = (command.start, command.end)
            if self.loop is not None and command.end - command.start >= self.min_loop:
                self.loop = self.loop_range
                return True
        return False

    def segments(self, frames: int, out: list[tuple[int, int]]) -> None:
        """Split the next ``frames`` into (position, length) runs across loop wraps; advance."""
        out.clear()
        position = self.position
        while frames > 0:
            run = frames
            if self.loop is not None and position < self.loop[1]:
                run = min(run, self.loop[1] - position)
            out.append((position, run))
            frames -= run
            position += run
            if self.loop is not None and position == self.loop[1]:
                position = self.loop[0]
        self.position = position

    def force(self, position: int, rolling: bool) -> bool:
        """Set the state directly from the audio thread (following JACK transport)."""
        jumped = position != self.position
        self.position = position
        self.rolling = rolling
        if jumped:
            self.generation += 1
        return jumped


def next_position(position: int, frames: int, loop: tuple[int, int] | None) -> int:
    """Where the timeline is ``frames`` after ``position`` (the readers' path, loops included)."""
    if loop is None or position >= loop[1]:
        return position + frames
    start, end = loop
    ahead = position + frames
    if ahead < end:
        return ahead
    return start + (ahead - end) % (end - start)
