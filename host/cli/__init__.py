"""The ``mixhost`` command line: a thin layer over the Python API.

Each subcommand lives in its own module ``host.cli.<name>`` exposing
``add_parser(subparsers)`` and ``run(args) -> int``.  Modules are imported
only when their command runs (argparse needs their parsers, so parsers are
built from a light description first), keeping ``mixhost --help`` fast.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import re
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import Interrupted, MixhostError

# name -> (module, one-line help).  A new command is one line here plus its module.
COMMANDS: dict[str, tuple[str, str]] = {
    # mixing
    "render": ("host.cli.render", "render a session to audio files"),
    "validate": ("host.cli.validate", "check a session file and its audio without rendering"),
    "params": ("host.cli.params", "list every controllable parameter of a session"),
    "schema": ("host.cli.schema", "print the session file schema as JSON Schema"),
    "plugins": ("host.cli.plugins", "scan, list and inspect VST3/AU plugins"),
    "live": ("host.cli.live", "play a session in real time (JACK, PortAudio, or headless)"),
    "midi": ("host.cli.midi", "MIDI control surfaces: list ports"),
    "learn": ("host.cli.learn", "map a MIDI control to a parameter by moving it"),
    "layout": ("host.cli.layout", "write a tablet layout (TouchOSC, Open Stage Control) for OSC control"),
    # mastering and the hand-off
    "analyze": ("host.cli.analyze", "measure loudness (R128), peaks, dynamics and spectrum of files"),
    "master": ("host.cli.master", "master a file to a loudness target (gain + true-peak limiter)"),
    "album": ("host.cli.album", "master an album: cohesive loudness, album file, CUE sheet"),
    "feedback": ("host.cli.feedback", "a mastering engineer's report on a mix, for its mixer"),
    "compare": ("host.cli.compare", "loudness-matched A/B of two mix versions"),
    # catalogues
    "batch": ("host.cli.batch", "analyse, master or render many files on a process pool or Dask"),
}

DESCRIPTION = """\
mixhost: a scriptable plugin host and mixing/mastering processor.

A YAML session names tracks (audio stems), their chains of stages and
plugins, buses and a master chain.  mixhost renders it, lists and sets its
parameters, plays it live, and meters and masters the result.
"""

EPILOG = "Run `mixhost COMMAND --help` for the options of one command."

VERBOSE_HELP = "more log output (-vv for debug)"

# Options whose value may begin with "-": a custom loudness target such as -9/-1.
SIGNED_VALUE_OPTIONS = ("--target",)
_SIGNED_VALUE = re.compile(r"-\.?\d")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mixhost",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    parser.add_argument("--version", action="version", version=f"mixhost {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (module_name, help_text) in COMMANDS.items():
        if name == command:
            # only the command being run imports its module and builds its full parser
            importlib.import_module(module_name).add_parser(subparsers)
            # `mixhost render -v x.yaml` as well as `mixhost -v render x.yaml`: the two counts add up
            subparsers.choices[name].add_argument(
                "-v", "--verbose", dest="command_verbose", action="count", default=0, help=VERBOSE_HELP)
        else:
            subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def join_signed_values(argv: Sequence[str]) -> list[str]:
    """``--target -9/-1`` as ``--target=-9/-1``.

    argparse reads a token that begins with "-" as an option unless it is a
    plain negative number (``-14``), so ``--target -9/-1`` stopped at
    "expected one argument".  Joined to its option with "=" the value cannot
    be mistaken for one.  Only a value that starts like a signed number is
    joined: ``--target --json`` still reports the missing value.
    """
    joined: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":  # everything after is positional
            return joined + list(argv[index:])
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if arg in SIGNED_VALUE_OPTIONS and _SIGNED_VALUE.match(following):
            joined.append(f"{arg}={following}")
            index += 2
            continue
        joined.append(arg)
        index += 1
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    program = argv is None  # the process is this command (`mixhost ...`, `python -m host ...`)
    argv = join_signed_values(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    verbose = args.verbose + getattr(args, "command_verbose", 0)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="mixhost: %(message)s",
    )
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except MixhostError as error:
        print(f"mixhost {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt as interrupt:
        # an Interrupted says what became of the outputs; a bare interrupt knows nothing to tell
        said = f": {interrupt}" if isinstance(interrupt, Interrupted) and str(interrupt) else ""
        print(f"mixhost {args.command}: interrupted{said}", file=sys.stderr)
        return 130
    finally:
        if program:
            # the process ends next: its final garbage collections would walk every object
            # numba's compiler made at import (0.2 s of CPU at each exit); frozen, they are skipped
            gc.freeze()
