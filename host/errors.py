"""The one exception hierarchy of mixhost.

Every error a user can cause derives from :class:`MixhostError`.  The CLI
catches that base class, prints ``str(error)`` and exits with
``error.exit_code``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


class MixhostError(Exception):
    """Base of every error mixhost raises on purpose (pre-commit's FatalError)."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UserInputError(MixhostError):
    """The user gave something mixhost cannot use: exit code 2."""

    exit_code = EXIT_BAD_INPUT


class SessionError(UserInputError):
    """A session, chain or album file is invalid.

    ``location`` is ``file:line:column`` when known, ``key_path`` the path of
    keys inside the document (``tracks.vocals.chain[0].params``).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        key_path: Sequence[str | int] = (),
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.key_path = tuple(key_path)
        super().__init__(message, hint=hint)

    @property
    def location(self) -> str:
        parts = [self.file or "<session>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.location
        if self.key_path:
            where += f" (at {format_key_path(self.key_path)})"
        return f"{where}: {super().__str__()}"


class AudioInputError(SessionError):
    """An input audio file is missing, empty, unreadable or holds NaN/Inf."""


class ParameterError(UserInputError):
    """An unknown parameter address, or a value outside its range."""


class OutputError(UserInputError):
    """An output path that cannot be written safely."""


class MissingExtraError(UserInputError):
    """A feature asked for needs an optional extra that is not installed (``pip install 'mixhost[X]'``).

    Exit 2: like a bad option, it is found before any work, nothing is written,
    and the user fixes it with the one command the message names.
    """


class WriteError(MixhostError):
    """An output could not be written: the disk is full, or the system refused a write (exit 1)."""


class PluginError(UserInputError):
    """A plugin that cannot be found, loaded or configured."""


class RenderError(MixhostError):
    """Processing failed part-way (a stage raised, or produced NaN/Inf)."""


class AudioDeviceError(MixhostError):
    """The audio server or device cannot be opened or used."""


class RenderInterrupted(MixhostError):
    """The user interrupted a render; no partial output was left behind."""

    exit_code = 130


class Interrupted(KeyboardInterrupt):
    """An interrupt (SIGINT, SIGTERM) that stopped a command before it wrote its outputs.

    A KeyboardInterrupt still, so whatever stops on one stops on this; its
    message says what became of the outputs.
    """


def format_key_path(key_path: Sequence[str | int]) -> str:
    out = ""
    for key in key_path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += f".{key}" if out else str(key)
    return out
