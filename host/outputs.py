"""The one output guard: no command writes over one of its inputs, or twice to one file.

Every command lists what it reads and what it will write, and calls
:func:`guard` before it writes anything (before it even starts the work, so
a refusal costs nothing).  Files are compared as files, not as names: the
same path written another way, a symlink to an input and a hard link to it
all count as the input.  A command that writes into a folder (an album's
tracks, a render's stems) lists each file it will write there, so a file in
that folder that is also an input is found before it would be replaced.

:func:`audio_format` makes a file name's extension and its format agree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .atomic import ensure_folder
from .errors import OutputError

DEFAULT_HINT = "write it to another file"
#: the extensions of the reports mixhost writes
HTML = (".html", ".htm")
MARKDOWN = (".md", ".markdown", ".txt")


@dataclass(frozen=True)
class Output:
    """A file a command will write, and what the user changes to write it elsewhere."""

    path: Path
    hint: str = DEFAULT_HINT
    #: the extensions a file of this kind has (a report: ``.html``); empty for any
    suffixes: tuple[str, ...] = ()


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path.expanduser()))


def _same_file(a: Path, b: Path) -> bool:
    """True when writing ``a`` would replace ``b``: one path after symlinks, or one inode (a hard link)."""
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)  # st_dev and st_ino: hard links have different names
    except OSError:
        return False  # one of them does not exist (yet): then only the names could match


def _how(output: Path, other: Path) -> str:
    """Why two different names are one file, for the message."""
    if output.is_symlink() or other.is_symlink():
        return ", through a symlink"
    if _resolved(output) != _resolved(other):
        return ", a hard link to it"
    return ""


def guard(outputs: Iterable[Output | Path], inputs: Iterable[Path | None]) -> list[Output]:
    """Refuse (:class:`OutputError`, exit code 2) an output that is an input or another output.

    ``inputs`` are every file the command reads (None entries are skipped).
    Nothing is written here: call it before the first write.  Returns the
    outputs, as :class:`Output`.
    """
    listed = [item if isinstance(item, Output) else Output(Path(item)) for item in outputs]
    sources = [Path(path) for path in inputs if path is not None]
    for index, output in enumerate(listed):
        if output.path.is_dir():
            raise OutputError(f"output {output.path} is a folder; a file was expected there",
                              hint=output.hint)
        for source in sources:
            if _same_file(output.path, source):
                raise OutputError(
                    f"output {output.path} is also an input ({source}{_how(output.path, source)}); "
                    "nothing was written",
                    hint=output.hint)
        for earlier in listed[:index]:
            if _same_file(output.path, earlier.path):
                also = "" if str(earlier.path) == str(output.path) else f" (also named {earlier.path})"
                raise OutputError(
                    f"two outputs would both be written to {output.path}{also}; nothing was written",
                    hint=output.hint)
        _check_kind(output)
    return listed



def guard_many(outputs: Sequence[Output], inputs: Iterable[Path]) -> list[Output]:
    """:func:`guard` for thousands of files (a catalogue): the same refusals, by lookups, not pairs.

    Files are keyed by their resolved path and, when they exist, by device and
    inode, so a symlink or a hard link to an input is found as :func:`guard`
    finds it, without comparing every output with every input.
    """
    def keys(path: Path) -> list[object]:
        found: list[object] = [_resolved(path)]
        try:
            st = os.stat(path)
            found.append((st.st_dev, st.st_ino))
        except OSError:
            pass
        return found

    sources: dict[object, Path] = {}
    for source in inputs:
        for key in keys(Path(source)):
            sources.setdefault(key, Path(source))
    written: dict[object, Output] = {}
    for output in outputs:
        if output.path.is_dir():
            raise OutputError(f"output {output.path} is a folder; a file was expected there", hint=output.hint)
        for key in keys(output.path):
            if key in sources:
                source = sources[key]
                raise OutputError(f"output {output.path} is also an input ({source}{_how(output.path, source)}); "
                                  "nothing was written", hint=output.hint)
            if key in written:
                earlier = written[key].path
                also = "" if str(earlier) == str(output.path) else f" (also named {earlier})"
                raise OutputError(f"two outputs would both be written to {output.path}{also}; nothing was written",
                                  hint=output.hint)
            written[key] = output
        _check_kind(output)
    return list(outputs)

def _check_kind(output: Output) -> None:
    """Refuse to replace an existing file of another kind: a report named ``notes.yaml`` or
    ``take3.wav`` is a typo, and the file it would replace is the user's, input or not."""
    suffix = output.path.suffix.lower()
    if output.suffixes and suffix not in output.suffixes and output.path.is_file():
        raise OutputError(
            f"{output.path} exists and is not a {output.suffixes[0]} file; nothing was written",
            hint=f"name the output with {' or '.join(output.suffixes)}, or {output.hint}")


