"""A :class:`~.layout.Layout` as a TouchOSC document (``.tosc``): zlib-compressed XML, ``<lexml version='3'>``.

The format, as the TouchOSC editor saves it: a root ``<node type='GROUP'>``
holding ``<properties>`` (typed ``<property type='s|b|i|f|r|c'>`` with a
``<key>`` and a ``<value>``), ``<values>`` (the control's value objects:
``x``, ``touch``, ``text``, ``page``), ``<messages>`` (``<osc>`` with its
flags, ``<triggers>``, and a ``<path>`` and ``<arguments>`` made of
``<partial>`` elements) and ``<children>``.  Pages are the GROUP children
of a PAGER; a child's frame is relative to its parent.

This is the current TouchOSC, not TouchOSC Mk1 (whose ``.touchosc`` files
are zipped XML of another schema).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from .layout import SUBSCRIBE_WHAT, Control, Kind, Layout, OscArg, Page, Rect, color

LEXML_VERSION = "3"
SUFFIX = ".tosc"
_NAMESPACE = uuid.UUID("5f7d0c52-0b8e-4d7a-9a57-6d6978686f73")   # the IDs are stable: same layout, same file

# TouchOSC enumerations (manual: Script, Enumerations)
BUTTON_MOMENTARY, BUTTON_TOGGLE_PRESS = 0, 2
ORIENTATION_NORTH, ORIENTATION_EAST = 0, 1
ALIGN_CENTER = 2
CONNECTION_1 = "00001"           # send and receive on the first configured OSC connection

PropertyValue = bool | int | float | str | Rect | tuple[float, float, float, float]

# a control kind -> (TouchOSC node type, its value objects)
_NODE_TYPE = {
    Kind.FADER: "FADER", Kind.METER: "FADER", Kind.KNOB: "RADIAL", Kind.TOGGLE: "BUTTON",
    Kind.PUSH: "BUTTON", Kind.CHOICE: "RADIO", Kind.LABEL: "LABEL", Kind.DISPLAY: "LABEL",
}

# the script of the root: subscribe at once and renew, so the host keeps sending feedback (Lua, TouchOSC API)
_SUBSCRIBE_SCRIPT = """\
-- mixhost: subscribe to feedback at once, and renew it every {interval_ms} ms
local last = nil
function update()
  local now = getMillis()
  if last == nil or now - last >= {interval_ms} then
    last = now
    sendOSC('{address}', '{what}')
  end
end
"""


def write_touchosc(layout: Layout, path: Path) -> None:
    """Write ``layout`` to ``path`` as a .tosc file."""
    path.write_bytes(zlib.compress(to_xml(layout), 9))


def to_xml(layout: Layout) -> bytes:
    """The document's XML, uncompressed."""
    root = ET.Element("lexml", version=LEXML_VERSION)
    root.append(_document(layout))
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


# -- nodes -------------------------------------------------------------------------------------------------------
def _document(layout: Layout) -> ET.Element:
    script = _SUBSCRIBE_SCRIPT.format(interval_ms=int(layout.resubscribe_s * 1000), address=layout.subscribe,
                                      what=SUBSCRIBE_WHAT)
    top = _node("GROUP", layout.title, f"{layout.title}/root", Rect(0, 0, layout.width, layout.height),
                {"script": script, "color": (0.0, 0.0, 0.0, 1.0)}, ["touch"])
    pager = _node("PAGER", "pages", f"{layout.title}/pager", Rect(0, 0, layout.width, layout.height),
                  {"tabbar": True, "tabLabels": True, "tabbarDoubleTap": False, "tabbarSize": layout.tab_bar,
                   "textSizeOn": 14, "textSizeOff": 14, "color": (0.25, 0.25, 0.25, 1.0)}, ["page", "touch"])
    for page in layout.pages:
        _children(pager).append(_page(layout, page))
    _children(top).append(pager)
    return top


