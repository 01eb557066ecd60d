"""MIDI ports through python-rtmidi, with the API chosen explicitly.

JACK where a JACK server runs, ALSA otherwise on Linux, CoreMIDI on macOS,
WinMM on Windows: rtmidi's default would pick ALSA here, and these machines
have no ALSA sequencer.  JACK clients are named ``mixhost-midi-in`` /
``mixhost-midi-out`` so they never clash with the audio client.

No Python runs in JACK's process thread: no rtmidi callback is installed.
rtmidi's own (compiled) JACK callback queues input; :meth:`MidiInput.read`
takes it from a control thread.
With the live engine on JACK, a surface's input is a port on the engine's
own client instead (:class:`EngineInput`, over :mod:`host.live.midi_inlet`):
the engine reads it in its process callback, in one compiled pass, so a
control lands in the block of the cycle that delivers it.

rtmidi calls JACK holding the interpreter lock.  Opening a JACK client
(``jack_client_open``) waits for the server, which waits for the running
cycle: with the live engine's JACK callback in Python (not ``--ahead``) that
cycle waits for the lock, and the open hung for good here; so does closing
the client.  So surfaces open their ports before the engine starts and close
them after it stopped (``mixhost live`` does).  Registering
and connecting a port later does not wait for a cycle (measured: a
reconnection while playing works), so a port that vanishes is reported, the
surface keeps running, and :meth:`_Port.check` reconnects it by its name.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

from ...errors import UserInputError
from ...suggest import did_you_mean

log = logging.getLogger(__name__)

CLIENT_PREFIX = "mixhost-midi"
QUEUE_SIZE = 1 << 15       # rtmidi's input queue, in messages: 3 s of 10,000 per second


class MidiPortError(UserInputError):
    """A MIDI port that cannot be found or opened."""


@dataclass(frozen=True)
class PortLists:
    api: str
    inputs: list[str]
    outputs: list[str]


def _rtmidi() -> Any:
    try:
        import rtmidi
    except ImportError:
        raise MidiPortError("MIDI needs python-rtmidi", hint="pip install 'mixhost[live]'") from None
    return rtmidi


def choose_api() -> int:
    """The rtmidi API for this machine (see the module docstring)."""
    rtmidi = _rtmidi()
    compiled = rtmidi.get_compiled_api()
    if sys.platform == "darwin":
        return int(rtmidi.API_MACOSX_CORE)
    if sys.platform.startswith("win"):
        return int(rtmidi.API_WINDOWS_MM)
    if rtmidi.API_UNIX_JACK in compiled and jack_running():
        return int(rtmidi.API_UNIX_JACK)
    return int(rtmidi.API_LINUX_ALSA)


def jack_running() -> bool:
    """True when a JACK server answers (never starts one)."""
    rtmidi = _rtmidi()
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    try:
        probe = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=f"{CLIENT_PREFIX}-probe")
        probe.get_ports()
        probe.delete()
        return True
    except rtmidi.SystemError:
        return False


def api_name(api: int) -> str:
    return str(_rtmidi().get_api_name(api))


def list_ports(api: int | None = None) -> PortLists:
    """The MIDI ports other programs and devices offer: inputs we can read, outputs we can write."""
    rtmidi = _rtmidi()
    api = choose_api() if api is None else api
    try:
        reader = rtmidi.MidiIn(api, name=f"{CLIENT_PREFIX}-list")
        writer = rtmidi.MidiOut(api, name=f"{CLIENT_PREFIX}-list")
    except rtmidi.SystemError as error:
        raise MidiPortError(f"no MIDI system to list ({api_name(api)}): {error}",
                            hint="start a JACK server, or load the ALSA sequencer (snd-seq)") from None
    found = PortLists(api_name(api), _foreign(reader.get_ports()), _foreign(writer.get_ports()))
    reader.delete()
    writer.delete()
    return found


def _foreign(ports: list[str]) -> list[str]:
    """Ports of other clients: not our own (an input would otherwise find our output)."""
    return [p for p in ports if not p.startswith(CLIENT_PREFIX)]


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def match_port(wanted: str, ports: list[str]) -> int | None:
    """The index of the port ``wanted`` names loosely (case, spaces and punctuation ignored;
    a part of the name will do; an exact name wins)."""
    if wanted in ports:
        return ports.index(wanted)
    key = _squash(wanted)
    if not key:
        return None
    for index, port in enumerate(ports):
        if _squash(port) == key:
            return index
    for index, port in enumerate(ports):
        if key in _squash(port):
            return index
    return None


def _matching(wanted: str, ports: list[str], direction: str) -> str:
    """The port ``wanted`` names loosely (:func:`match_port`), or an error that lists what there is."""
    index = match_port(wanted, ports)
    if index is None:
        raise MidiPortError(
            f"no MIDI {direction}put port matches {wanted!r}; {did_you_mean(wanted, ports)}",
            hint="`mixhost midi ports` lists them; --midi-virtual opens ports others connect to")
    return ports[index]


class _Port:
    """Common to input and output: open by loose name, notice a vanished port, reconnect."""

    direction = ""

    def __init__(self, wanted: str | None, *, virtual: bool = False, api: int | None = None,
                 client: str = CLIENT_PREFIX, port_name: str = "") -> None:
        self.wanted = wanted
        self.virtual = virtual
        self.api = choose_api() if api is None else api
        self.client_name = f"{client}-{self.direction}"
        self.port_name = port_name or self.direction
        self.connected: str | None = None
        self.vanished = 0          # times the port went away
        self.reconnected = 0
        self.rt = self._create()

    def _create(self) -> Any:
        raise NotImplementedError

    def open(self) -> None:
        rtmidi = _rtmidi()
        try:
            if self.virtual or self.wanted is None:
                self.rt.open_virtual_port(self.port_name)
                self.connected = None
                return
            name = _matching(self.wanted, _foreign(self.rt.get_ports()), self.direction)
            self._open_index(self.rt.get_ports().index(name), name)
        except rtmidi.SystemError as error:
            raise MidiPortError(f"cannot open the MIDI {self.direction}put: {error}") from None

    def _open_index(self, index: int, name: str) -> None:
        self.rt.open_port(index, self.port_name)
        self.connected = name

    def present(self) -> bool:
        """Is the port we connected to still there (a virtual port always is)?"""
        if self.connected is None:
            return True
        try:
            return self.connected in self.rt.get_ports()
        except Exception:  # noqa: BLE001 - a server gone away: not there
            return False

    def check(self) -> str | None:
        """Called now and then: report a vanished port, reconnect a returned one; returns news."""
        if self.virtual or self.wanted is None:
            return None
        if self.connected is not None:
            if self.present():
                return None
            gone, self.connected = self.connected, None
            self.vanished += 1
            self.rt.close_port()
            return f"MIDI {self.direction}put {gone!r} vanished; waiting for it to return"
        ports = _foreign(self.rt.get_ports())
        index = match_port(self.wanted, ports)
        if index is None:
            return None
        self._open_index(self.rt.get_ports().index(ports[index]), ports[index])
        self.reconnected += 1
        return f"MIDI {self.direction}put {ports[index]!r} is back: reconnected"

    @property
    def full_name(self) -> str:
        return f"{self.client_name}:{self.port_name}"

    def close(self) -> None:
        try:
            self.rt.close_port()
            self.rt.delete()
        except Exception:  # noqa: BLE001 - closing what may already be gone
            pass


class MidiInput(_Port):
    direction = "in"

    def _create(self) -> Any:
        rtmidi = _rtmidi()
        os.environ.setdefault("JACK_NO_START_SERVER", "1")
        try:
            midi_in = rtmidi.MidiIn(self.api, name=self.client_name, queue_size_limit=QUEUE_SIZE)
        except rtmidi.SystemError as error:
            raise MidiPortError(f"cannot open MIDI input ({api_name(self.api)}): {error}") from None
        midi_in.ignore_types(sysex=False, timing=True, active_sense=True)
        return midi_in

    def read(self, limit: int = 4096) -> list[list[int]]:
        """Every message waiting (at most ``limit``), oldest first; never blocks."""
        found = []
        get = self.rt.get_message
        for _ in range(limit):
            item = get()
            if item is None:
                break
            found.append(item[0])
        return found

    def events(self, limit: int = 4096) -> list[tuple[list[int], bool]]:
        """As :meth:`read`, each with False: nothing here was applied by the engine."""
        return [(data, False) for data in self.read(limit)]


class MidiOutput(_Port):
    direction = "out"

    def _create(self) -> Any:
        rtmidi = _rtmidi()
        os.environ.setdefault("JACK_NO_START_SERVER", "1")
        try:
            return rtmidi.MidiOut(self.api, name=self.client_name)
        except rtmidi.SystemError as error:
            raise MidiPortError(f"cannot open MIDI output ({api_name(self.api)}): {error}") from None

    def send(self, data: list[int]) -> bool:
        """Write one message; False if the port is gone (nothing raised)."""
        try:
            self.rt.send_message(data)
            return True
        except Exception:  # noqa: BLE001 - a vanished port: check() reports it
            return False


class EngineInput:
    """A MIDI input read by the live engine itself: a port on its JACK client (an inlet,
    :class:`host.live.midi_inlet.MidiInlet`) connected, as :class:`MidiInput` would be, to the
    port ``wanted`` names loosely.  The engine applies the controls routed through it at the
    start of the block of the cycle that delivers them; :meth:`events` hands every event on to
    the surface, marked when the engine applied it."""

    direction = "in"
    virtual = False

    def __init__(self, wanted: str, inlet: Any) -> None:
        self.wanted = wanted
        self.inlet = inlet
        self.connected: str | None = None
        self.vanished = 0
        self.reconnected = 0

    @property
    def full_name(self) -> str:
        return str(self.inlet.name)

    def _sources(self) -> list[str]:
        return _foreign(self.inlet.sources())

    def open(self) -> None:
        self.connected = _matching(self.wanted, self._sources(), self.direction)
        self.inlet.connect(self.connected)

    def present(self) -> bool:
        return self.connected is None or self.connected in self._sources()

    def check(self) -> str | None:
        """Report a vanished port, reconnect a returned one (as :meth:`_Port.check`)."""
        if self.connected is not None:
            if self.present():
                self.inlet.reconnect()     # made now if the engine's client was not active before
                return None
            gone, self.connected = self.connected, None
            self.vanished += 1
            self.inlet.connect(None)
            return f"MIDI input {gone!r} vanished; waiting for it to return"
        ports = self._sources()
        index = match_port(self.wanted, ports)
        if index is None:
            return None
        self.connected = ports[index]
        self.inlet.connect(self.connected)
        self.reconnected += 1
        return f"MIDI input {ports[index]!r} is back: reconnected"

    def events(self, limit: int = 4096) -> list[tuple[list[int], bool]]:
        """Every event waiting (at most ``limit``), oldest first, with whether the engine applied it."""
        return list(self.inlet.read(limit))

    def close(self) -> None:
        """The port is the engine's: it goes with the engine's client."""
        self.inlet.enabled = False
