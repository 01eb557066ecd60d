"""Mackie Control (MCU, X-Touch and compatibles in MC mode): the protocol as a surface handler.

Eight strips bank over the mixer's strips (tracks, then buses, in mixer
order); the ninth fader is the master.

* Faders: 14-bit pitch bend on channels 0-7 (the master on 8), through the
  registry's dB fader taper.  Touch notes 0x68-0x70 drive ``engine.touch``
  (touch-mode automation works from the surface); a touched fader gets no
  feedback, and on release it gets the stored value at once.
* V-pots: CC 0x10-0x17, signed-bit relative.  Assign buttons choose what they
  turn: pan (0x2A), sends (0x29; again for the next send), the selected
  strip's stage parameters (plug-in 0x2B, again for the next page of 8; EQ
  0x2C the same).  A push (notes 0x20-0x27) resets to the default.  LED rings
  on CC 0x30-0x37 in the mode that fits: dot for pan, boost/cut for a
  parameter around zero, spread for widths and Qs, wrap for the rest.
* Buttons with LEDs that follow the state: rec-arm 0x00-0x07 (which strips'
  fader touches reach the automation recorder; none armed: all do), solo
  0x08-0x0F, mute 0x10-0x17, select 0x18-0x1F (the ``selected`` pointer).
* Banking: notes 0x2E/0x2F by 8 strips, 0x30/0x31 by one.
* Scribble strips: SysEx ``F0 00 00 66 14 12 <offset> <text> F7``; names on
  the top line (offset 0), and on the bottom line (offset 56) what a strip's
  control last moved to, for ``VALUE_HOLD_S``, else its V-pot's parameter; 7
  characters per strip.
* Meters: channel pressure ``(strip << 4) | level`` from the post-fader meters.
* Save (0x50) writes the session (the live control loop does it, comments kept).
* Transport: rewind 0x5B, forward 0x5C, stop 0x5D, play 0x5E, cycle 0x56
  (LEDs follow), the jog wheel (CC 0x3C) locates, the time display (CC
  0x40-0x49) shows the position.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...registry import Change, Parameter, Registry, Strip, short_name
from ...scales import to_normalized
from ..meters import MeterReader
from .encoders import relative_steps
from .messages import Message, build, sysex

if TYPE_CHECKING:
    from .surface import MidiSurface

STRIPS = 8
MASTER_CHANNEL = 8
TOUCH_FIRST, TOUCH_MASTER = 0x68, 0x70
REC, SOLO, MUTE, SELECT, VPOT_PUSH = 0x00, 0x08, 0x10, 0x18, 0x20
ASSIGN_SEND, ASSIGN_PAN, ASSIGN_PLUGIN, ASSIGN_EQ = 0x29, 0x2A, 0x2B, 0x2C
BANK_DOWN, BANK_UP, CHANNEL_DOWN, CHANNEL_UP = 0x2E, 0x2F, 0x30, 0x31
CYCLE, REWIND, FORWARD, STOP, PLAY, RECORD = 0x56, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F
SAVE = 0x50
VPOT_CC, RING_CC, JOG_CC, TIME_CC = 0x10, 0x30, 0x3C, 0x40
SYSEX_HEADER = [0x00, 0x00, 0x66, 0x14]
LCD = 0x12
LINE = 56                     # characters per display line: 8 strips of 7
CELL = 7
VALUE_HOLD_S = 1.5            # the bottom line shows a moved value this long
METER_S = 0.05                # meter refresh
TIME_S = 0.05                 # time display refresh
VPOT_STEP = 0.01              # one V-pot tick: 1 % of the travel
JOG_STEP_S = 0.1              # one jog tick
TRANSPORT_STEP_S = 5.0        # rewind / forward
METER_FLOOR_DB = -60.0        # meter LED 0 below this; 12 steps up to 0 dBFS
RING_DOT, RING_BOOST_CUT, RING_WRAP, RING_SPREAD = 0, 1, 2, 3


@dataclass(frozen=True)
class _Control:
    kind: str      # "fader" | "vpot" | "mute" | "solo" | "select" | "rec" | "transport"
    index: int     # strip 0-7 (8: the master fader)


class MackieControl:
    """The Mackie Control handler (see the module docstring)."""

    def __init__(self) -> None:
        self.surface: MidiSurface | None = None
        self.offset = 0                     # the first banked strip
        self.vpot_mode = "pan"
        self.send_index = 0
        self.plugin_page = 0
        self.armed: set[str] = set()        # strip addresses
        self.touched: set[int] = set()
        self._strips: list[Strip] = []
        self._by_address: dict[str, list[_Control]] = {}
        self._targets: dict[_Control, str] = {}
        self._bottom: list[tuple[str, float]] = [("", 0.0)] * STRIPS   # (value text, until)
        self._shown_lines: dict[int, str] = {}
        self._meters: MeterReader | None = None
        self._next_meter = 0.0
        self._next_time = 0.0
        self._shown_time = ""
        self._meter_levels = [-1] * STRIPS
        self._lock = threading.Lock()

    # -- set-up -----------------------------------------------------------------------------------------------
    def attach(self, surface: MidiSurface) -> None:
        self.surface = surface
        context = surface.context
        assert context is not None
        self._strips = [s for s in context.registry.strips() if s.address != "master"]
        self._meters = context.meter_reader()
        context.selection.observe(lambda strip, source: self._rebank())
        self._rebank()

    def _context(self) -> Any:
        assert self.surface is not None and self.surface.context is not None
        return self.surface.context

    def _registry(self) -> Registry:
        registry: Registry = self._context().registry
        return registry

    def banked(self) -> list[Strip | None]:
        """The strips under the 8 faders now (None past the last)."""
        shown: list[Strip | None] = list(self._strips[self.offset:self.offset + STRIPS])
        return shown + [None] * (STRIPS - len(shown))

    def _rebank(self) -> None:
        """Work out what every control drives now; everything is redrawn."""
        registry = self._registry()
        targets: dict[_Control, str] = {}
        for index, strip in enumerate(self.banked()):
            if strip is None:
                continue
            for kind, name in (("fader", "gain_db"), ("mute", "mute"), ("solo", "solo")):
                if f"{strip.address}/{name}" in registry:
                    targets[_Control(kind, index)] = f"{strip.address}/{name}"
            vpot = self._vpot_target(index, strip)
            if vpot is not None:
                targets[_Control("vpot", index)] = vpot
        targets[_Control("fader", MASTER_CHANNEL)] = "master/gain_db"
        for name in ("play", "loop"):
            if f"transport/{name}" in registry:
                targets[_Control("transport", PLAY if name == "play" else CYCLE)] = f"transport/{name}"
        by_address: dict[str, list[_Control]] = {}
        for control, address in targets.items():
            by_address.setdefault(address, []).append(control)
        with self._lock:
            self._targets, self._by_address = targets, by_address
            self._shown_lines.clear()
            self._meter_levels = [-1] * STRIPS
        if self.surface is not None:
            self.surface.request_redraw()

    def _vpot_target(self, index: int, strip: Strip) -> str | None:
        registry = self._registry()
        if self.vpot_mode == "pan":
            address = f"{strip.address}/pan"
            return address if address in registry else None
        if self.vpot_mode == "send":
            sends = sorted(p.address for p in registry.find(f"{strip.address}/sends/*/level_db"))
            return sends[self.send_index % len(sends)] if sends else None
        params = self.plugin_params()
        position = self.plugin_page * STRIPS + index
        return params[position] if position < len(params) else None

    def plugin_params(self) -> list[str]:
        """The selected strip's stage parameters, in registration order (plug-in mode pages through them)."""
        selected = self._context().selection.current
        return [p.address for p in self._registry().find(f"{selected}/*/*")
                if not p.address.startswith(f"{selected}/sends/") and not p.spec.read_only]

    def redraw(self) -> None:
        """Offer every control's current value; the scribble strips and meters are redrawn in tick()."""
        surface = self.surface
        assert surface is not None
        with self._lock:
            targets = dict(self._targets)
            self._shown_lines.clear()
        for control, address in targets.items():
            surface.offer(control, surface.current(self._registry().param(address)))
        selected = self._context().selection.current
        for index, strip in enumerate(self.banked()):
            surface.offer(_Control("select", index), float(strip is not None and strip.address == selected))
            surface.offer(_Control("rec", index), float(strip is not None and strip.address in self.armed))
        for note, on in ((ASSIGN_PAN, self.vpot_mode == "pan"), (ASSIGN_SEND, self.vpot_mode == "send"),
                         (ASSIGN_PLUGIN, self.vpot_mode == "plugin")):
            surface.offer(_Control("assign", note), float(on))
        surface.offer(_Control("transport", RECORD), float(self._context().engine is not None
                                                           and getattr(self._context().engine, "record_mode", None)
                                                           is not None))

    # -- input (the I/O thread) -------------------------------------------------------------------------------
    def message(self, message: Message) -> None:
        if message.kind == "pitchbend":
            self._fader(message.channel, message.value)
        elif message.kind == "note_on":
            self._note(message.number, message.value > 0)
        elif message.kind == "cc":
            if VPOT_CC <= message.number < VPOT_CC + STRIPS:
                self._vpot(message.number - VPOT_CC, relative_steps("signed_bit", message.value))
            elif message.number == JOG_CC:
                self._jog(relative_steps("signed_bit", message.value))

    def sysex(self, data: list[int]) -> None:
        return None    # device queries and the like: nothing we answer

    def batch_end(self) -> None:
        return None

    def _fader(self, channel: int, value: int) -> None:
        control = _Control("fader", channel)
        address = self._targets.get(control)
        if address is None:
            return
        param = self._registry().param(address)
        stored = Registry.position_value(param, value / 16383)
        surface = self.surface
        assert surface is not None
        if surface.set(control, [(address, stored)], stored) and channel < STRIPS:
            self._show_value(channel, param, stored)

    def _note(self, note: int, pressed: bool) -> None:
        if TOUCH_FIRST <= note <= TOUCH_MASTER:
            self._touch(note - TOUCH_FIRST, pressed)
        elif not pressed:
            return
        elif note < VPOT_PUSH + STRIPS:
            self._strip_button(note)
        elif note in (BANK_DOWN, BANK_UP, CHANNEL_DOWN, CHANNEL_UP):
            step = {BANK_DOWN: -STRIPS, BANK_UP: STRIPS, CHANNEL_DOWN: -1, CHANNEL_UP: 1}[note]
            self.bank(step)
        elif note in (ASSIGN_PAN, ASSIGN_SEND, ASSIGN_PLUGIN, ASSIGN_EQ):
            self._assign(note)
        elif note in (PLAY, STOP, CYCLE, REWIND, FORWARD):
            self._transport(note)
        elif note == SAVE:
            self._context().save_requested.set()

    def _touch(self, index: int, touched: bool) -> None:
        control = _Control("fader", MASTER_CHANNEL if index == STRIPS else index)
        address = self._targets.get(control)
        surface = self.surface
        assert surface is not None
        if touched:
            self.touched.add(control.index)
            surface.feedback.hold(control)
        else:
            self.touched.discard(control.index)
            surface.feedback.release(control)      # the stored value goes back at once
        strip = address.rsplit("/", 1)[0] if address else ""
        if address is not None and (not self.armed or strip in self.armed):
            self._context().touch(address, touched, surface.source)

    def _strip_button(self, note: int) -> None:
        group, index = note & ~0x07, note & 0x07
        strip = self.banked()[index]
        if strip is None:
            return
        surface = self.surface
        assert surface is not None
        if group == SELECT:
            self._context().selection.select(strip.address, surface.source)
        elif group == REC:
            self.armed.symmetric_difference_update({strip.address})
            surface.offer(_Control("rec", index), float(strip.address in self.armed))
        elif group == VPOT_PUSH:
            address = self._targets.get(_Control("vpot", index))
            if address is not None:
                param = self._registry().param(address)
                surface.set(_Control("vpot", index), [(address, param.spec.default)])
        else:
            kind = "mute" if group == MUTE else "solo"
            address = self._targets.get(_Control(kind, index))
            if address is not None:
                param = self._registry().param(address)
                surface.set(_Control(kind, index), [(address, 0.0 if surface.current(param) >= 0.5 else 1.0)])

    def bank(self, step: int) -> None:
        """Move the 8 faders ``step`` strips along (clamped)."""
        last = max(0, len(self._strips) - STRIPS)
        offset = min(max(self.offset + step, 0), last)
        if offset != self.offset:
            self.offset = offset
            self._rebank()

    def _assign(self, note: int) -> None:
        if note == ASSIGN_SEND:
            self.send_index = self.send_index + 1 if self.vpot_mode == "send" else 0
            self.vpot_mode = "send"
        elif note == ASSIGN_PAN:
            self.vpot_mode = "pan"
        else:
            pages = max(1, -(-len(self.plugin_params()) // STRIPS))
            self.plugin_page = (self.plugin_page + 1) % pages if self.vpot_mode == "plugin" else 0
            self.vpot_mode = "plugin"
        self._rebank()

    def _vpot(self, index: int, steps: int) -> None:
        control = _Control("vpot", index)
        address = self._targets.get(control)
        if address is None or steps == 0:
            return
        surface = self.surface
        assert surface is not None
        param = self._registry().param(address)
        spec = param.spec
        here = to_normalized(surface.current(param), spec.min, spec.max, spec.scale)
        if spec.choices:   # a switch or a choice: one entry per tick
            value = float(min(max(round(surface.current(param)) + (1 if steps > 0 else -1), 0),
                              len(spec.choices) - 1))
        else:
            value = Registry.position_value(param, here + steps * VPOT_STEP)
        if surface.set(control, [(address, float(value))], float(value)):
            self._show_value(index, param, float(value))

    def _jog(self, steps: int) -> None:
        registry = self._registry()
        if "transport/position_s" not in registry:
            return
        surface = self.surface
        assert surface is not None
        position = surface.current(registry.param("transport/position_s"))
        self._context().transport("locate", max(0.0, position + steps * JOG_STEP_S), surface.source)

    def _transport(self, note: int) -> None:
        surface = self.surface
        assert surface is not None
        context = self._context()
        if note in (PLAY, STOP):
            context.transport("play" if note == PLAY else "stop", None, surface.source)
        elif note == CYCLE:
            try:
                context.transport("loop_toggle", None, surface.source)
            except Exception:  # noqa: BLE001 - no loop range set: the LED stays off
                surface.offer(_Control("transport", CYCLE), 0.0)
        else:
            registry = self._registry()
            position = surface.current(registry.param("transport/position_s"))
            step = TRANSPORT_STEP_S if note == FORWARD else -TRANSPORT_STEP_S
            context.transport("locate", max(0.0, position + step), surface.source)

    def _show_value(self, index: int, param: Parameter, value: float) -> None:
        self._bottom[index] = (param.display(value, CELL - 1), time.monotonic() + VALUE_HOLD_S)

    # -- feedback ------------------------------------------------------------------------------------------------
    def change(self, change: Change) -> None:
        surface = self.surface
        if surface is None:
            return
        for control in self._by_address.get(change.address, ()):
            surface.offer(control, change.value)

    def render(self, key: Hashable, value: float) -> list[list[int]]:
        assert isinstance(key, _Control)
        kind, index = key.kind, key.index
        if kind == "fader":
            address = self._targets.get(key)
            if address is None:
                return [build("pitchbend", index, 0, 0)]
            spec = self._registry().param(address).spec
            return [build("pitchbend", index, 0, round(to_normalized(value, spec.min, spec.max, spec.scale) * 16383))]
        if kind == "vpot":
            return [build("cc", 0, RING_CC + index, self._ring(key, value))]
        note = {"mute": MUTE, "solo": SOLO, "select": SELECT, "rec": REC}.get(kind)
        if note is not None:
            return [build("note_on", 0, note + index, 127 if value >= 0.5 else 0)]
        if kind in ("transport", "assign"):
            return [build("note_on", 0, index, 127 if value >= 0.5 else 0)]
        return []

    def _ring(self, key: _Control, value: float) -> int:
        address = self._targets.get(key)
        if address is None:
            return 0
        param = self._registry().param(address)
        spec = param.spec
        position = to_normalized(value, spec.min, spec.max, spec.scale)
        name = spec.name.lower()
        if name == "pan":
            mode = RING_DOT
        elif "width" in name or name == "q" or name.endswith("_q"):
            mode = RING_SPREAD
        elif spec.min < 0 < spec.max:
            mode = RING_BOOST_CUT
        else:
            mode = RING_WRAP
        leds = 1 + round(position * 10)            # LEDs 1-11
        if mode == RING_SPREAD:
            leds = 1 + round(position * 5)         # spread: 1-6 from the centre out
        centre = 0x40 if mode in (RING_DOT, RING_BOOST_CUT) and abs(position - 0.5) < 0.05 else 0
        return centre | (mode << 4) | leds

    # -- displays and meters (the I/O thread) ------------------------------------------------------------------
    def tick(self, now: float) -> list[list[int]]:
        out = self._lines(now)
        if now >= self._next_meter:
            self._next_meter = now + METER_S
            out += self._meter_messages()
        if now >= self._next_time:
            self._next_time = now + TIME_S
            out += self._time_messages()
        return out

    def lines(self, now: float) -> tuple[str, str]:
        """The two scribble-strip lines as they should read now."""
        top, bottom = [], []
        with self._lock:
            targets = dict(self._targets)
        for index, strip in enumerate(self.banked()):
            top.append((strip.short if strip else "")[:CELL - 1].ljust(CELL))
            text, until = self._bottom[index]
            if not text or now > until:
                vpot = targets.get(_Control("vpot", index))
                text = self._registry().param(vpot).spec.name if vpot else ""
                text = _short(text, CELL - 1)
            bottom.append(text[:CELL - 1].ljust(CELL))
        return "".join(top), "".join(bottom)

    def _lines(self, now: float) -> list[list[int]]:
        out = []
        for offset, text in zip((0, LINE), self.lines(now), strict=True):
            if self._shown_lines.get(offset) != text:
                self._shown_lines[offset] = text
                out.append(scribble(offset, text))
        return out

    def _meter_messages(self) -> list[list[int]]:
        if self._meters is None:
            return []
        levels = self._meters.read()
        out = []
        for index, strip in enumerate(self.banked()):
            level = 0
            if strip is not None and strip.address in levels:
                db = levels[strip.address].peak_max_db
                level = max(0, min(12, int(round((db - METER_FLOOR_DB) / -METER_FLOOR_DB * 12))))
            if level or self._meter_levels[index] != 0:   # the device lets a level fall by itself
                out.append(build("pressure", 0, 0, (index << 4) | level))
            self._meter_levels[index] = level
        return out

    def _time_messages(self) -> list[list[int]]:
        registry = self._registry()
        if "transport/position_s" not in registry:
            return []
        seconds = float(registry.values[registry.param("transport/position_s").slot])
        minutes, rest = divmod(seconds, 60.0)
        text = f"{int(minutes):3d}{int(rest):02d}{int(round((rest % 1) * 1000)) % 1000:03d}".rjust(10)[-10:]
        out = []
        for position, char in enumerate(reversed(text)):     # CC 0x40 is the rightmost digit
            shown = self._shown_time[::-1][position] if len(self._shown_time) == 10 else None
            if char != shown:
                code = 0x30 + int(char) if char.isdigit() else 0x20
                dotted = position in (3, 5)                   # minutes.seconds.milliseconds
                out.append(build("cc", 0, TIME_CC + position, code | (0x40 if dotted else 0)))
        self._shown_time = text
        return out


def scribble(offset: int, text: str) -> list[int]:
    """The SysEx that writes ``text`` on the scribble strips from character ``offset``."""
    chars = [ord(c) if 0x20 <= ord(c) < 0x7F else 0x20 for c in text]
    return sysex([*SYSEX_HEADER, LCD, offset, *chars])


def _short(name: str, width: int) -> str:
    return short_name(name, width)