def _page(layout: Layout, page: Page) -> ET.Element:
    frame = Rect(0, layout.tab_bar, layout.width, layout.height - layout.tab_bar)
    group = _node("GROUP", page.name, f"{layout.title}/page/{page.name}", frame,
                  {"tabLabel": page.title, "color": (0.0, 0.0, 0.0, 0.0), "interactive": False}, ["touch"])
    children = _children(group)
    for control in page.controls:
        children.extend(_control(layout, control))
    return group


def _control(layout: Layout, control: Control) -> list[ET.Element]:
    """The node(s) of a control: buttons get a caption label on top (a BUTTON shows no text)."""
    kind = _NODE_TYPE[control.kind]
    props: dict[str, PropertyValue] = {"color": color(control.role), **_type_properties(control)}
    values = ["text", "touch"] if kind == "LABEL" else ["touch", "x"]
    opening = control.value
    text = control.label if control.kind is Kind.LABEL else opening if isinstance(opening, str) else ""
    node = _node(kind, control.id, f"{layout.title}/{control.id}", control.frame, props, values, text=text,
                 x=opening if isinstance(opening, float) else 0.0)
    message = _osc_message(control)
    if message is not None:
        ET.SubElement(node, "messages").append(message)
    nodes = [node]
    if kind == "BUTTON" and control.label:
        nodes.append(_node("LABEL", f"{control.id}.caption", f"{layout.title}/{control.id}.caption",
                           control.frame, {**_label_properties(), "background": False, "interactive": False},
                           ["text", "touch"], text=control.label))
    return nodes


def _type_properties(control: Control) -> dict[str, PropertyValue]:
    kind = control.kind
    if kind in (Kind.FADER, Kind.METER):
        return {"bar": True, "barDisplay": 0, "cursor": kind is Kind.FADER, "cursorDisplay": 0, "grid": False,
                "gridSteps": 10, "response": 0, "responseFactor": 100, "orientation": ORIENTATION_NORTH,
                "interactive": kind is Kind.FADER}
    if kind is Kind.KNOB:
        return {"centered": control.parameter is not None and control.parameter.endswith("/pan"),
                "inverted": False, "grid": False, "gridSteps": 10, "response": 0, "responseFactor": 100}
    if kind in (Kind.TOGGLE, Kind.PUSH):
        return {"buttonType": BUTTON_TOGGLE_PRESS if kind is Kind.TOGGLE else BUTTON_MOMENTARY,
                "press": True, "release": True, "valuePosition": False}
    if kind is Kind.CHOICE:
        return {"radioType": 0, "steps": len(control.choices), "orientation": ORIENTATION_EAST}
    props = _label_properties()
    props["interactive"] = False
    if kind is Kind.DISPLAY:
        props["background"] = True
        props["color"] = (0.12, 0.12, 0.12, 1.0)
    return props


def _label_properties() -> dict[str, PropertyValue]:
    return {"font": 0, "textAlignH": ALIGN_CENTER, "textAlignV": ALIGN_CENTER, "textClip": True,
            "textColor": (1.0, 1.0, 1.0, 1.0), "textLength": 0, "textSize": 14, "background": False}


def _node(kind: str, name: str, key: str, frame: Rect, props: Mapping[str, PropertyValue],
          values: Sequence[str], text: str = "", x: float = 0.0) -> ET.Element:
    node = ET.Element("node", ID=str(uuid.uuid5(_NAMESPACE, key)), type=kind)
    common: dict[str, PropertyValue] = {
        "background": True, "color": (0.5, 0.5, 0.5, 1.0), "cornerRadius": 1.0, "frame": frame,
        "grabFocus": kind not in ("GROUP", "PAGER", "LABEL"), "interactive": True, "locked": False,
        "name": name, "orientation": ORIENTATION_NORTH, "outline": True, "outlineStyle": 1,
        "pointerPriority": 0, "shape": 1, "visible": True,
    }
    properties = ET.SubElement(node, "properties")
    for prop_key, value in sorted({**common, **props}.items()):
        properties.append(_property(prop_key, value))
    holder = ET.SubElement(node, "values")
    for value_key in values:
        holder.append(_value(value_key, text, x))
    return node


def _children(node: ET.Element) -> ET.Element:
    found = node.find("children")
    return found if found is not None else ET.SubElement(node, "children")


