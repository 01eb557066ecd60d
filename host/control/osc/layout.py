"""A tablet layout as data, built from the parameter registry: pages of placed controls.

One model, many writers (:mod:`.touchosc`, :mod:`.open_stage_control`): the
model says *what* each control is (a fader on ``/tracks/vox/gain_db/norm``,
a toggle on ``/tracks/vox/mute``), its range on the wire and where it sits;
a writer only spells that in its format.  Every address comes from the
registry, so a layout cannot name a parameter the session lacks.

The OSC address conventions the server implements, which every control here uses:

* ``/<address>/norm f`` -- a 0..1 position through the parameter's own scale
  (faders and knobs: a plain fader works with no scaling, the taper is the parameter's);
* ``/<address> v`` -- native units; booleans 0/1, enums the choice's index;
* ``/<address>/text`` -- the display text (feedback only);
* ``/meters/<strip address>/peak f`` -- the one-number peak dBFS form, which any meter widget
  shows (the server also sends ``/meters/<strip address> peak rms [lufs]``);
* ``/mixhost/select <strip>``, ``/mixhost/snapshot/save <name>``,
  ``/mixhost/snapshot/recall <name> [fade_s]``, ``/mixhost/subscribe``,
  ``/mixhost/panic``, ``/mixhost/resume``.

Geometry is in pixels on a landscape tablet page of ``WIDTH`` x ``PAGE_HEIGHT``
(below a tab bar of ``TAB_BAR`` pixels); frames are relative to their page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from ...registry import Parameter, Registry, Strip

WIDTH = 1024
HEIGHT = 768
TAB_BAR = 48
PAGE_HEIGHT = HEIGHT - TAB_BAR
GAP = 6

SENDS_PER_COLUMN = 4             # a strip's sends stack up to this many, then sit side by side
STRIPS_PER_PAGE = 10             # a mixer page banks over at most this many strips
METER_FLOOR_DB = -60.0           # a meter bar spans METER_FLOOR_DB .. 0 dBFS
SNAPSHOT_SLOTS = 8               # snapshot rows offered at least (spare ones to save into)
RECALL_FADE_S = 2.0              # the fade of the "fade" recall buttons
RESUBSCRIBE_S = 5.0              # how often a layout that can script renews its subscription

SUBSCRIBE = "/mixhost/subscribe"
SUBSCRIBE_WHAT = "all"   # values, 0..1 positions, texts and meters: what the controls show
SELECT = "/mixhost/select"
SNAPSHOT_SAVE = "/mixhost/snapshot/save"
SNAPSHOT_RECALL = "/mixhost/snapshot/recall"
PANIC = "/mixhost/panic"
RESUME = "/mixhost/resume"
METERS = "/meters/"
PEAK = "/peak"   # one number per message: a widget given several arguments may show none

OscArg = str | float | int
RGBA = tuple[float, float, float, float]

#: colour per role, shared by the writers so both formats look alike
PALETTE: dict[str, RGBA] = {
    "default": (0.55, 0.55, 0.55, 1.0),
    "track": (0.25, 0.55, 0.90, 1.0),
    "bus": (0.60, 0.40, 0.90, 1.0),
    "master": (0.95, 0.60, 0.20, 1.0),
    "send": (0.35, 0.75, 0.75, 1.0),
    "mute": (0.90, 0.20, 0.20, 1.0),
    "solo": (0.95, 0.85, 0.20, 1.0),
    "select": (0.30, 0.60, 1.00, 1.0),
    "meter": (0.30, 0.85, 0.40, 1.0),
    "panic": (0.90, 0.20, 0.20, 1.0),
    "play": (0.30, 0.85, 0.40, 1.0),
    "bypass": (0.90, 0.50, 0.20, 1.0),
    "header": (0.85, 0.85, 0.85, 1.0),
}


def color(role: str) -> RGBA:
    return PALETTE.get(role, PALETTE["default"])


class Kind(str, Enum):
    """What a control is; a writer picks its widget type from this."""

    FADER = "fader"        # a vertical slider sending its 0..1 position
    KNOB = "knob"          # a rotary sending its 0..1 position
    TOGGLE = "toggle"      # on/off, sends 1 and 0
    CHOICE = "choice"      # one of several, sends the index
    PUSH = "push"          # momentary: sends its constant arguments on press
    LABEL = "label"        # static text
    DISPLAY = "display"    # text that the host updates (``/<address>/text``)
    METER = "meter"        # a bar the host updates; not touchable


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Control:
    """One placed control: what it sends or shows, on which address, over which range."""

    kind: Kind
    id: str                          # unique in the layout; a writer's control name
    frame: Rect
    label: str = ""                  # a label's text, a button's caption
    address: str = ""                # the OSC address ("" for a static label)
    args: tuple[OscArg, ...] = ()    # a push button's constant arguments
    lo: float = 0.0                  # the value range on the wire
    hi: float = 1.0
    choices: tuple[str, ...] = ()
    parameter: str | None = None     # the registry address behind it, if any
    role: str = "default"            # a colour role: track, bus, master, mute, solo, select, ...
    value: float | str | None = None  # what it shows when the layout opens: the session's value

    @property
    def sends(self) -> bool:
        return self.kind in (Kind.FADER, Kind.KNOB, Kind.TOGGLE, Kind.CHOICE, Kind.PUSH)

    @property
    def receives(self) -> bool:
        """Feedback arrives on the control's own address (pushes and labels get none)."""
        return self.kind not in (Kind.PUSH, Kind.LABEL)


