"""A plugin's audio bus layout, read from the VST3 binary, and what pedalboard makes of it.

pedalboard (0.9.x) exposes no bus information, and drives only the *main*
buses: it hands the plugin audio for the first input bus alone (every other
input bus hears silence) and returns the first output bus alone (the others
are computed and dropped).  So a plugin keyed by a sidechain input, such as a
gate, renders silence, and a band splitter returns its low band only.

:func:`read_vst3_buses` asks the plugin itself, through the VST3 ABI: it
loads the bundle's binary with :mod:`ctypes`, creates the audio component
from the module's factory and calls ``IComponent::getBusCount`` and
``getBusInfo``.  That runs plugin code, which may crash, so it is only called
from the probe's child process (:mod:`host.plugins.probe`); the result is
stored in the scan cache.  Bundles it cannot read (Audio Units, macOS
bundles, a binary for another architecture, a component that refuses to
initialise without a host) give ``None``: the layout is unknown, not assumed.

:func:`bus_limits` turns a layout into the plain-language limits that
``mixhost plugins list`` shows and that refuse the plugin in a session.
"""

from __future__ import annotations

import ctypes
import logging
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# VST3 SDK constants (pluginterfaces/vst/ivstcomponent.h, ivstaudioprocessor.h)
_AUDIO = 0            # MediaTypes::kAudio
_INPUT, _OUTPUT = 0, 1  # BusDirections
_AUX = 1              # BusTypes::kAux
_DEFAULT_ACTIVE = 1   # BusFlags::kDefaultActive
_CONTROL_VOLTAGE = 2  # BusFlags::kIsControlVoltage
_OK = 0
_AUDIO_MODULE_CLASS = b"Audio Module Class"  # kVstAudioEffectClass: the processor component


@dataclass(frozen=True)
class Bus:
    """One audio bus: its name, channel count, main or auxiliary, active by default."""

    name: str
    channels: int
    aux: bool
    default_active: bool
    cv: bool = False

    def describe(self) -> str:
        kind = "aux" if self.aux else "main"
        return f"{self.name!r} ({self.channels} ch, {kind})"


@dataclass(frozen=True)
class BusLayout:
    """The plugin's audio buses, in the order the plugin numbers them (bus 0 is the main one)."""

    inputs: tuple[Bus, ...]
    outputs: tuple[Bus, ...]

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {"inputs": [asdict(b) for b in self.inputs], "outputs": [asdict(b) for b in self.outputs]}

    @classmethod
    def from_json(cls, data: Any) -> BusLayout | None:
        """The layout stored in a cache row, or None when the row has none (unknown layout)."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(tuple(Bus(**b) for b in data.get("inputs", [])),
                       tuple(Bus(**b) for b in data.get("outputs", [])))
        except TypeError:  # a row written by another version: treat as unknown
            return None

    @property
    def extra_inputs(self) -> tuple[Bus, ...]:
        """Input buses after the first: pedalboard feeds them silence."""
        return tuple(b for b in self.inputs[1:] if not b.cv)

    @property
    def extra_outputs(self) -> tuple[Bus, ...]:
        """Output buses after the first: pedalboard drops them."""
        return tuple(b for b in self.outputs[1:] if not b.cv)

    def text(self) -> str:
        """``main 2 + aux 2 → 2 + 2``: every bus's channels, for `plugins list`."""
        def side(buses: tuple[Bus, ...]) -> str:
            return " + ".join(f"{'aux ' if b.aux else ''}{b.channels}" for b in buses if not b.cv) or "0"

        return f"{side(self.inputs)} → {side(self.outputs)}"


def bus_limits(layout: BusLayout | None) -> list[str]:
    """What pedalboard cannot do with this layout, one sentence each; empty when it drives it fully."""
    if layout is None:
        return []
    limits = []
    for bus in layout.extra_inputs:
        limits.append(f"input bus {bus.describe()} is never fed (pedalboard feeds the main input bus only; "
                      "it hears silence)")
    for bus in layout.extra_outputs:
        limits.append(f"output bus {bus.describe()} is dropped (pedalboard returns the main output bus only)")
    return limits


