"""Plugin state files and presets, validated before pedalboard sees them.

pedalboard warns that bad state data can crash the process (the bytes go
straight to the plugin), so everything that can be checked is checked first:

* **mixhost state file** (what :func:`save_state` writes, ``.mxstate``): JSON
  with a format tag, the plugin's identifier, the base64 of ``raw_state`` and
  its SHA-256.  Loading refuses another plugin's state and corrupted bytes.
* **bare raw state** (the bytes of pedalboard's ``raw_state``): for VST3 this
  is JUCE's binary XML, ``b"VC2!"`` + little-endian length + an XML document
  whose root is ``VST3PluginState``; the length and the XML are checked.
  State that starts as XML (``<?xml``) or a binary property list
  (``bplist``, as AU hosts write) must parse as such.
* **.vstpreset** (Steinberg's preset format): header ``b"VST3"``, version,
  a 32-character ASCII class id that must be the plugin's own, and a
  chunk-list offset that must lie inside the file with a ``b"List"`` chunk
  there, every chunk inside the file.

A .vstpreset is not handed to pedalboard's ``load_preset``: with the DISTRHO
plugins that call reports success but changes nothing (the component state
is not applied).  Instead its component (``Comp``) and controller (``Cont``)
chunks are repacked as the JUCE state pedalboard's ``raw_state`` takes
(``<VST3PluginState><IComponent>...`` in JUCE's base64 variant), which
restores both the sound and the parameter read-back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import plistlib
import struct
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np

from ..atomic import temp_beside
from ..errors import OutputError, PluginError

STATE_FORMAT = "mixhost-plugin-state"
STATE_VERSION = 1
STATE_SUFFIX = ".mxstate"
VSTPRESET_SUFFIX = ".vstpreset"

_JUCE_BINARY_XML = b"VC2!"
_VSTPRESET_MAGIC = b"VST3"
_VSTPRESET_HEADER = 4 + 4 + 32 + 8  # magic, version, class id, chunk-list offset


def save_state(plugin: Any, path: Path) -> Path:
    """Write the plugin's current ``raw_state`` to ``path`` as a mixhost state file."""
    raw = bytes(plugin.raw_state)
    document = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "plugin": str(plugin.name),
        "identifier": str(plugin.identifier),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "state": base64.b64encode(raw).decode("ascii"),
    }
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_beside(path, ".tmp")  # named so that a killed run's leftover is reaped by the next
        tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
    except (OSError, OutputError) as error:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        reason = error.message if isinstance(error, OutputError) else error.strerror or error
        raise PluginError(
            f"cannot write the state of plugin {plugin.name} to {path}: {reason}",
            hint=f"make {path.parent} a writable folder, or save the session somewhere else",
        ) from None
    return path


def apply_file(plugin: Any, path: Path) -> None:
    """Restore a preset or state file into ``plugin``; :class:`PluginError` if it is unusable."""
    if not path.is_file():
        raise PluginError(f"{path}: no such preset or state file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PluginError(f"{path}: cannot read this preset or state file ({error.strerror or error})",
                          hint="check that the file is readable (its permissions, or the disk)") from None
    if path.suffix.lower() == VSTPRESET_SUFFIX or data.startswith(_VSTPRESET_MAGIC):
        chunks = check_vstpreset(data, path)
        if type(plugin).__name__ != "VST3Plugin":
            raise PluginError(f"{path}: a .vstpreset applies to VST3 plugins only, not {plugin.name!r}")
        check_class_id(data, plugin, path)
        raw = vstpreset_to_raw_state(chunks)
        check_raw_state(raw, path)
        _hand_over(plugin, path, lambda: setattr(plugin, "raw_state", raw))
        return
    raw = read_state(data, path, plugin)
    _hand_over(plugin, path, lambda: setattr(plugin, "raw_state", raw))


def _hand_over(plugin: Any, path: Path, action: Any) -> None:
    try:
        action()
    except (RuntimeError, ValueError) as error:
        raise PluginError(f"{path}: plugin {plugin.name} refused this state: {error}") from None


def read_state(data: bytes, path: Path, plugin: Any) -> bytes:
    """The raw state bytes in ``data`` (a mixhost state file or bare raw state), validated."""
    stripped = data.lstrip()
    raw = _from_state_document(stripped, path, plugin) if stripped.startswith(b"{") else data
    check_raw_state(raw, path)
    return raw


def _from_state_document(data: bytes, path: Path, plugin: Any) -> bytes:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PluginError(f"{path}: not a readable state file ({error})") from None
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise PluginError(f"{path}: not a mixhost plugin state file")
    if document.get("version") != STATE_VERSION:
        raise PluginError(f"{path}: state file version {document.get('version')!r} is not supported")
    identifier = str(document.get("identifier", ""))
    if identifier != str(plugin.identifier):
        raise PluginError(
            f"{path}: this state belongs to plugin {document.get('plugin')!r} ({identifier}), "
            f"not {plugin.name!r} ({plugin.identifier})"
        )
    try:
        raw = base64.b64decode(str(document["state"]), validate=True)
    except (KeyError, ValueError) as error:
        raise PluginError(f"{path}: state data is damaged ({error})") from None
    if hashlib.sha256(raw).hexdigest() != document.get("sha256"):
        raise PluginError(f"{path}: state data is damaged (checksum mismatch)")
    return raw


