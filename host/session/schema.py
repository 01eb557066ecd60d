"""The session and chain file schema, defined once, as data (JSON Schema).

`mixhost schema` prints it so editors can autocomplete session files; the
loader validates against it with ``jsonschema``.  Stage entries are built
from each stage type's declared ``PARAMS`` and ``OPTIONS``, so a new stage
type appears in the schema without editing this file.
"""

from __future__ import annotations

import functools
from typing import Any

from ..dsp.pan_law import PAN_LAWS

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
RESERVED_STAGE_IDS = ("gain_db", "pan", "mute", "solo", "sends", "level_db")

JSON = dict[str, Any]


def _number(lo: float, hi: float, default: float, doc: str) -> JSON:
    return {"type": "number", "minimum": lo, "maximum": hi, "default": default, "description": doc}


GAIN_DB = _number(-120.0, 24.0, 0.0, "gain in dB; -120 is silence")
PAN = _number(-1.0, 1.0, 0.0, "-1 hard left, 0 centre, +1 hard right (balance on stereo sources)")


def _strict(properties: JSON, required: tuple[str, ...] = (), doc: str = "") -> JSON:
    schema: JSON = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if doc:
        schema["description"] = doc
    return schema


def _names(item: JSON) -> JSON:
    """A mapping from names (used in parameter addresses) to ``item``."""
    return {"type": "object", "propertyNames": {"pattern": NAME_PATTERN}, "additionalProperties": item}


STAGE_COMMON: JSON = {
    "id": {"type": "string", "pattern": NAME_PATTERN, "description": "name in parameter addresses"},
    "bypass": {"type": "boolean", "default": False},
    "notes": {"type": "string"},
}

PLUGIN_KEYS: JSON = {
    "plugin": {"type": "string", "description": "plugin name, looked up in the scan cache"},
    "path": {"type": "string", "description": "a .vst3 bundle or .component, relative to the session"},
    "preset": {"type": "string", "description": "a .vstpreset or saved state file"},
    "state": {"type": "string", "description": "saved plugin state file (written by Session.save)"},
    "params": {"type": "object", "description": "values keyed by the plugin's parameter names"},
    # accepted so that keying a plugin gets a clear error at build time, not "unknown key"
    "sidechain": {"type": "string", "description": "not supported for plugins: key a native stage instead"},
    "buses": {"enum": ["main"], "description": "run a plugin with auxiliary buses on its main buses only: "
              "its sidechain hears silence, its extra outputs are dropped"},
}

CHAIN_REF_KEYS: JSON = {
    "chain": {"type": "string", "description": "a chain file: a name in chains/ or a path"},
    "params": {
        "type": "object",
        "additionalProperties": {"type": "object"},
        "description": "overrides: {stage id: {param: value}}; a plugin's `state:` file goes here too",
    },
}


def _stage_type_schema(type_name: str, cls: Any) -> JSON:
    params = {spec.name: spec.to_json_schema() for spec in cls.PARAMS}
    props: JSON = {"type": {"const": type_name}, **STAGE_COMMON}
    # stages whose parameters are known only per instance (EQ bands, user Python stages) are
    # checked when the stage is built, with the same did-you-mean
    from ..stages.base import Stage

    dynamic = getattr(cls, "DYNAMIC_PARAMS", False) or cls.param_specs is not Stage.param_specs
    props["params"] = {"type": "object"} if dynamic else _strict(params)
    props.update(dict(cls.OPTIONS))
    return _strict(props, doc=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "")


def stage_entry_schema() -> JSON:
    from ..stages import all_stage_classes

    classes = all_stage_classes()
    branches: list[JSON] = [
        {"if": {"required": ["type"], "properties": {"type": {"const": name}}},
         "then": _stage_type_schema(name, cls)}
        for name, cls in classes.items()
    ]
    branches.append({
        "if": {"not": {"required": ["type"]}, "anyOf": [{"required": ["plugin"]}, {"required": ["path"]}]},
        "then": _strict({**STAGE_COMMON, **PLUGIN_KEYS}),
    })
    branches.append({
        "if": {"not": {"required": ["type"]}, "required": ["chain"]},
        "then": _strict({**CHAIN_REF_KEYS, "id": STAGE_COMMON["id"]}),
    })
    return {
        "type": "object",
        "description": "a stage: {type: ...}, a plugin {plugin: ...} / {path: ...}, or a chain file {chain: ...}",
        "properties": {"type": {"enum": sorted(classes)}},
        "anyOf": [{"required": [k]} for k in ("type", "plugin", "path", "chain")],
        "allOf": branches,
    }


def _chain() -> JSON:
    return {
        "description": "a list of stages, or the name/path of a chain file",
        "anyOf": [{"type": "array", "items": {"$ref": "#/$defs/stage"}}, {"type": "string"}],
    }


SEND: JSON = _strict({
    "level_db": {**GAIN_DB, "default": 0.0},
    "pre_fader": {"type": "boolean", "default": False},
})

