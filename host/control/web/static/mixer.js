// The mixer page: built from the server's `layout` message, kept in sync by `values`.
//
// Nothing here knows a session: strips, controls and their labels come from the
// registry through the layout; every control is found by its address.

import { Connection } from "./connection.js";
import { Meter, Slider, Toggle, controlFor } from "./controls.js";

const state = {
  layout: null,
  params: {},             // address -> parameter entry (with its latest state)
  controls: new Map(),    // address -> Set of controls showing it
  meters: new Map(),      // strip address -> Meter
  faders: [],             // [{strip, slider}] for the "sends on faders" flip
  flip: "",
};

const $ = (id) => document.getElementById(id);
const connection = new Connection(receive, status);
const send = (message) => connection.send(message);
window.mixhost = { state, connection };   // for a look from the console (and the tests)

function status(text) {
  $("status").textContent = text;
  document.body.classList.toggle("offline", text !== "connected");
}

function receive(message) {
  const handler = handlers[message.type];
  if (handler) handler(message);
}

const handlers = {
  layout(message) {
    state.layout = message;
    state.params = message.params;
    build(message);
    document.body.dataset.source = message.source;
    document.body.dataset.ready = String(connection.connects);
  },
  values(message) {
    for (const [address, st] of Object.entries(message.values)) {
      if (state.params[address]) state.params[address].state = st;
      for (const control of state.controls.get(address) || []) control.show(st);
      if (address.startsWith("transport/")) showTransport();
    }
  },
  shown(message) {
    for (const [address, st] of Object.entries(message.values)) {
      for (const control of state.controls.get(address) || []) control.showText(st);
    }
  },
  meters(message) {
    for (const [address, levels] of Object.entries(message.strips)) {
      const meter = state.meters.get(address);
      if (meter) meter.show(levels);
    }
    const lufs = message.lufs_s;
    $("lufs").textContent = `S ${lufs === null ? "--" : lufs.toFixed(1)} LUFS`;
  },
  selected(message) {
    state.layout.selected = message.strip;
    showSelected();
  },
  snapshots(message) {
    state.layout.snapshots = message.names;
    buildSnapshots();
  },
  error(message) {
    console.warn(`mixhost: ${message.code}: ${message.message}`);
    document.body.dataset.errors = String(message.count);
  },
};

function register(control) {
  const address = control.address;
  if (!state.controls.has(address)) state.controls.set(address, new Set());
  state.controls.get(address).add(control);
  return control;
}

function unregister(control) {
  state.controls.get(control.address)?.delete(control);
}