def prepare(outputs: Iterable[Output | Path], inputs: Iterable[Path | None]) -> list[Output]:
    """:func:`guard`, then create the outputs' folders (only once every check has passed)."""
    listed = guard(outputs, inputs)
    for output in listed:
        in_the_way = next((p for p in output.path.parents if p.exists() or p.is_symlink()), None)
        if in_the_way is not None and not in_the_way.is_dir():
            raise OutputError(f"cannot write {output.path}: {in_the_way} is a file, not a folder",
                              hint=output.hint)
        try:
            ensure_folder(output.path.parent)
        except OutputError as error:
            raise OutputError(f"cannot write {output.path}: {error.message}", hint=output.hint) from None
    return listed


# -- the format of an audio file and its extension --------------------------------------------------
#: formats mixhost writes -> their extensions, the first one the usual
WRITABLE: dict[str, tuple[str, ...]] = {"wav": (".wav",), "flac": (".flac",), "aiff": (".aiff", ".aif")}
#: lossy formats: a master or a mix is written lossless, and encoded from that
LOSSY = {".mp3": "MP3", ".ogg": "Ogg Vorbis", ".oga": "Ogg Vorbis", ".opus": "Opus", ".m4a": "AAC",
         ".aac": "AAC", ".wma": "WMA"}


def format_of_extension(suffix: str) -> str | None:
    return next((fmt for fmt, suffixes in WRITABLE.items() if suffix.lower() in suffixes), None)


def audio_format(path: Path, fmt: str | None, formats: Sequence[str] = tuple(WRITABLE),
                 where: str = "the output") -> tuple[Path, str]:
    """The output file and its format, made to agree, or :class:`OutputError` with a hint.

    Given both an extension and a format that disagree, it refuses (never a
    FLAC file named .wav, nor a silent rename); given only a format, the name
    gets its extension; given only an extension, it sets the format.
    ``formats`` are those the command can write, ``where`` says where the
    user sets the format.
    """
    suffix = path.suffix.lower()
    if not path.name or path.name in (".", ".."):
        raise OutputError(f"{path} names a folder, not a file", hint=f"name the file, e.g. {path / 'mix.wav'}")
    if suffix in LOSSY:
        raise OutputError(
            f"{path}: mixhost writes lossless audio ({', '.join(formats)}), not {LOSSY[suffix]}",
            hint=f"write {path.with_suffix(WRITABLE[formats[0]][0]).name} and encode the "
                 f"{LOSSY[suffix]} file from it with an encoder of your choice")
    from_suffix = format_of_extension(suffix) if suffix else None
    if suffix and (from_suffix is None or from_suffix not in formats):
        endings = ", ".join(WRITABLE[f][0] for f in formats)
        raise OutputError(f"{path}: {suffix} is not an audio format mixhost writes here",
                          hint=f"end the name with one of {endings}")
    if fmt is not None and fmt not in formats:
        raise OutputError(f"{path}: format {fmt!r} cannot be written here",
                          hint=f"use one of {', '.join(formats)}")
    if fmt is not None and from_suffix is not None and fmt != from_suffix:
        raise OutputError(
            f"{path}: the name ends in {path.suffix} but {where} says format: {fmt}",
            hint=f"name it {path.with_suffix(WRITABLE[fmt][0]).name}, or set format: {from_suffix}")
    chosen = from_suffix or fmt or formats[0]
    return (path if suffix else path.with_name(path.name + WRITABLE[chosen][0])), chosen