INSTRUMENT: JSON = {
    "type": "object",
    "description": "render a MIDI file through an instrument plugin",
    "properties": {
        "plugin": {"type": "string"}, "path": {"type": "string"}, "midi": {"type": "string"},
        "track": {"type": ["integer", "string"]}, "channel": {"type": "integer", "minimum": 1, "maximum": 16},
        "params": {"type": "object"}, "preset": {"type": "string"},
        "state": PLUGIN_KEYS["state"], "tail_s": {"type": "number", "minimum": 0},
    },
    "required": ["midi"],
    "additionalProperties": False,
}

# one channel of a live input: a JACK port (`system:capture_1`) or a PortAudio input channel
# number (from 1); `minimum` holds only for numbers and `minLength` only for text
_INPUT_CHANNEL: JSON = {"type": ["string", "integer"], "minimum": 1, "minLength": 1,
                        "description": "a JACK port name, or a PortAudio input channel number from 1"}

TRACK_PROPS: JSON = {
    "source": {"type": "string", "description": "audio file, relative to the session file"},
    "instrument": INSTRUMENT,
    "input": {**_INPUT_CHANNEL, "type": ["string", "integer", "array"], "items": _INPUT_CHANNEL,
              "description": "live input for `mixhost live`: a JACK port name, or a PortAudio input "
                             "channel number from 1; a list of two for a stereo input"},
    "gain_db": GAIN_DB,
    "pan": PAN,
    "pan_law": {"enum": list(PAN_LAWS)},
    "mute": {"type": "boolean", "default": False},
    "solo": {"type": "boolean", "default": False},
    "notes": {"type": "string", "description": "the mixer's notes on this track"},
    "chain": _chain(),
    "sends": _names(SEND),
    "output": {"type": "string", "pattern": NAME_PATTERN, "default": "master"},
}

BUS_PROPS: JSON = {
    "gain_db": GAIN_DB,
    "pan": PAN,
    "mute": {"type": "boolean", "default": False},
    "notes": {"type": "string"},
    "chain": _chain(),
    "sends": _names(SEND),
    "output": {"type": "string", "pattern": NAME_PATTERN, "default": "master"},
}

REFERENCE: JSON = {
    "anyOf": [
        {"type": "string"},
        _strict({"path": {"type": "string"}, "note": {"type": "string"}}, required=("path",)),
    ]
}

SESSION_META: JSON = _strict({
    "name": {"type": "string"},
    "sample_rate": {"type": "integer", "minimum": 8000, "maximum": 768000, "default": 48000},
    "pan_law": {"enum": list(PAN_LAWS), "default": "-3db"},
    # a multiple of the 64-sample grid that automation steps and plugins are called on: then
    # every stage and plugin sees the same calls at any block size, and the mix is the same
    "block_size": {"type": "integer", "minimum": 64, "maximum": 65536, "multipleOf": 64, "default": 8192,
                   "description": "offline block size in samples, a multiple of 64; the mix does not depend on it"},
    "notes": {"type": "string", "description": "the mixer's vision, for the mastering engineer"},
    "references": {"type": "array", "items": REFERENCE},
}, doc="what the session is")

OUTPUTS: JSON = _strict({
    "mixdown": {"type": "string", "default": "out/mix.wav"},
    "stems": {"type": ["string", "boolean"], "description": "a folder for per-track stems, or false"},
    "format": {"enum": ["wav", "flac"], "default": "wav"},
    "bit_depth": {"enum": [16, 24, 32, "float"], "default": 24},
    "sample_rate": {"type": "integer", "minimum": 8000, "maximum": 768000},
    "tail_s": {"type": "number", "minimum": 0, "maximum": 600, "default": 0},
    "dither": {"type": "boolean", "default": True},
})

AUTOMATION_LANE: JSON = _strict({
    "interpolation": {"enum": ["linear", "step"], "default": "linear"},
    "points": {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "array",
            "prefixItems": [{"type": "number", "minimum": 0}, {"type": ["number", "boolean", "string"]}],
            "minItems": 2,
            "maxItems": 2,
            "description": "[time in seconds, value]",
        },
    },
}, required=("points",))


# -- control surfaces: MIDI mappings (a map file, or the session's `controllers:`) -----------------
MIDI_SOURCES = ("cc", "cc14", "nrpn", "rpn", "pitchbend", "note", "pressure", "program")
ENCODINGS = ("absolute", "twos_complement", "signed_bit", "binary_offset", "increment")
CURVES = ("scale", "linear", "exponent")
TRANSPORT_ACTIONS = ("play", "stop", "play_stop", "loop_toggle", "rewind", "forward", "panic")

_TARGET_ITEM: JSON = _strict({
    "target": {"type": "string", "description": "a parameter address, a pattern such as "
                                                "tracks/*/gain_db, strip/1/gain_db, or selected/..."},
    "min": {"type": ["number", "boolean", "string"], "description": "the value at the control's low end"},
    "max": {"type": ["number", "boolean", "string"], "description": "the value at the control's high end"},
}, required=("target",))