@dataclass(frozen=True)
class Page:
    name: str                        # unique, short: mixer, transport, tracks/vox ...
    title: str                       # the tab's text
    controls: tuple[Control, ...]


@dataclass(frozen=True)
class Layout:
    title: str
    pages: tuple[Page, ...]
    width: int = WIDTH
    height: int = HEIGHT
    tab_bar: int = TAB_BAR
    subscribe: str = SUBSCRIBE
    resubscribe_s: float = RESUBSCRIBE_S

    def controls(self) -> Iterator[Control]:
        for page in self.pages:
            yield from page.controls


# -- addresses ------------------------------------------------------------------------------------------
def osc_address(param: Parameter | str, form: str = "") -> str:
    """``tracks/vox/gain_db`` -> ``/tracks/vox/gain_db`` (``form``: ``norm`` or ``text`` appended)."""
    address = param if isinstance(param, str) else param.address
    return f"/{address}/{form}" if form else f"/{address}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "x"


# -- building ---------------------------------------------------------------------------------------------
def build_layout(registry: Registry, *, title: str, snapshots: Sequence[str] = ()) -> Layout:
    """Mixer pages, a page per strip with stages, transport and snapshots, from ``registry``."""
    pages: list[Page] = []
    strips = registry.strips()
    banks = [strips[i:i + STRIPS_PER_PAGE] for i in range(0, len(strips), STRIPS_PER_PAGE)]
    for number, bank in enumerate(banks, 1):
        name = "mixer" if len(banks) == 1 else f"mixer{number}"
        pages.append(Page(name, name, tuple(_mixer(registry, bank, name))))
    for strip in strips:
        pages.extend(_stage_pages(registry, strip))
    if "transport/play" in registry:
        pages.append(Page("transport", "transport", tuple(_transport(registry))))
    pages.extend(_snapshot_pages(snapshots))
    pages = [replace(page, controls=tuple(_opening(registry, c) for c in page.controls)) for page in pages]
    layout = Layout(title, tuple(pages))
    _check_unique(layout)
    return layout


def _opening(registry: Registry, control: Control) -> Control:
    """The control with the value it shows before any feedback: the session's, in the control's form."""
    if control.parameter is None or control.kind in (Kind.PUSH, Kind.LABEL):
        return control
    param = registry.param(control.parameter)
    stored = float(registry.values[param.slot])
    if control.kind is Kind.DISPLAY:
        return replace(control, value=param.display(stored))
    if control.kind in (Kind.TOGGLE, Kind.CHOICE):
        return replace(control, value=stored)
    return replace(control, value=registry.get_normalized(param.address))


def _check_unique(layout: Layout) -> None:
    seen: set[str] = set()
    for control in layout.controls():
        if control.id in seen:   # a writer names controls by id: two alike would be one
            raise ValueError(f"two controls named {control.id!r} in the layout")
        seen.add(control.id)


# -- the mixer ----------------------------------------------------------------------------------------------
def _strip_params(registry: Registry, strip: Strip) -> dict[str, Parameter]:
    """The strip's own parameters (gain_db, pan, mute, solo) by name."""
    return {name: registry.param(f"{strip.address}/{name}") for name in ("gain_db", "pan", "mute", "solo")
            if f"{strip.address}/{name}" in registry}


