"""Validation of loaded documents against the schema, with messages a user can act on.

``jsonschema`` finds the problems; this module picks the most useful one and
words it: file:line:column, the key path, what was expected, did-you-mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..errors import SessionError
from ..suggest import closest, did_you_mean
from . import yaml_doc
from .yaml_doc import to_plain

_TYPE_WORDS = {
    "number": "a number", "integer": "a whole number", "string": "a text value", "boolean": "true or false",
    "object": "a mapping of keys to values", "array": "a list", "null": "nothing",
}


def validate(document: Any, schema: dict[str, Any], file: str) -> None:
    """Raise :class:`SessionError` for the most relevant schema violation, if any."""
    if document is None:
        raise SessionError("the file is empty", file=file, hint="start from examples/demo/session.yaml")
    validator = Draft202012Validator(schema)
    errors = list(validator.iter_errors(to_plain(document)))
    if not errors:
        return
    error = _most_relevant(errors)
    raise _as_session_error(error, document, file, more=len(errors) - 1)


def _leaves(errors: Iterable[ValidationError]) -> Iterable[ValidationError]:
    for error in errors:
        if error.context and not _required_choices(error):
            yield from _leaves(error.context)
        else:
            yield error


def _required_choices(error: ValidationError) -> list[str]:
    """The keys of a ``oneOf`` whose branches each require one key (``file`` or ``session``);
    empty for any other error.  Its own message says more than its branches' "missing key"."""
    branches = error.validator_value if error.validator == "oneOf" else None
    if not isinstance(branches, list) or not all(isinstance(b, dict) and set(b) == {"required"} for b in branches):
        return []
    return [str(key) for branch in branches for key in branch["required"]]


def _one_of_keys(keys: list[str]) -> str:
    quoted = [repr(k) for k in keys]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _most_relevant(errors: list[ValidationError]) -> ValidationError:
    # The deepest error is the most specific; among equals prefer unknown keys and enums,
    # which come with a did-you-mean.
    preference = {"additionalProperties": 0, "enum": 1, "const": 3, "required": 2}
    candidates = [e for e in _leaves(errors) if e.validator not in ("if", "anyOf", "allOf")] or errors
    return max(candidates, key=lambda e: (len(e.absolute_path), -preference.get(str(e.validator), 2)))


def _as_session_error(error: ValidationError, document: Any, file: str, more: int) -> SessionError:
    path = list(error.absolute_path)
    message, line_col = _describe(error, document, path)
    line, column = line_col or yaml_doc.locate(document, path)
    if more > 0 and error.validator != "additionalProperties":
        message += f" ({more} more problem{'s' if more > 1 else ''} may follow once this is fixed)"
    return SessionError(message, file=file, line=line, column=column, key_path=path)


def _describe(
    error: ValidationError, document: Any, path: list[Any]
) -> tuple[str, tuple[int | None, int | None] | None]:
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed]
        key = str(unknown[0]) if unknown else "?"
        return (
            _misplaced_param(key, schema) or f"unknown key {key!r}; {did_you_mean(key, allowed)}",
            yaml_doc.key_position(document, path, key),
        )
    if kind == "enum":
        options = [str(v) for v in error.validator_value]
        return f"unknown value {error.instance!r}; {did_you_mean(str(error.instance), options)}", None
    if kind == "const":
        return f"expected {error.validator_value!r}, got {error.instance!r}", None
    if kind == "type":
        expected = error.validator_value
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in ([expected] if isinstance(expected, str) else expected))
        return f"expected {words}, got {error.instance!r}", None
    if kind in ("minimum", "maximum"):
        unit = schema.get("description", "")
        bound = "below the minimum" if kind == "minimum" else "above the maximum"
        return f"{error.instance!r} is {bound} {error.validator_value!r}" + (f" ({unit})" if unit else ""), None
    if kind in ("exclusiveMinimum", "exclusiveMaximum"):
        side = "above" if kind == "exclusiveMinimum" else "below"
        return f"{error.instance!r} must be {side} {error.validator_value!r}", None
    if kind == "multipleOf":
        unit = schema.get("description", "")
        step = error.validator_value
        nearest = " or ".join(str(v) for v in sorted({max(step, error.instance // step * step),
                                                         -(-error.instance // step) * step}))
        return (f"{error.instance!r} is not a multiple of {step!r}" + (f" ({unit})" if unit else "")
                + f"; use {nearest}"), None
    if kind == "required":
        missing = [k for k in error.validator_value if k not in (error.instance or {})]
        return f"missing key {missing[0]!r}" if missing else error.message, None
    if kind == "pattern" and error.path and error.relative_schema_path and "propertyNames" in error.relative_schema_path:
        return f"the name {error.instance!r} may use only letters, digits, '_', '-' and '.'", None
    if kind == "pattern" and schema.get("description"):
        return f"{error.instance!r} is not {schema['description']}", None
    if kind == "pattern":
        return f"{error.instance!r} may use only letters, digits, '_', '-' and '.'", None
    if kind == "not" and isinstance(error.validator_value, dict) and set(error.validator_value) == {"required"}:
        both = [str(k) for k in error.validator_value["required"]]
        return (f"give either {_one_of_keys(both)}, not both",
                yaml_doc.key_position(document, path, both[-1]))
    if choices := _required_choices(error):
        given = [k for k in choices if isinstance(error.instance, dict) and k in error.instance]
        if len(given) > 1:
            return f"give either {_one_of_keys(given)}, not both", yaml_doc.key_position(document, path, given[-1])
        return f"needs the key {_one_of_keys(choices)}", None
    if kind == "anyOf" and schema.get("anyOf") and all("required" in s for s in schema["anyOf"]):
        keys = ", ".join(repr(k) for s in schema["anyOf"] for k in s["required"])
        return f"needs one of the keys {keys}", None
    if kind in ("minItems", "maxItems"):
        return f"expected {error.validator_value} item(s) here ({error.message})", None
    return error.message, None


def _misplaced_param(key: str, schema: dict[str, Any]) -> str | None:
    """The message for a stage parameter written beside ``params:`` instead of under it.

    A stage's parameters are known from its schema; a plugin's (or a user
    stage's) are not, so there a key that is no near miss of a stage key
    gets the same advice as a possibility.
    """
    properties = schema.get("properties", {})
    params = properties.get("params")
    if not isinstance(params, dict) or key in properties:
        return None
    names = params.get("properties", {})
    if key in names:
        return f"{key!r} is a parameter of this stage: move it into params: (params: {{{key}: ...}})"
    near = closest(key, names)
    if near is not None and closest(key, properties) is None:
        return f"unknown key {key!r}; did you mean the parameter {near!r}? it goes under params: (params: {{{near}: ...}})"
    if "properties" not in params and closest(key, properties) is None:
        return (f"unknown key {key!r}; if it is one of the stage's parameters, move it into params: "
                f"(params: {{{key}: ...}}); the other keys here are {', '.join(sorted(properties))}")
    return None
