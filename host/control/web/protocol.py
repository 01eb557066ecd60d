"""The browser mixer's messages: JSON over one WebSocket, the schema as data.

A browser sends one JSON object per WebSocket text message; ``type`` says
which (JSON Schema draft 2020-12, checked with :mod:`jsonschema`):

* ``set``       ``{"address", "value"}``: a value in the parameter's own unit
  (a number, ``true``/``false`` or a choice's name);
* ``set_norm``  ``{"address", "value"}``: a control position in 0..1 along
  the parameter's scale (:mod:`host.scales`);
* ``touch`` / ``release`` ``{"address"}``: a hand on a control and off it (the
  engine's touch for automation recording);
* ``select``    ``{"strip"}``: the selected strip, by address or name;
* ``transport`` ``{"command", "value"?}``: play, stop, loop, locate (seconds);
* ``snapshot``  ``{"action": "save" | "recall", "name", "fade_s"?}``;
* ``save``: the session file gets the mix (the same as the ``s`` key).

Nothing here names a file or a plugin: no message can load one or write
anywhere but the session and its autosave.

The server answers with ``layout`` (everything the page is built from, sent
on every connect), ``values`` (coalesced changes: ``address -> [position,
value, display]``), ``shown`` (the display text of a sender's own move),
``meters``, ``selected``, ``snapshots`` and ``error``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from ...errors import UserInputError

MAX_MESSAGE_BYTES = 4096
TRANSPORT_COMMANDS = ("play", "stop", "play_stop", "locate", "loop", "unloop", "loop_toggle")
SNAPSHOT_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$"

_ADDRESS = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[A-Za-z0-9_./*-]+$"}
_VALUE = {"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string", "maxLength": 64}]}


def _message(kind: str, properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"type": {"const": kind}, **properties},
        "required": ["type", *required],
        "additionalProperties": False,
    }


MESSAGES: dict[str, dict[str, Any]] = {
    "set": _message("set", {"address": _ADDRESS, "value": _VALUE}, ("address", "value")),
    "set_norm": _message("set_norm", {"address": _ADDRESS, "value": {"type": "number", "minimum": 0, "maximum": 1}},
                         ("address", "value")),
    "touch": _message("touch", {"address": _ADDRESS}, ("address",)),
    "release": _message("release", {"address": _ADDRESS}, ("address",)),
    "select": _message("select", {"strip": _ADDRESS}, ("strip",)),
    "transport": _message("transport", {"command": {"enum": list(TRANSPORT_COMMANDS)},
                                        "value": {"type": "number", "minimum": 0}}, ("command",)),
    "snapshot": _message("snapshot", {"action": {"enum": ["save", "recall"]},
                                      "name": {"type": "string", "pattern": SNAPSHOT_NAME},
                                      "fade_s": {"type": "number", "minimum": 0, "maximum": 60}},
                         ("action", "name")),
    "save": _message("save", {}),
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mixhost browser mixer: a message from the page",
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"enum": list(MESSAGES)}},
    "oneOf": list(MESSAGES.values()),
}

_TYPE_CHECK = Draft202012Validator({"type": "object", "required": ["type"],
                                    "properties": {"type": {"enum": list(MESSAGES)}}})
_VALIDATORS = {kind: Draft202012Validator(schema) for kind, schema in MESSAGES.items()}


class ProtocolError(UserInputError):
    """A message the server cannot take (the client gets it back as an ``error`` message)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Message:
    type: str
    fields: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


def decode(text: str | bytes) -> Message:
    """One WebSocket message -> a checked :class:`Message`; :class:`ProtocolError` says what is wrong."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(text)} bytes; at most {MAX_MESSAGE_BYTES}", "too_long")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except ProtocolError:
        raise
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"not JSON: {error}", "malformed") from None
    errors = sorted(_TYPE_CHECK.iter_errors(data), key=lambda e: e.path)
    if errors:
        raise ProtocolError(f"{_where(errors[0])}{errors[0].message}; a message is an object with a `type` "
                            f"of {', '.join(MESSAGES)}", "schema")
    kind = data["type"]
    errors = sorted(_VALIDATORS[kind].iter_errors(data), key=lambda e: e.path)
    if errors:
        raise ProtocolError(f"{kind}: {_where(errors[0])}{errors[0].message}", "schema")
    value = data.get("value")
    if isinstance(value, float) and not math.isfinite(value):   # json.loads gives inf for 1e999
        raise ProtocolError(f"{kind}: value {value} is not a finite number", "not_finite")
    return Message(kind, {k: v for k, v in data.items() if k != "type"})


def _refuse_constant(name: str) -> Any:
    raise ProtocolError(f"{name} is not a number: send a finite value", "not_finite")


def _where(error: Any) -> str:
    path = "/".join(str(p) for p in error.absolute_path)
    return f"at {path}: " if path else ""


def encode(kind: str, **fields: Any) -> str:
    """A server message (compact JSON; non-finite numbers never reach the page)."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":"), allow_nan=False)