def _sends(registry: Registry, strip: Strip) -> list[tuple[str, Parameter]]:
    """(bus name, level parameter) of each send of the strip, in registry order."""
    prefix = f"{strip.address}/sends/"
    return [(p.address[len(prefix):].split("/")[0], p) for p in registry
            if p.address.startswith(prefix) and p.address.endswith("/level_db")]


def _strip_role(strip: Strip) -> str:
    if strip.address == "master":
        return "master"
    return "bus" if strip.address.startswith("buses/") else "track"


def _mixer(registry: Registry, bank: Sequence[Strip], page: str) -> Iterator[Control]:
    """A column per strip: name, select, pan, sends, mute/solo, then meter, fader and its value."""
    width = (WIDTH - GAP) // max(len(bank), 1)
    column = min(width, 110)
    knob = min(column - 2 * GAP, 64)
    most_sends = max((len(_sends(registry, s)) for s in bank), default=0)
    per_row = max(1, math.ceil(most_sends / SENDS_PER_COLUMN))   # many sends: side by side
    send_rows = math.ceil(most_sends / per_row)
    small = min(knob // 2 + 14, (column - 2 * GAP) // per_row - 4)
    top_height = 34 + 34 + (knob + 18) + send_rows * (small + 20) + 40
    for index, strip in enumerate(bank):
        x0 = GAP + index * width
        inner = column - 2 * GAP
        params = _strip_params(registry, strip)
        role = _strip_role(strip)
        ident = _slug(strip.address)
        y = GAP
        yield Control(Kind.LABEL, f"{page}.{ident}.name", Rect(x0, y, inner, 28), label=strip.short, role=role)
        y += 34
        yield Control(Kind.PUSH, f"{page}.{ident}.select", Rect(x0, y, inner, 28), label="select",
                      address=SELECT, args=(strip.address,), role="select")
        y += 34
        if "pan" in params:
            yield _number(Kind.KNOB, f"{page}.{ident}.pan", Rect(x0 + (inner - knob) // 2, y, knob, knob),
                          params["pan"], "pan", role)
        y += knob + 18
        cell = inner // per_row
        for number, (bus, send) in enumerate(_sends(registry, strip)):
            sx, sy = x0 + (number % per_row) * cell, y + (number // per_row) * (small + 20)
            yield Control(Kind.LABEL, f"{page}.{ident}.send.{_slug(bus)}.name", Rect(sx, sy, cell, 16),
                          label=bus, role="send")
            yield _number(Kind.KNOB, f"{page}.{ident}.send.{_slug(bus)}",
                          Rect(sx + (cell - small) // 2, sy + 18, small, small), send, bus, "send")
        y = GAP + top_height - 40
        half = (inner - GAP) // 2
        if "mute" in params:
            yield _toggle(f"{page}.{ident}.mute", Rect(x0, y, half, 32), params["mute"], "M", "mute")
        if "solo" in params:
            yield _toggle(f"{page}.{ident}.solo", Rect(x0 + half + GAP, y, half, 32), params["solo"], "S", "solo")
        y = GAP + top_height
        fader_h = PAGE_HEIGHT - y - 28 - 2 * GAP
        meter_w = max(inner // 5, 8)
        gain = params["gain_db"]
        yield _number(Kind.FADER, f"{page}.{ident}.gain", Rect(x0, y, inner - meter_w - GAP, fader_h), gain,
                      "gain", role)
        yield Control(Kind.METER, f"{page}.{ident}.meter", Rect(x0 + inner - meter_w, y, meter_w, fader_h),
                      address=METERS + strip.address + PEAK, lo=METER_FLOOR_DB, hi=0.0, role="meter")
        yield _display(f"{page}.{ident}.gain.text", Rect(x0, y + fader_h + GAP, inner, 28), gain)


def _number(kind: Kind, ident: str, frame: Rect, param: Parameter, label: str, role: str) -> Control:
    return Control(kind, ident, frame, label=label, address=osc_address(param, "norm"), parameter=param.address,
                   role=role)


def _toggle(ident: str, frame: Rect, param: Parameter, label: str, role: str) -> Control:
    return Control(Kind.TOGGLE, ident, frame, label=label, address=osc_address(param), parameter=param.address,
                   role=role)


def _display(ident: str, frame: Rect, param: Parameter) -> Control:
    return Control(Kind.DISPLAY, ident, frame, address=osc_address(param, "text"), parameter=param.address,
                   role="display")


# -- a page per strip for its stages ------------------------------------------------------------------------------
@dataclass
class _Flow:
    """Places cells left to right, row by row, and starts a new page when one is full."""

    name: str
    pages: list[list[Control]] = field(default_factory=lambda: [[]])
    x: int = GAP
    y: int = GAP
    row_h: int = 0

    def newline(self) -> None:
        self.x, self.y, self.row_h = GAP, self.y + self.row_h + GAP, 0

    def place(self, w: int, h: int) -> tuple[int, int]:
        """The page-relative origin of a ``w`` x ``h`` cell (wrapping lines and pages as needed)."""
        if self.x + w > WIDTH - GAP:
            self.newline()
        if self.y + h > PAGE_HEIGHT - GAP:
            self.pages.append([])
            self.x, self.y, self.row_h = GAP, GAP, 0
        origin = (self.x, self.y)
        self.x += w + GAP
        self.row_h = max(self.row_h, h)
        return origin

    def add(self, control: Control) -> None:
        self.pages[-1].append(control)

    @property
    def page_number(self) -> int:
        return len(self.pages)


CELL_W = 116
CELL_H = 140
HEADER_H = 30


def _stages(registry: Registry, strip: Strip) -> dict[str, list[Parameter]]:
    """Stage id -> its parameters (``tracks/vox/comp/ratio``: comp), sends and the strip's own left out."""
    prefix = f"{strip.address}/"
    stages: dict[str, list[Parameter]] = {}
    for param in registry:
        if not param.address.startswith(prefix):
            continue
        parts = param.address[len(prefix):].split("/")
        if len(parts) < 2 or parts[0] == "sends":
            continue
        stages.setdefault(parts[0], []).append(param)
    return stages


def _stage_pages(registry: Registry, strip: Strip) -> list[Page]:
    stages = _stages(registry, strip)
    if not stages:
        return []
    flow = _Flow(_slug(strip.address))
    for stage, params in stages.items():
        _stage_section(flow, strip, stage, params)
    pages = []
    for number, controls in enumerate(flow.pages, 1):
        if len(flow.pages) == 1:
            pages.append(Page(strip.address, strip.short, tuple(controls)))
        else:
            pages.append(Page(f"{strip.address}:{number}", f"{strip.short} {number}", tuple(controls)))
    return pages


def _stage_section(flow: _Flow, strip: Strip, stage: str, params: list[Parameter]) -> None:
    """A header (the stage id and its bypass), then a cell per parameter."""
    if flow.x > GAP:
        flow.newline()
    base = f"{flow.name}.{_slug(stage)}"
    x, y = flow.place(WIDTH - 2 * GAP, HEADER_H)
    bypass = next((p for p in params if p.address.endswith("/bypass")), None)
    flow.add(Control(Kind.LABEL, f"{base}.header", Rect(x, y, 240, HEADER_H), label=stage, role="header"))
    if bypass is not None:
        flow.add(_toggle(f"{base}.bypass", Rect(x + 250, y, 100, HEADER_H), bypass, "bypass", "bypass"))
    flow.newline()
    for param in params:
        if param is not bypass:
            _param_cell(flow, base, param)


def _param_cell(flow: _Flow, base: str, param: Parameter) -> None:
    """The right control for the parameter's kind, under its name and over its value text."""
    spec = param.spec
    wide = spec.is_enum and len(spec.choices) > 3
    w = 2 * CELL_W + GAP if wide else CELL_W
    x, y = flow.place(w, CELL_H)
    ident = f"{base}.{_slug(spec.name)}"
    flow.add(Control(Kind.LABEL, f"{ident}.name", Rect(x, y, w, 18), label=spec.name, role="name"))
    body = Rect(x, y + 22, w, CELL_H - 22 - 28)
    if spec.read_only:
        flow.add(Control(Kind.METER, ident, Rect(x + w // 2 - 10, body.y, 20, body.h), address=osc_address(param, "norm"),
                         parameter=param.address, role="meter"))
    elif spec.is_boolean:
        flow.add(_toggle(ident, Rect(x + 8, body.y + body.h // 2 - 22, w - 16, 44), param, "on", "toggle"))
    elif spec.is_enum:
        flow.add(Control(Kind.CHOICE, ident, Rect(x, body.y + body.h // 2 - 20, w, 40), label=spec.name,
                         address=osc_address(param), lo=0.0, hi=float(len(spec.choices) - 1),
                         choices=spec.choices, parameter=param.address, role="choice"))
    else:
        size = min(w, body.h)
        flow.add(_number(Kind.KNOB, ident, Rect(x + (w - size) // 2, body.y, size, size), param, spec.name, "knob"))
    flow.add(_display(f"{ident}.text", Rect(x, y + CELL_H - 26, w, 26), param))


# -- transport and snapshots ------------------------------------------------------------------------------------------
def _transport(registry: Registry) -> Iterator[Control]:
    row = 72
    yield Control(Kind.LABEL, "transport.header", Rect(GAP, GAP, 300, HEADER_H), label="transport", role="header")
    y = GAP + HEADER_H + GAP
    yield _toggle("transport.play", Rect(GAP, y, 140, row), registry.param("transport/play"), "play", "play")
    yield Control(Kind.PUSH, "transport.start", Rect(GAP + 150, y, 140, row), label="to start",
                  address=osc_address("transport/position_s"), args=(0.0,), parameter="transport/position_s",
                  role="push")
    yield _toggle("transport.loop", Rect(GAP + 300, y, 140, row), registry.param("transport/loop"), "loop", "loop")
    y += row + GAP
    for index, name in enumerate(("position_s", "loop_start_s", "loop_end_s", "xruns")):
        x = GAP + index * 200
        yield Control(Kind.LABEL, f"transport.{name}.name", Rect(x, y, 190, 20), label=name, role="name")
        yield _display(f"transport.{name}.text", Rect(x, y + 22, 190, 36), registry.param(f"transport/{name}"))
    y += 64 + 3 * GAP
    for index, (name, address) in enumerate((("panic", PANIC), ("resume", RESUME), ("connect", SUBSCRIBE))):
        yield Control(Kind.PUSH, f"transport.{name}", Rect(GAP + index * 150, y, 140, row), label=name,
                      address=address, args=(SUBSCRIBE_WHAT,) if address == SUBSCRIBE else (),
                      role="panic" if name == "panic" else "push")


def snapshot_rows(names: Sequence[str], slots: int = SNAPSHOT_SLOTS) -> list[str]:
    """The session's snapshots, then spare names (``snap1``...) up to ``slots`` rows to save new ones into."""
    rows = list(names)
    number = 1
    while len(rows) < slots:
        spare = f"snap{number}"
        if spare not in rows:
            rows.append(spare)
        number += 1
    return rows


def _snapshot_pages(names: Sequence[str]) -> list[Page]:
    """A row per snapshot: its name, recall, recall with a fade, and save (over it, or into a spare)."""
    row = 52
    per_page = (PAGE_HEIGHT - HEADER_H - 3 * GAP) // (row + GAP)
    rows = snapshot_rows(names)
    chunks = [rows[i:i + per_page] for i in range(0, len(rows), per_page)]
    pages = []
    for number, chunk in enumerate(chunks, 1):
        page = "snapshots" if len(chunks) == 1 else f"snapshots:{number}"
        controls = [Control(Kind.LABEL, f"{page}.header", Rect(GAP, GAP, 300, HEADER_H), label="snapshots",
                            role="header")]
        for index, name in enumerate(chunk):
            y = GAP + HEADER_H + GAP + index * (row + GAP)
            ident = f"{page}.{index}"
            controls += [
                Control(Kind.LABEL, f"{ident}.name", Rect(GAP, y, 260, row), label=name, role="name"),
                Control(Kind.PUSH, f"{ident}.recall", Rect(GAP + 270, y, 160, row), label="recall",
                        address=SNAPSHOT_RECALL, args=(name,), role="recall"),
                Control(Kind.PUSH, f"{ident}.fade", Rect(GAP + 440, y, 160, row),
                        label=f"fade {RECALL_FADE_S:g} s", address=SNAPSHOT_RECALL, args=(name, RECALL_FADE_S),
                        role="recall"),
                Control(Kind.PUSH, f"{ident}.save", Rect(GAP + 610, y, 160, row), label="save",
                        address=SNAPSHOT_SAVE, args=(name,), role="save"),
            ]
        title = "snapshots" if len(chunks) == 1 else f"snapshots {number}"
        pages.append(Page(page, title, tuple(controls)))
    return pages
