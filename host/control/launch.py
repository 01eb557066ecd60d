"""The surfaces a live run asked for, built and checked before audio starts.

``mixhost live`` (and a script) describe what they want in
:class:`SurfaceOptions`; :func:`build_surfaces` loads and validates the MIDI
maps (a bad map fails here, with file:line, before anything plays) and
returns the :class:`~host.control.surface.Surfaces` to open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UserInputError
from ..session import Session
from .surface import SurfaceContext, Surfaces

PROFILES = ("mcu",)


@dataclass
class SurfaceOptions:
    midi_in: str | None = None
    midi_out: str | None = None
    midi_maps: list[str] = field(default_factory=list)
    midi_profile: str | None = None
    midi_virtual: bool = False
    midi_name: str = "midi"

    @property
    def wants_midi(self) -> bool:
        return bool(self.midi_in or self.midi_out or self.midi_virtual)


def check(options: SurfaceOptions) -> None:
    """Options that make no sense together, refused before anything is loaded."""
    if options.midi_profile is not None and options.midi_profile not in PROFILES:
        raise UserInputError(f"unknown MIDI profile {options.midi_profile!r}; use one of {', '.join(PROFILES)}")
    if (options.midi_maps or options.midi_profile) and not options.wants_midi:
        raise UserInputError("--midi-map and --midi-profile need MIDI ports",
                             hint="add --midi-in NAME (and --midi-out NAME for feedback), or --midi-virtual")
    if options.midi_profile and options.midi_maps:
        raise UserInputError("--midi-profile mcu brings its own mapping; leave out --midi-map",
                             hint="run a second mixhost surface with the map, or use the profile alone")


def build_surfaces(session: Session, engine: Any, options: SurfaceOptions) -> Surfaces:
    """The surfaces for ``options`` around ``engine`` (not opened yet)."""
    check(options)
    context = SurfaceContext(session, engine)   # the snapshots are checked here
    surfaces = Surfaces(context)
    if not options.wants_midi:
        return surfaces
    from .midi.surface import MidiSurface

    handler: Any
    if options.midi_profile == "mcu":
        from .midi.mcu import MackieControl

        handler = MackieControl()
    else:
        from .midi.mapped import MappedControls

        mappings = compile_mappings(context, options.midi_maps)
        if mappings is None:
            raise UserInputError("MIDI ports but nothing to map", hint="add --midi-map NAME, a `controllers:` "
                                 "key to the session, or --midi-profile mcu")
        handler = MappedControls(mappings)
    surfaces.add(MidiSurface(handler, name=options.midi_name, midi_in=options.midi_in,
                             midi_out=options.midi_out, virtual=options.midi_virtual))
    return surfaces


def compile_mappings(context: SurfaceContext, midi_maps: list[str]) -> list[Any] | None:
    """The session's ``controllers:`` (and the map files it includes), then each of ``midi_maps``,
    compiled against the registry: an unknown address, channel, number or snapshot fails here
    with file:line and a did-you-mean.  None when there is no map at all (``mappings: []`` is
    one: an empty map that learn fills)."""
    from .midi import maps
    from .midi.mapping import compile_maps

    session = context.session
    documents = maps.collect(session.document, str(session.path), session.plan.base_dir, midi_maps)
    return compile_maps(documents, session.registry, context.snapshots.names()) if documents else None


def check_controls(session: Session, midi_maps: list[str] | None = None) -> tuple[int, int]:
    """What ``mixhost live`` checks of the session's ``snapshots:`` and ``controllers:`` before
    anything plays, without ports or an engine; returns (mappings, snapshots)."""
    context = SurfaceContext(session)
    return len(compile_mappings(context, list(midi_maps or [])) or []), len(context.snapshots.names())
