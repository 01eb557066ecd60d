"""A :class:`~.layout.Layout` as an Open Stage Control session (``.json``).

The session file of Open Stage Control 1.x: ``{"createdWith", "version",
"type": "session", "content": <root widget>}``; the root holds ``tabs``,
each tab its ``widgets``, placed in pixels (``top``, ``left``, ``width``,
``height``) in the default layout.  A widget sends ``preArgs`` then its value
to its ``address``, as ``typeTags`` say, and is updated by messages to the
same address (and preArgs).  Properties left out take their defaults when
Open Stage Control loads the session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .layout import Control, Kind, Layout, Page, color

SUFFIX = ".json"
CREATED_WITH = "Open Stage Control"
VERSION = "1.26.2"            # the 1.x session format

_TYPE = {Kind.FADER: "fader", Kind.METER: "fader", Kind.KNOB: "knob", Kind.TOGGLE: "button",
         Kind.PUSH: "button", Kind.CHOICE: "switch", Kind.LABEL: "text", Kind.DISPLAY: "text"}


def write_open_stage_control(layout: Layout, path: Path, target: str | None = None) -> None:
    """Write ``layout`` to ``path``; ``target`` (``host:port``) is where its widgets send (default: the
    Open Stage Control server's ``send`` setting)."""
    path.write_text(json.dumps(to_session(layout, target), indent=2) + "\n", encoding="utf-8")


def to_session(layout: Layout, target: str | None = None) -> dict[str, Any]:
    """The session document as plain data."""
    targets = [target] if target else []
    root = {
        "type": "root", "id": "root", "label": layout.title, "tabsPosition": "top",
        "widgets": [], "tabs": [_tab(page, targets) for page in layout.pages],
    }
    return {"createdWith": CREATED_WITH, "version": VERSION, "type": "session", "content": root}


def widget_id(control: Control) -> str:
    """A widget id: the control's id with its dots spelled ``__`` (ids are referenced as ``@{id.property}``)."""
    return control.id.replace(".", "__")


def _tab(page: Page, targets: list[str]) -> dict[str, Any]:
    return {"type": "tab", "id": "tab__" + page.name.replace("/", "__").replace(":", "__"), "label": page.title,
            "layout": "default", "widgets": [_widget(c, targets) for c in page.controls], "tabs": []}


def _widget(control: Control, targets: list[str]) -> dict[str, Any]:
    frame = control.frame
    widget: dict[str, Any] = {
        "type": _TYPE[control.kind], "id": widget_id(control),
        "top": frame.y, "left": frame.x, "width": frame.w, "height": frame.h,
        "label": control.label or False, "colorWidget": _hex(control.role), "interaction": control.sends,
    }
    widget.update(_kind_properties(control))
    if control.kind is Kind.DISPLAY:   # a text shows its value
        widget["value"] = control.value if control.value is not None else ""
    elif control.value is not None:    # the value a widget takes when the session opens
        widget["default"] = int(control.value) if control.kind in (Kind.TOGGLE, Kind.CHOICE) else control.value
    if control.address:
        widget.update({"address": control.address, "target": targets if control.sends else []})
    return widget


def _kind_properties(control: Control) -> dict[str, Any]:
    kind = control.kind
    if kind in (Kind.FADER, Kind.KNOB, Kind.METER):
        props: dict[str, Any] = {"range": {"min": control.lo, "max": control.hi}, "preArgs": [],
                                 "typeTags": "f"}
        if control.parameter is not None and control.parameter.endswith("/pan"):
            props["origin"] = 0.5   # centre: the pan's middle position
        return props
    if kind is Kind.TOGGLE:
        return {"mode": "toggle", "on": 1, "off": 0, "preArgs": [], "typeTags": "i"}
    if kind is Kind.PUSH:
        # a tap sends its "on" value alone; the constant arguments are preArgs + on (none: on is null)
        args = list(control.args)
        return {"mode": "tap", "preArgs": args[:-1], "on": args[-1] if args else None, "off": 0,
                "typeTags": "".join(_tag(a) for a in args)}
    if kind is Kind.CHOICE:
        return {"values": {choice: index for index, choice in enumerate(control.choices)}, "layout": "horizontal",
                "preArgs": [], "typeTags": "i"}
    if kind is Kind.DISPLAY:
        return {"align": "center"}
    return {"value": control.label, "align": "center", "label": False}


def _tag(value: object) -> str:
    if isinstance(value, str):
        return "s"
    return "i" if isinstance(value, int) and not isinstance(value, bool) else "f"


def _hex(role: str) -> str:
    r, g, b, _ = color(role)
    return "#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in (r, g, b)))
