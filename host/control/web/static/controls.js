// The page's controls: sliders (fader, knob), toggles, menus, meters.
//
// A control shows a parameter's state [position 0..1, value, display text] as the
// server sends it; positions follow the parameter's own scale, computed by the
// server, so the page needs no scale of its own.
//
// Dragging is relative (a grab never jumps the value) with pointer events, so a
// mouse, a pen and fingers all work; `touch-action: none` keeps the page still.
// Fine adjust: Shift, a second finger on the control, or moving the pointer more
// than FINE_DISTANCE_PX away sideways from a fader: a tenth of the speed.
// A double tap (or double click) resets to the default.  Keyboard: arrows step 1 %
// (Shift: 0.1 %), Page Up/Down 10 %, Home/End the ends.

const FINE = 0.1;
const FINE_DISTANCE_PX = 60;
const DOUBLE_TAP_MS = 320;
const STEP = 0.01;
const PAGE = 0.1;
const KNOB_TRAVEL_PX = 180;

const clamp = (x) => Math.min(1, Math.max(0, x));

export class Slider {
  // kind: "fader" (vertical), "knob" (rotary, dragged vertically), "hslider" (horizontal)
  constructor(param, address, send, kind = "fader") {
    this.send = send;
    this.kind = kind;
    this.pointers = new Map();
    this.held = false;
    this.lastTap = 0;
    this.el = document.createElement("div");
    this.el.className = `slider ${kind}`;
    this.el.tabIndex = 0;
    this.el.setAttribute("role", "slider");
    this.el.setAttribute("aria-orientation", kind === "hslider" ? "horizontal" : "vertical");
    this.track = document.createElement("div");
    this.track.className = "track";
    this.thumb = document.createElement("div");
    this.thumb.className = "thumb";
    this.fill = document.createElement("div");
    this.fill.className = "fill";
    this.track.append(this.fill, this.thumb);
    this.el.append(this.track);
    this.text = document.createElement("div");
    this.text.className = "value";
    this.text.setAttribute("aria-hidden", "true");
    this.bind(param, address);
    this.el.addEventListener("pointerdown", (e) => this.down(e));
    this.el.addEventListener("pointermove", (e) => this.move(e));
    this.el.addEventListener("pointerup", (e) => this.up(e));
    this.el.addEventListener("pointercancel", (e) => this.up(e));
    this.el.addEventListener("keydown", (e) => this.key(e));
    this.el.addEventListener("contextmenu", (e) => e.preventDefault());
  }

  bind(param, address) {
    if (this.held) this.release();
    this.param = param;
    this.address = address;
    this.el.dataset.address = address;
    this.el.setAttribute("aria-label", param.label);
    this.el.setAttribute("aria-valuemin", String(param.min));
    this.el.setAttribute("aria-valuemax", String(param.max));
    this.el.title = param.doc || param.label;
    this.el.querySelectorAll(".mark").forEach((m) => m.remove());
    for (const [position, text] of param.marks || []) {
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = text;
      mark.style.bottom = `${position * 100}%`;
      mark.setAttribute("aria-hidden", "true");
      this.track.append(mark);
    }
    this.show(param.state);
  }

  // the server's state; while held by this page the position stays under the hand
  show(state, fromServer = true) {
    this.param.state = state;
    const [position, value, display] = state;
    if (!(this.held && fromServer)) this.position = position;
    this.draw();
    this.el.setAttribute("aria-valuenow", String(value));
    this.el.setAttribute("aria-valuetext", display);
    this.text.textContent = display;
  }

  // the display text of this page's own move
  showText(state) {
    const [, value, display] = state;
    this.param.state = [this.position, value, display];
    this.el.setAttribute("aria-valuenow", String(value));
    this.el.setAttribute("aria-valuetext", display);
    this.text.textContent = display;
  }

  draw() {
    const p = this.position;
    if (this.kind === "knob") {
      this.thumb.style.transform = `rotate(${-135 + 270 * p}deg)`;
      this.fill.style.setProperty("--p", String(p));
    } else if (this.kind === "hslider") {
      this.thumb.style.left = `${p * 100}%`;
      this.fill.style.width = `${p * 100}%`;
    } else {
      this.thumb.style.bottom = `${p * 100}%`;
      this.fill.style.height = `${p * 100}%`;
    }
  }

  travel() {
    const box = this.track.getBoundingClientRect();
    if (this.kind === "knob") return KNOB_TRAVEL_PX;
    return Math.max(20, this.kind === "hslider" ? box.width : box.height);
  }

  down(e) {
    if (this.param.read_only) return;
    e.preventDefault();
    this.el.focus({ preventScroll: true });
    const now = performance.now();
    if (this.pointers.size === 0 && now - this.lastTap < DOUBLE_TAP_MS) {
      this.lastTap = 0;
      this.reset();
      return;
    }
    this.lastTap = now;
    this.el.setPointerCapture(e.pointerId);
    this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (!this.held) {
      this.held = true;
      this.el.classList.add("held");
      this.send({ type: "touch", address: this.address });
    }
  }

  fine(e) {
    if (e.shiftKey || this.pointers.size > 1) return FINE;
    if (this.kind === "fader") {
      const box = this.el.getBoundingClientRect();
      const away = Math.max(box.left - e.clientX, e.clientX - box.right, 0);
      if (away > FINE_DISTANCE_PX) return FINE;
    }
    return 1;
  }