def flag_text(layout: BusLayout | None) -> str:
    """A short flag for `plugins list`: ``sidechain not fed``, ``2 output buses, first only``, or ``""``."""
    if layout is None:
        return ""
    flags = []
    if layout.extra_inputs:
        flags.append("sidechain not fed" if all(b.aux for b in layout.extra_inputs)
                     else f"{len(layout.inputs)} input buses, first only")
    if layout.extra_outputs:
        flags.append(f"{len(layout.outputs)} output buses, first only")
    return "; ".join(flags)


# -- reading a VST3 binary (child process only) ---------------------------------------------


def vst3_binary(bundle: Path) -> Path | None:
    """The shared library inside a VST3 bundle for this OS and CPU, or None (macOS: not read)."""
    if bundle.is_file():  # a single-file VST3 (Windows, old style)
        return bundle
    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        candidate = bundle / "Contents" / f"{machine}-linux" / f"{bundle.stem}.so"
    elif sys.platform == "win32":
        arch = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64"}.get(machine, machine)
        candidate = bundle / "Contents" / f"{arch}-win" / f"{bundle.stem}.vst3"
    else:  # a macOS bundle needs bundleEntry(CFBundleRef): not worth a CoreFoundation binding here
        return None
    return candidate if candidate.is_file() else None


def _iid(a: int, b: int, c: int, d: int) -> bytes:
    """A VST3 interface id as the SDK's INLINE_UID lays it out (non-COM platforms, and the COM one)."""
    if sys.platform == "win32":  # COM-compatible GUID byte order
        return (a.to_bytes(4, "little") + (b >> 16).to_bytes(2, "little") + (b & 0xFFFF).to_bytes(2, "little")
                + b"".join(x.to_bytes(4, "big") for x in (c, d)))
    return b"".join(x.to_bytes(4, "big") for x in (a, b, c, d))


_ICOMPONENT_IID = _iid(0xE831FF31, 0xF2D54301, 0x928EBBEE, 0x25697802)


class _ClassInfo(ctypes.Structure):
    _fields_ = [("cid", ctypes.c_char * 16), ("cardinality", ctypes.c_int32),
                ("category", ctypes.c_char * 32), ("name", ctypes.c_char * 64)]


class _BusInfo(ctypes.Structure):
    _fields_ = [("media_type", ctypes.c_int32), ("direction", ctypes.c_int32), ("channel_count", ctypes.c_int32),
                ("name", ctypes.c_uint16 * 128), ("bus_type", ctypes.c_int32), ("flags", ctypes.c_uint32)]


_Fn = ctypes.CFUNCTYPE
_RESULT = ctypes.c_int32
# vtable slots: FUnknown (3), then the interface's own methods in declaration order
_FACTORY_SLOTS = {"release": (2, _Fn(ctypes.c_uint32, ctypes.c_void_p)),
                  "count_classes": (4, _Fn(ctypes.c_int32, ctypes.c_void_p)),
                  "class_info": (5, _Fn(_RESULT, ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(_ClassInfo))),
                  "create": (6, _Fn(_RESULT, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                    ctypes.POINTER(ctypes.c_void_p)))}
_COMPONENT_SLOTS = {"release": (2, _Fn(ctypes.c_uint32, ctypes.c_void_p)),
                    "initialize": (3, _Fn(_RESULT, ctypes.c_void_p, ctypes.c_void_p)),
                    "terminate": (4, _Fn(_RESULT, ctypes.c_void_p)),
                    "bus_count": (7, _Fn(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32)),
                    "bus_info": (8, _Fn(_RESULT, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
                                        ctypes.POINTER(_BusInfo)))}


class _Interface:
    """Calls into a VST3 interface pointer (an object whose first word points at its vtable)."""

    def __init__(self, pointer: int, slots: dict[str, tuple[int, Any]]) -> None:
        self.pointer = pointer
        vtable = ctypes.cast(ctypes.c_void_p.from_address(pointer).value or 0, ctypes.POINTER(ctypes.c_void_p))
        self._methods = {name: prototype(vtable[index]) for name, (index, prototype) in slots.items()}

    def __getattr__(self, name: str) -> Any:
        method = self._methods[name]
        return lambda *args: method(self.pointer, *args)