MIDI_MAPPING: JSON = _strict({
    "source": {"enum": list(MIDI_SOURCES), "description": "the kind of MIDI message"},
    "channel": {"type": "integer", "minimum": 1, "maximum": 16, "default": 1},
    "number": {"type": "integer", "minimum": 0, "maximum": 16383,
               "description": "controller, note or (N)RPN parameter number; for cc14 the MSB controller (0-31)"},
    "lsb": {"type": "integer", "minimum": 0, "maximum": 127,
            "description": "cc14: the LSB controller (default: number + 32)"},
    "target": {"type": "string", "description": "a parameter address, a pattern such as tracks/*/gain_db "
                                               "(a macro), strip/N/... (the Nth strip), or selected/..."},
    "targets": {"type": "array", "items": _TARGET_ITEM, "minItems": 1,
                "description": "a macro: several targets, each with its own range, landing in one block"},
    "transport": {"enum": list(TRANSPORT_ACTIONS), "description": "a transport button instead of a target"},
    "snapshots": {"type": "array", "items": {"type": "string"},
                  "description": "program change: the snapshots recalled by programs 0, 1, ...; "
                                 "default: the session's snapshots in order"},
    "fade_s": {"type": "number", "minimum": 0, "maximum": 60, "default": 0},
    "min": _TARGET_ITEM["properties"]["min"],
    "max": _TARGET_ITEM["properties"]["max"],
    "curve": {"enum": list(CURVES), "default": "scale",
              "description": "scale: the parameter's own taper; linear; exponent (see `exponent`)"},
    "exponent": {"type": "number", "exclusiveMinimum": 0, "maximum": 16, "default": 2},
    "invert": {"type": "boolean", "default": False},
    "encoding": {"enum": list(ENCODINGS), "default": "absolute",
                 "description": "relative encoders: twos_complement, signed_bit (Mackie), binary_offset, "
                                "increment (NRPN data increment/decrement)"},
    "step": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.01,
             "description": "relative: the share of the travel one tick moves"},
    "acceleration": {"type": "number", "minimum": 0, "maximum": 10, "default": 0,
                     "description": "relative: extra speed for fast turns (several ticks at once)"},
    "pickup": {"type": "boolean", "description": "soft takeover: ignore the control until it meets the value"},
    "mode": {"enum": ["toggle", "momentary"], "default": "toggle", "description": "note: toggle or momentary"},
    "feedback": {"type": "boolean", "default": True, "description": "send the value back to --midi-out"},
}, required=("source",))

CONTROLLER_PROPS: JSON = {
    "description": {"type": "string"},
    "device": {"type": "string", "description": "the controller this map is for"},
    "pickup": {"type": "boolean", "default": False, "description": "soft takeover for every mapping"},
    "maps": {"type": "array", "items": {"type": "string"},
             "description": "map files to include: names in controllers/ or paths"},
    "mappings": {"type": "array", "items": MIDI_MAPPING},
}

SNAPSHOT: JSON = {"type": "object", "description": "parameter address -> value",
                  "additionalProperties": {"type": ["number", "boolean", "string"]}}


@functools.lru_cache(maxsize=1)
def controller_schema() -> JSON:
    """A MIDI map file (`controllers/NAME.yaml`), and the session's `controllers:` key."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "mixhost-controller.schema.json",
        "title": "mixhost MIDI controller map",
        **_strict(CONTROLLER_PROPS),
    }


@functools.lru_cache(maxsize=1)
def session_schema() -> JSON:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "mixhost-session.schema.json",
        "title": "mixhost session",
        "type": "object",
        "properties": {
            "session": SESSION_META,
            "tracks": _names(_strict(TRACK_PROPS)),
            "buses": _names(_strict(BUS_PROPS)),
            "master": _strict({"gain_db": GAIN_DB, "chain": _chain(), "notes": {"type": "string"}}),
            "outputs": OUTPUTS,
            "automation": {
                "type": "object",
                "description": "parameter address -> lane",
                "additionalProperties": AUTOMATION_LANE,
            },
            "controllers": _strict(CONTROLLER_PROPS, doc="MIDI mappings for `mixhost live --midi-in`"),
            "snapshots": {**_names(SNAPSHOT), "description": "saved sets of values, recalled by name"},
        },
        "required": ["tracks"],
        "additionalProperties": False,
        "$defs": {"stage": stage_entry_schema()},
    }


@functools.lru_cache(maxsize=1)
def chain_schema() -> JSON:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "mixhost-chain.schema.json",
        "title": "mixhost chain",
        "type": "object",
        "properties": {
            "description": {"type": "string"},
            "chain": {"type": "array", "items": {"$ref": "#/$defs/stage"}},
        },
        "required": ["chain"],
        "additionalProperties": False,
        "$defs": {"stage": stage_entry_schema()},
    }