def _property(key: str, value: PropertyValue) -> ET.Element:
    """``<property type='?'><key>..</key><value>..</value></property>``, typed from the Python value."""
    element = ET.Element("property")
    ET.SubElement(element, "key").text = key
    holder = ET.SubElement(element, "value")
    if isinstance(value, bool):
        element.set("type", "b")
        holder.text = "1" if value else "0"
    elif isinstance(value, int):
        element.set("type", "i")
        holder.text = str(value)
    elif isinstance(value, float):
        element.set("type", "f")
        holder.text = f"{value:g}"
    elif isinstance(value, str):
        element.set("type", "s")
        holder.text = value
    elif isinstance(value, Rect):
        element.set("type", "r")
        for part in ("x", "y", "w", "h"):
            ET.SubElement(holder, part).text = str(getattr(value, part))
    else:
        element.set("type", "c")
        for part, channel in zip("rgba", value, strict=True):
            ET.SubElement(holder, part).text = f"{channel:g}"
    return element


def _value(key: str, text: str, x: float) -> ET.Element:
    """A value object: ``text`` and ``x`` start as the session has them (default and current locked
    together, so the control opens there), ``touch`` false, ``page`` 0."""
    element = ET.Element("value")
    default = {"text": text, "touch": "false", "x": f"{x:g}"}.get(key, "0")
    locked_together = key in ("text", "x")
    for tag, content in (("key", key), ("locked", "0"), ("lockedDefaultCurrent", "1" if locked_together else "0"),
                         ("default", default), ("defaultPull", "0")):
        ET.SubElement(element, tag).text = content
    return element


# -- OSC messages ---------------------------------------------------------------------------------------------------
def _osc_message(control: Control) -> ET.Element | None:
    """The control's ``<osc>`` message, or None for a static label."""
    if not control.address:
        return None
    if control.kind is Kind.PUSH:   # its constant arguments, on press only
        trigger, arguments = ("x", "RISE"), [_partial("CONSTANT", _conversion(a), a) for a in control.args]
    elif control.kind is Kind.DISPLAY:
        trigger, arguments = ("text", "ANY"), [_partial("VALUE", "STRING", "text")]
    elif control.kind in (Kind.TOGGLE, Kind.CHOICE):
        trigger, arguments = ("x", "ANY"), [_partial("VALUE", "INTEGER", "x")]
    else:   # faders and knobs send their position; a meter maps dBFS onto its bar
        trigger, arguments = ("x", "ANY"), [_partial("VALUE", "FLOAT", "x", control.lo, control.hi)]
    osc = ET.Element("osc")
    for tag, flag in (("enabled", True), ("send", control.sends), ("receive", control.receives),
                      ("feedback", False)):
        ET.SubElement(osc, tag).text = "1" if flag else "0"
    ET.SubElement(osc, "connections").text = CONNECTION_1
    triggers = ET.SubElement(ET.SubElement(osc, "triggers"), "trigger")
    ET.SubElement(triggers, "var").text = trigger[0]
    ET.SubElement(triggers, "condition").text = trigger[1]
    ET.SubElement(osc, "path").append(_partial("CONSTANT", "STRING", control.address))
    holder = ET.SubElement(osc, "arguments")
    for argument in arguments:
        holder.append(argument)
    return osc


def _conversion(value: OscArg) -> str:
    if isinstance(value, str):
        return "STRING"
    return "INTEGER" if isinstance(value, int) and not isinstance(value, bool) else "FLOAT"


def _partial(kind: str, conversion: str, value: OscArg, lo: float = 0.0, hi: float = 1.0) -> ET.Element:
    """A path or argument part: a CONSTANT, or the VALUE of one of the control's value objects, scaled."""
    element = ET.Element("partial")
    text = value if isinstance(value, str) else f"{value:g}"
    for tag, content in (("type", kind), ("conversion", conversion), ("value", text),
                         ("scaleMin", f"{lo:g}"), ("scaleMax", f"{hi:g}")):
        ET.SubElement(element, tag).text = content
    return element