function build(layout) {
  state.controls.clear();
  state.meters.clear();
  state.faders = [];
  document.title = `${layout.session} · mixhost`;
  $("title").textContent = layout.session;
  const strips = $("strips");
  strips.replaceChildren(...layout.strips.map(buildStrip));
  buildFlip();
  buildSnapshots();
  buildTransport();
  showSelected();
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function buildStrip(strip) {
  const el = element("section", `strip ${strip.kind}`);
  el.dataset.strip = strip.address;
  el.setAttribute("aria-label", strip.name);
  const name = element("button", "name", strip.short);
  name.type = "button";
  name.title = strip.name;
  name.setAttribute("aria-label", `${strip.name} select`);
  name.addEventListener("click", () => send({ type: "select", strip: strip.address }));
  el.append(name);
  el.append(element("div", "notes", strip.notes || "\u00a0"));
  if (strip.notes) el.lastChild.title = strip.notes;
  const sends = element("div", "sends");
  for (const address of strip.sends) {
    const knob = register(new Slider(state.params[address], address, send, "knob"));
    const box = element("div", "send");
    box.append(knob.el, element("span", "caption", address.split("/")[3]));
    sends.append(box);
  }
  el.append(sends);
  const controls = strip.controls;
  if (controls.pan) {
    const pan = register(new Slider(state.params[controls.pan], controls.pan, send, "knob"));
    const box = element("div", "pan");
    box.append(pan.el, pan.text);
    el.append(box);
  }
  const buttons = element("div", "buttons");
  if (controls.mute) buttons.append(register(new Toggle(state.params[controls.mute], controls.mute, send, "M", "mute")).el);
  if (controls.solo) buttons.append(register(new Toggle(state.params[controls.solo], controls.solo, send, "S", "solo")).el);
  el.append(buttons);
  const body = element("div", "body");
  if (controls.gain_db) {
    const fader = register(new Slider(state.params[controls.gain_db], controls.gain_db, send, "fader"));
    state.faders.push({ strip, slider: fader });
    body.append(fader.el);
    el.append(body, fader.text);
  } else {
    el.append(body);
  }
  const meter = new Meter(`${strip.name} level`);
  state.meters.set(strip.address, meter);
  body.append(meter.el);
  return el;
}

// "Sends on faders": each track's fader moves its send to the chosen bus.
function buildFlip() {
  const flip = $("flip");
  const buses = state.layout.buses;
  flip.replaceChildren(new Option("mix", ""), ...buses.map((bus) => new Option(`sends to ${bus}`, bus)));
  $("flip-label").hidden = buses.length === 0;
  if (!buses.includes(state.flip)) state.flip = "";
  flip.value = state.flip;
  flip.onchange = () => {
    state.flip = flip.value;
    applyFlip();
  };
  applyFlip();
}

function applyFlip() {
  document.body.classList.toggle("flipped", state.flip !== "");
  for (const { strip, slider } of state.faders) {
    const sendAddress = `${strip.address}/sends/${state.flip}/level_db`;
    const target = state.flip && state.params[sendAddress] ? sendAddress : strip.controls.gain_db;
    if (slider.address === target) continue;
    unregister(slider);
    slider.bind(state.params[target], target);
    register(slider);
    slider.el.classList.toggle("on-send", target !== strip.controls.gain_db);
  }
}

function showSelected() {
  const selected = state.layout.selected;
  for (const el of document.querySelectorAll(".strip")) {
    const on = el.dataset.strip === selected;
    el.classList.toggle("selected", on);
    el.querySelector(".name").setAttribute("aria-pressed", String(on));
  }
  buildDetail();
}

// The selected strip's page: every stage parameter with the control for its kind.
function buildDetail() {
  const detail = $("detail");
  for (const el of detail.querySelectorAll("[data-address]")) {
    for (const set of state.controls.values()) {
      for (const control of set) if (control.el === el) set.delete(control);
    }
  }
  const strip = state.layout.strips.find((s) => s.address === state.layout.selected);
  detail.replaceChildren();
  if (!strip) return;
  detail.append(element("h2", "", strip.name));
  if (strip.notes) detail.append(element("p", "strip-notes", strip.notes));
  if (!strip.stages.length) detail.append(element("p", "empty", "no stages"));
  for (const stage of strip.stages) {
    const box = element("fieldset", "stage");
    box.append(element("legend", "", stage.id));
    for (const address of stage.params) {
      const param = state.params[address];
      const control = register(controlFor(param, address, send));
      const row = element("div", `param ${param.kind}`);
      row.append(element("span", "caption", param.name.split("/").slice(1).join(" ")), control.el);
      if (control instanceof Slider) row.append(control.text);
      box.append(row);
    }
    detail.append(box);
  }
}

function buildSnapshots() {
  const buttons = $("snapshot-buttons");
  buttons.replaceChildren(...state.layout.snapshots.map((name) => {
    const button = element("button", "snapshot", name);
    button.type = "button";
    button.setAttribute("aria-label", `recall snapshot ${name}`);
    button.addEventListener("click", () => send({ type: "snapshot", action: "recall", name }));
    return button;
  }));
}

$("snapshot-save").addEventListener("click", () => {
  const name = $("snapshot-name").value.trim();
  if (name) send({ type: "snapshot", action: "save", name });
});
$("session-save").addEventListener("click", () => send({ type: "save" }));

// -- transport ----------------------------------------------------------------------------
function buildTransport() {
  const transport = state.layout.transport;
  $("transport").hidden = !transport.play;
  if (!transport.play) return;
  const length = state.layout.length_s || 0;
  $("timeline").setAttribute("aria-valuemax", length.toFixed(1));
  showTransport();
}

function value(name) {
  const address = state.layout.transport[name];
  return address ? state.params[address].state[1] : undefined;
}

function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${(seconds - 60 * minutes).toFixed(1).padStart(4, "0")}`;
}

function showTransport() {
  const layout = state.layout;
  if (!layout || !layout.transport.play) return;
  $("play").setAttribute("aria-pressed", String(value("play") === true));
  $("loop").setAttribute("aria-pressed", String(value("loop") === true));
  const seconds = Number(value("position_s") || 0);
  $("position").textContent = clock(seconds);
  const length = layout.length_s || 0;
  const timeline = $("timeline");
  timeline.setAttribute("aria-valuenow", seconds.toFixed(1));
  timeline.setAttribute("aria-valuetext", clock(seconds));
  $("timeline-bar").style.width = length ? `${Math.min(100, (100 * seconds) / length)}%` : "0";
}

$("play").addEventListener("click", () => send({ type: "transport", command: "play_stop" }));
$("stop").addEventListener("click", () => send({ type: "transport", command: "stop" }));
$("loop").addEventListener("click", () => send({ type: "transport", command: "loop_toggle" }));
$("timeline").addEventListener("pointerdown", (e) => {
  const length = state.layout?.length_s;
  if (!length) return;
  const box = e.currentTarget.getBoundingClientRect();
  const share = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
  send({ type: "transport", command: "locate", value: share * length });
});
$("timeline").addEventListener("keydown", (e) => {
  const steps = { ArrowRight: 5, ArrowLeft: -5, PageUp: 30, PageDown: -30 };
  if (!(e.key in steps)) return;
  e.preventDefault();
  const seconds = Math.max(0, Number(value("position_s") || 0) + steps[e.key]);
  send({ type: "transport", command: "locate", value: seconds });
});

connection.open();