  move(e) {
    const last = this.pointers.get(e.pointerId);
    if (!last || !this.held) return;
    e.preventDefault();
    // with two fingers down only the first one moves the value (the second one makes it fine)
    if (this.pointers.keys().next().value !== e.pointerId) {
      this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      return;
    }
    const delta = this.kind === "hslider" ? e.clientX - last.x : last.y - e.clientY;
    this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (!delta) return;
    this.moveTo(this.position + (delta / this.travel()) * this.fine(e));
  }

  up(e) {
    if (!this.pointers.delete(e.pointerId)) return;
    if (this.pointers.size === 0) this.release();
  }

  release() {
    this.pointers.clear();
    if (!this.held) return;
    this.held = false;
    this.el.classList.remove("held");
    this.send({ type: "release", address: this.address });
  }

  moveTo(position) {
    const p = clamp(position);
    if (p === this.position) return;
    this.position = p;
    this.draw();
    this.send({ type: "set_norm", address: this.address, value: p });
  }

  reset() {
    this.position = this.param.default_norm;
    this.draw();
    this.send({ type: "set", address: this.address, value: this.param.default });
  }

  key(e) {
    if (this.param.read_only) return;
    const step = e.shiftKey ? STEP * FINE : STEP;
    const moves = {
      ArrowUp: step, ArrowRight: step, ArrowDown: -step, ArrowLeft: -step, PageUp: PAGE, PageDown: -PAGE,
    };
    let target;
    if (e.key in moves) target = this.position + moves[e.key];
    else if (e.key === "Home") target = 0;
    else if (e.key === "End") target = 1;
    else return;
    e.preventDefault();
    this.moveTo(target);
  }
}

export class Toggle {
  constructor(param, address, send, text, className = "") {
    this.param = param;
    this.address = address;
    this.el = document.createElement("button");
    this.el.type = "button";
    this.el.className = `toggle ${className}`;
    this.el.textContent = text;
    this.el.dataset.address = address;
    this.el.setAttribute("aria-label", param.label);
    this.el.addEventListener("click", () => {
      if (param.read_only) return;
      const on = this.el.getAttribute("aria-pressed") !== "true";
      this.el.setAttribute("aria-pressed", String(on));
      send({ type: "set", address, value: on });
    });
    this.show(param.state);
  }

  show(state) {
    this.param.state = state;
    this.el.setAttribute("aria-pressed", String(state[1] === true));
  }

  showText() {}
}

export class Choice {
  constructor(param, address, send) {
    this.param = param;
    this.address = address;
    this.el = document.createElement("select");
    this.el.className = "choice";
    this.el.dataset.address = address;
    this.el.setAttribute("aria-label", param.label);
    for (const name of param.choices) {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      this.el.append(option);
    }
    this.el.disabled = param.read_only;
    this.el.addEventListener("change", () => send({ type: "set", address, value: this.el.value }));
    this.show(param.state);
  }

  show(state) {
    this.param.state = state;
    this.el.value = String(state[1]);
  }

  showText() {}
}

export class Readout {
  constructor(param, address) {
    this.param = param;
    this.address = address;
    this.el = document.createElement("output");
    this.el.className = "readout";
    this.el.dataset.address = address;
    this.el.setAttribute("aria-label", param.label);
    this.show(param.state);
  }

  show(state) {
    this.param.state = state;
    this.el.textContent = state[2];
  }

  showText() {}
}

// A control for a parameter of any kind: the right one for it.
export function controlFor(param, address, send) {
  if (param.read_only && param.kind === "number") return new Readout(param, address);
  if (param.kind === "boolean") return new Toggle(param, address, send, param.name.split("/").pop());
  if (param.kind === "enum") return new Choice(param, address, send);
  return new Slider(param, address, send, "knob");
}

// Post-fader peak (bar) and RMS (inner bar) of two channels, -60..+6 dBFS.
const METER_FLOOR = -60;
const METER_TOP = 6;

export class Meter {
  constructor(label) {
    this.el = document.createElement("div");
    this.el.className = "meter";
    this.el.setAttribute("role", "meter");
    this.el.setAttribute("aria-label", label);
    this.el.setAttribute("aria-valuemin", String(METER_FLOOR));
    this.el.setAttribute("aria-valuemax", String(METER_TOP));
    this.el.setAttribute("aria-valuenow", String(METER_FLOOR));
    this.bars = [0, 1].map(() => {
      const channel = document.createElement("div");
      channel.className = "channel";
      const peak = document.createElement("div");
      peak.className = "peak";
      const rms = document.createElement("div");
      rms.className = "rms";
      channel.append(peak, rms);
      this.el.append(channel);
      return { peak, rms };
    });
  }

  show([peakL, peakR, rmsL, rmsR]) {
    const height = (db) => clamp((db - METER_FLOOR) / (METER_TOP - METER_FLOOR));
    [[peakL, rmsL], [peakR, rmsR]].forEach(([peak, rms], i) => {
      this.bars[i].peak.style.transform = `scaleY(${height(peak)})`;
      this.bars[i].rms.style.transform = `scaleY(${height(rms)})`;
      this.bars[i].peak.classList.toggle("over", peak > -0.1);
    });
    const top = Math.max(peakL, peakR);
    this.el.setAttribute("aria-valuenow", top.toFixed(1));
    this.el.setAttribute("aria-valuetext", `${top.toFixed(1)} dBFS peak`);
  }
}