def read_vst3_buses(bundle: Path, plugin_name: str | None = None) -> BusLayout | None:
    """The audio buses of the plugin in ``bundle`` (the class named ``plugin_name`` in a shell bundle).

    Runs plugin code: call it only where a crash is contained (the probe's child).
    Returns None when the layout cannot be read here.
    """
    binary = vst3_binary(bundle)
    if binary is None:
        return None
    try:
        library = ctypes.CDLL(str(binary))
    except OSError as error:
        log.info("cannot read the buses of %s: %s", bundle, error)
        return None
    try:
        entry, leave = _module_hooks(library)
        if entry is not None and not entry(ctypes.c_void_p(library._handle)):
            return None
        try:
            return _layout_from_factory(library, plugin_name)
        finally:
            if leave is not None:
                leave()
    except (ctypes.ArgumentError, AttributeError, ValueError, OSError) as error:
        # a module without the VST3 entry points, or one that answers nonsense: the layout is unknown,
        # and the probe goes on (pedalboard may still load the plugin)
        log.info("cannot read the buses of %s: %s", bundle, error)
        return None


def _module_hooks(library: ctypes.CDLL) -> tuple[Any, Any]:
    """ModuleEntry/ModuleExit (Linux) or InitDll/ExitDll (Windows), when the module exports them."""
    names = ("InitDll", "ExitDll") if sys.platform == "win32" else ("ModuleEntry", "ModuleExit")
    hooks: list[Any] = []
    for name in names:
        try:
            function = getattr(library, name)
        except AttributeError:
            hooks.append(None)
            continue
        function.restype = ctypes.c_bool
        function.argtypes = [] if sys.platform == "win32" or name.endswith("Exit") else [ctypes.c_void_p]
        hooks.append(function)
    return hooks[0], hooks[1]


def _layout_from_factory(library: ctypes.CDLL, plugin_name: str | None) -> BusLayout | None:
    get_factory = library.GetPluginFactory
    get_factory.restype = ctypes.c_void_p
    pointer = get_factory()
    if not pointer:
        return None
    factory = _Interface(pointer, _FACTORY_SLOTS)
    try:
        cid = _component_class(factory, plugin_name)
        if cid is None:
            return None
        instance = ctypes.c_void_p()
        if factory.create(cid, _ICOMPONENT_IID, ctypes.byref(instance)) != _OK or not instance.value:
            return None
        return _component_layout(_Interface(instance.value, _COMPONENT_SLOTS))
    finally:
        factory.release()


def _component_class(factory: _Interface, plugin_name: str | None) -> bytes | None:
    """The class id of the audio component (the one named ``plugin_name`` when there are several)."""
    found: list[tuple[str, bytes]] = []
    for index in range(factory.count_classes()):
        info = _ClassInfo()
        if factory.class_info(index, ctypes.byref(info)) == _OK and info.category == _AUDIO_MODULE_CLASS:
            found.append((info.name.decode("utf-8", "replace"), bytes(info.cid)))
    if plugin_name is not None:
        named = [cid for name, cid in found if name == plugin_name]
        if named:
            return named[0]
    return found[0][1] if len(found) == 1 else None


def _component_layout(component: _Interface) -> BusLayout | None:
    try:
        if component.initialize(None) != _OK:  # no host context: plugins must cope (DPF, JUCE and the SDK do)
            return None
        try:
            return BusLayout(_buses(component, _INPUT), _buses(component, _OUTPUT))
        finally:
            component.terminate()
    finally:
        component.release()


def _buses(component: _Interface, direction: int) -> tuple[Bus, ...]:
    buses = []
    for index in range(max(0, component.bus_count(_AUDIO, direction))):
        info = _BusInfo()
        if component.bus_info(_AUDIO, direction, index, ctypes.byref(info)) != _OK:
            continue
        name = "".join(chr(c) for c in info.name).split("\0", 1)[0]
        buses.append(Bus(name or f"bus {index + 1}", int(info.channel_count), info.bus_type == _AUX,
                         bool(info.flags & _DEFAULT_ACTIVE), bool(info.flags & _CONTROL_VOLTAGE)))
    return tuple(buses)
