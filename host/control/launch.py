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
    osc: bool = False
    osc_port: int = 9000
    osc_bind: str = "127.0.0.1"
    osc_allow: list[str] = field(default_factory=list)
    osc_meter_hz: float = 20.0
    zeroconf: bool = True
    web: str | None = None                      # [HOST:]PORT of the browser mixer
    web_allow: list[str] = field(default_factory=list)

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
    if options.web_allow and options.web is None:
        raise UserInputError("--web-allow limits who reaches the browser mixer; it needs --web",
                             hint="add --web HOST:PORT (for example --web 0.0.0.0:8080)")
    if options.web is not None:
        web_address(options.web)
    _check_osc(options)


def _check_osc(options: SurfaceOptions) -> None:
    import ipaddress

    if not 0 <= options.osc_port < 65536:
        raise UserInputError(f"--osc-port {options.osc_port}: give a port from 1 to 65535 (0: any free one)")
    for network in options.osc_allow:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise UserInputError(f"--osc-allow {network!r} is no network",
                                 hint="give an address or CIDR such as 192.168.1.0/24") from None
    try:
        ipaddress.ip_address(options.osc_bind)
    except ValueError:
        raise UserInputError(f"--osc-bind {options.osc_bind!r} is no IP address",
                             hint="127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from None
    if not options.osc_meter_hz >= 0 or options.osc_meter_hz > 100:
        raise UserInputError(f"--osc-meter-hz {options.osc_meter_hz:g}: give 0 (no meters) to 100")


def web_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port): ``8080``, ``0.0.0.0:8080``, ``[::1]:8080``; no host: loopback."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise UserInputError(f"--web {text!r}: give [HOST:]PORT, a port from 0 to 65535",
                             hint="for example --web 8080, or --web 0.0.0.0:8080 for the network")
    return host, number


def build_surfaces(session: Session, engine: Any, options: SurfaceOptions) -> Surfaces:
    """The surfaces for ``options`` around ``engine`` (not opened yet)."""
    check(options)
    context = SurfaceContext(session, engine)   # the snapshots are checked here
    surfaces = Surfaces(context)
    if options.osc:
        from .osc.surface import OscSurface

        surfaces.add(OscSurface(bind=options.osc_bind, port=options.osc_port, allow=options.osc_allow,
                                zeroconf=options.zeroconf, meter_hz=options.osc_meter_hz))
    if options.web is not None:
        from .web.surface import WebSurface

        host, port = web_address(options.web)
        surfaces.add(WebSurface(host, port, allow=tuple(options.web_allow)))
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