def check_class_id(data: bytes, plugin: Any, path: Path) -> None:
    """Refuse a .vstpreset written for another plugin: its class id must be the plugin's own.

    The plugin's class id is read from the header of its own ``preset_data``, so
    both sides are compared in the same (Steinberg preset) form.
    """
    try:
        own = bytes(plugin.preset_data)[8:40]
    except (AttributeError, RuntimeError, ValueError):
        return  # the plugin cannot say; the chunk checks above still apply
    theirs = data[8:40]
    if own and own.upper() != theirs.upper():
        raise PluginError(
            f"{path}: this .vstpreset is for another plugin (class id {theirs.decode('ascii')}), "
            f"not {plugin.name!r} (class id {own.decode('ascii', 'replace')})",
            hint=f"use a preset saved from {plugin.name}",
        )


def check_raw_state(raw: bytes, path: Path) -> None:
    """Check the structure of plugin state: JUCE's binary XML (VST3), or XML / a binary plist (AU)."""
    if raw.startswith(b"<?xml"):
        _check_parses(lambda: ElementTree.fromstring(raw.rstrip(b"\x00")), path, "XML")
        return
    if raw.startswith(b"bplist"):
        _check_parses(lambda: plistlib.loads(raw, fmt=plistlib.FMT_BINARY), path, "binary property list")
        return
    if not raw.startswith(_JUCE_BINARY_XML):
        raise PluginError(f"{path}: not plugin state data (unknown header {raw[:4]!r})")
    if len(raw) < 8:
        raise PluginError(f"{path}: plugin state is truncated")
    (length,) = struct.unpack_from("<I", raw, 4)
    body = raw[8 : 8 + length]
    if len(body) < length:
        raise PluginError(f"{path}: plugin state is truncated ({len(body)} of {length} bytes)")
    try:
        root = ElementTree.fromstring(body.rstrip(b"\x00"))
    except ElementTree.ParseError as error:
        raise PluginError(f"{path}: plugin state is damaged ({error})") from None
    if root.tag != "VST3PluginState":
        raise PluginError(f"{path}: plugin state has root <{root.tag}>, expected <VST3PluginState>")


def _check_parses(parse: Any, path: Path, kind: str) -> None:
    """Refuse state that claims to be ``kind`` but does not parse as it."""
    try:
        parse()
    except (ElementTree.ParseError, plistlib.InvalidFileException, ValueError, TypeError,
            OverflowError, IndexError, KeyError) as error:
        raise PluginError(f"{path}: plugin state is damaged (not well-formed {kind}: {error})") from None


def check_vstpreset(data: bytes, path: Path) -> dict[bytes, bytes]:
    """Check a Steinberg .vstpreset header and chunk list; returns its chunks by id."""
    if len(data) < _VSTPRESET_HEADER or not data.startswith(_VSTPRESET_MAGIC):
        raise PluginError(f"{path}: not a .vstpreset file (bad header)")
    class_id = data[8:40]
    if not all(chr(c) in "0123456789ABCDEFabcdef" for c in class_id):
        raise PluginError(f"{path}: .vstpreset class id is damaged")
    (list_offset,) = struct.unpack_from("<q", data, 40)
    if not _VSTPRESET_HEADER <= list_offset <= len(data) - 8:
        raise PluginError(f"{path}: .vstpreset chunk list lies outside the file (truncated?)")
    if data[list_offset : list_offset + 4] != b"List":
        raise PluginError(f"{path}: .vstpreset has no chunk list where its header says")
    (count,) = struct.unpack_from("<i", data, list_offset + 4)
    entries_end = list_offset + 8 + 20 * count
    if count < 1 or entries_end > len(data):
        raise PluginError(f"{path}: .vstpreset chunk list is damaged")
    chunks: dict[bytes, bytes] = {}
    for index in range(count):
        chunk_id, offset, size = struct.unpack_from("<4sqq", data, list_offset + 8 + 20 * index)
        if offset < _VSTPRESET_HEADER or size < 0 or offset + size > list_offset:
            raise PluginError(f"{path}: .vstpreset chunk {index} lies outside the file (truncated?)")
        chunks[chunk_id] = data[offset : offset + size]
    if b"Comp" not in chunks:
        raise PluginError(f"{path}: .vstpreset holds no component state (no Comp chunk)")
    return chunks


# JUCE's MemoryBlock::toBase64Encoding alphabet: "<size>." then 6-bit groups, least significant first
_JUCE_BASE64 = ".ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"


_JUCE_BASE64_CODES = np.frombuffer(_JUCE_BASE64.encode("ascii"), np.uint8)
_SIX_BIT_WEIGHTS = (1 << np.arange(6, dtype=np.uint8)).astype(np.uint8)


def juce_base64(data: bytes) -> str:
    """JUCE's encoding of ``data``: the bytes as one little-endian number, in 6-bit digits.

    Done on the bit array (least significant bit first) rather than on a big
    Python int, whose repeated shifts make a long state quadratic to encode.
    """
    bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
    count = (bits.size + 5) // 6
    groups = np.zeros(count * 6, np.uint8)
    groups[: bits.size] = bits
    digits = groups.reshape(count, 6) @ _SIX_BIT_WEIGHTS
    return f"{len(data)}." + _JUCE_BASE64_CODES[digits].tobytes().decode("ascii")


def vstpreset_to_raw_state(chunks: dict[bytes, bytes]) -> bytes:
    """The JUCE VST3 host state (what ``raw_state`` takes) holding a preset's chunks."""
    root = ElementTree.Element("VST3PluginState")
    ElementTree.SubElement(root, "IComponent").text = juce_base64(chunks[b"Comp"])
    if chunks.get(b"Cont"):
        ElementTree.SubElement(root, "IEditController").text = juce_base64(chunks[b"Cont"])
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n\n' + ElementTree.tostring(root) + b"\x00"
    return _JUCE_BINARY_XML + struct.pack("<I", len(xml)) + xml
