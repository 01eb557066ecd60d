"""Tablet layouts (TouchOSC, Open Stage Control) generated from the registry, and the zeroconf advertisement.

The layouts are written by the real ``mixhost layout`` command, read back as
their apps read them (zlib + XML; JSON), and every control's address is
checked against ``mixhost params --live --json`` or the server's own
``/mixhost/`` and ``/meters/`` addresses.  Zeroconf runs only inside a
private network namespace (``unshare -n``), never on a real network.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_live_helpers import write_stems
from zeroconf_probe import TIMEOUT_S

from host.cli import main
from host.control.osc.layout import (
    METER_FLOOR_DB,
    PAGE_HEIGHT,
    STRIPS_PER_PAGE,
    WIDTH,
    Kind,
    build_layout,
    snapshot_rows,
)
from host.control.osc.zeroconf import SERVICE_TYPE, advertise, instance_name
from host.errors import UserInputError
from host.registry import ParamSpec, Registry, boolean, enum

ROOT = Path(__file__).resolve().parents[1]

SESSION = """\
session:
  name: Tablet test
  sample_rate: 48000
tracks:
  vocals:
    source: stems/tone.wav
    gain_db: -3
    chain:
      - {type: compressor, id: comp, params: {detection: rms, sc_hpf_on: true}}
      - {type: saturation, id: sat}
    sends:
      verb: {level_db: -12}
      echo: {level_db: -20}
  guitar:
    source: stems/noise.wav
    chain:
      - {type: width, id: width, params: {mono_bass: true}}
    sends:
      verb: {level_db: -18}
buses:
  verb:
    chain:
      - {type: reverb, id: room}
  echo:
    chain:
      - {type: delay, id: dly}
master:
  chain:
    - {type: limiter, id: lim}
outputs:
  mixdown: out/mix.wav
snapshots:
  verse:
    tracks/vocals/gain_db: -6
  chorus:
    tracks/vocals/gain_db: 0
    tracks/vocals/mute: false
"""

# the server's own addresses (host/control/osc), and how many constant arguments each takes
MIXHOST_ADDRESSES = {"/mixhost/select": {1}, "/mixhost/snapshot/save": {1}, "/mixhost/snapshot/recall": {1, 2},
                     "/mixhost/subscribe": {1}, "/mixhost/panic": {0}, "/mixhost/resume": {0}}
STRIPS = ("tracks/vocals", "tracks/guitar", "buses/verb", "buses/echo", "master")


# -- what a layout file says, read back -----------------------------------------------------------------------
@dataclass
class Sent:
    """One control as read back from a layout file, in terms both formats share."""

    page: str
    kind: str                    # fader knob toggle choice push display meter
    address: str
    args: tuple[Any, ...] = ()   # constant arguments of a push
    lo: float = 0.0
    hi: float = 1.0
    choices: int = 0
    sends: bool = True
    receives: bool = True
    frame: tuple[int, int, int, int] = (0, 0, 0, 0)
    opening: Any = None          # the value it shows when the layout opens
    extra: dict[str, Any] = field(default_factory=dict)


def _props(node: ET.Element) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for prop in node.findall("properties/property"):
        value = prop.find("value")
        assert value is not None
        kind = prop.get("type")
        if kind == "r":
            found[prop.findtext("key")] = tuple(int(value.findtext(p) or 0) for p in "xywh")
        elif kind == "c":
            found[prop.findtext("key")] = tuple(float(value.findtext(p) or 0) for p in "rgba")
        else:
            text = value.text or ""
            found[prop.findtext("key")] = {"b": lambda t: t == "1", "i": int, "f": float}.get(kind, str)(text)
    return found


def _convert(conversion: str, text: str) -> Any:
    return {"STRING": str, "INTEGER": int, "FLOAT": float}[conversion](text)


def read_touchosc(path: Path) -> tuple[list[str], list[Sent]]:
    """Page titles and controls of a .tosc file: zlib, then XML, as TouchOSC reads it."""
    root = ET.fromstring(zlib.decompress(path.read_bytes()))
    assert root.tag == "lexml" and root.get("version") == "3"
    top = root.find("node")
    assert top is not None and top.get("type") == "GROUP"
    assert "sendOSC('/mixhost/subscribe', 'all')" in _props(top)["script"]
    pager = top.find("children/node")
    assert pager is not None and pager.get("type") == "PAGER"
    titles, controls = [], []
    ids = set()
    for page in pager.findall("children/node"):
        assert page.get("type") == "GROUP"
        title = _props(page)["tabLabel"]
        titles.append(title)
        for node in page.iter("node"):
            assert node.get("ID") not in ids
            ids.add(node.get("ID"))
            osc = node.find("messages/osc")
            if osc is None:
                continue
            props = _props(node)
            path_parts = osc.findall("path/partial")
            assert all(p.findtext("type") == "CONSTANT" for p in path_parts)
            address = "".join(p.findtext("value") or "" for p in path_parts)
            arguments = osc.findall("arguments/partial")
            sends, receives = osc.findtext("send") == "1", osc.findtext("receive") == "1"
            kind = {"FADER": "fader" if props["interactive"] else "meter", "RADIAL": "knob", "RADIO": "choice",
                    "LABEL": "display"}.get(node.get("type") or "", "")
            if node.get("type") == "BUTTON":
                kind = "toggle" if props["buttonType"] == 2 else "push"
            values = {v.findtext("key"): v.findtext("default") for v in node.findall("values/value")}
            opening = values.get("text") if kind == "display" else float(values.get("x") or 0)
            control = Sent(title, kind, address, sends=sends, receives=receives, frame=props["frame"],
                           opening=opening, extra={"trigger": osc.findtext("triggers/trigger/condition"),
                                                   "centered": props.get("centered")})
            if kind == "push":
                control.args = tuple(_convert(a.findtext("conversion") or "", a.findtext("value") or "")
                                     for a in arguments)
                assert all(a.findtext("type") == "CONSTANT" for a in arguments)
            else:
                (argument,) = arguments
                assert argument.findtext("type") == "VALUE"
                control.extra["conversion"] = argument.findtext("conversion")
                control.extra["var"] = argument.findtext("value")
                control.lo = float(argument.findtext("scaleMin") or 0)
                control.hi = float(argument.findtext("scaleMax") or 0)
                control.choices = props.get("steps", 0)
            controls.append(control)
    return titles, controls


def _widgets(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for widget in container.get("widgets", []):
        yield widget
        yield from _widgets(widget)


def read_open_stage_control(path: Path) -> tuple[list[str], list[Sent]]:
    """Tab labels and controls of an Open Stage Control session (widgets with an address)."""
    session = json.loads(path.read_text())
    assert session["type"] == "session" and session["createdWith"] == "Open Stage Control"
    assert session["version"].startswith("1.")
    root = session["content"]
    assert root["type"] == "root"
    titles, controls, ids = [], [], set()
    for tab in root["tabs"]:
        assert tab["type"] == "tab"
        titles.append(tab["label"])
        for widget in _widgets(tab):
            assert widget["id"] not in ids
            ids.add(widget["id"])
            if "address" not in widget:
                assert widget["type"] == "text" and widget["value"]   # a static label
                continue
            kind = {"fader": "fader" if widget["interaction"] is True else "meter", "knob": "knob", "switch": "choice",
                    "text": "display"}.get(widget["type"], "")
            if widget["type"] == "button":
                kind = "toggle" if widget["mode"] == "toggle" else "push"
            frame = (widget["left"], widget["top"], widget["width"], widget["height"])
            control = Sent(tab["label"], kind, widget["address"], frame=frame,
                           sends=kind not in ("display", "meter"), receives=kind != "push", extra=widget,
                           opening=widget["value"] if kind == "display" else widget.get("default"))
            if kind == "push":
                on = [] if widget["on"] is None else [widget["on"]]
                control.args = (*widget["preArgs"], *on)
                assert len(widget["typeTags"]) == len(control.args)
            elif kind in ("fader", "knob", "meter"):
                control.lo, control.hi = widget["range"]["min"], widget["range"]["max"]
            elif kind == "choice":
                control.choices = len(widget["values"])
                assert sorted(widget["values"].values()) == list(range(control.choices))
            controls.append(control)
    return titles, controls


# -- fixtures ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The test session, its `mixhost params --live --json` rows, and both layouts written by `mixhost layout`."""
    folder = tmp_path_factory.mktemp("layouts")
    write_stems(folder, 0.2)
    session = folder / "session.yaml"
    session.write_text(SESSION)
    before = session.read_bytes()
    params = io.StringIO()
    with contextlib.redirect_stdout(params):
        assert main(["params", str(session), "--live", "--json"]) == 0
    tosc, osc = folder / "out" / "tablet.tosc", folder / "out" / "tablet.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["layout", str(session), "--touchosc", str(tosc), "--open-stage-control", str(osc),
                     "--target", "10.0.0.5:9000"]) == 0
    assert session.read_bytes() == before
    return {"session": session, "params": {row["address"]: row for row in json.loads(params.getvalue())},
            "touchosc": read_touchosc(tosc), "open_stage_control": read_open_stage_control(osc)}


FORMATS = ("touchosc", "open_stage_control")


def _controls(generated: dict[str, Any], fmt: str) -> list[Sent]:
    return generated[fmt][1]


# -- every address is one the server knows ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_control_address_is_a_registry_or_server_address(generated: dict[str, Any], fmt: str) -> None:
    params = generated["params"]
    controls = _controls(generated, fmt)
    assert len(controls) > 60
    for control in controls:
        address = control.address
        assert address.startswith("/"), address
        if address.startswith("/mixhost/"):
            assert len(control.args) in MIXHOST_ADDRESSES[address], control
        elif address.startswith("/meters/"):
            assert address[len("/meters/"):].removesuffix("/peak") in STRIPS and address.endswith("/peak")
        else:
            base, _, form = address[1:].rpartition("/")
            name = base if form in ("norm", "text") else address[1:]
            assert name in params, f"{fmt}: {address} is no parameter of `mixhost params --live`"


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_kind_of_parameter_gets_its_control_on_the_right_form(generated: dict[str, Any], fmt: str) -> None:
    params = generated["params"]
    for control in _controls(generated, fmt):
        if control.kind in ("fader", "knob"):        # a position through the parameter's own taper
            assert control.address.endswith("/norm") and (control.lo, control.hi) == (0.0, 1.0)
            row = params[control.address[1:-len("/norm")]]
            assert row["kind"] == "number" and not row["read_only"]
            assert control.sends and control.receives
        elif control.kind == "toggle":               # 0/1 on the native address
            row = params[control.address[1:]]
            assert row["kind"] == "boolean" and not row["read_only"]
        elif control.kind == "choice":               # the index of one of the choices
            row = params[control.address[1:]]
            assert row["kind"] == "enum" and control.choices == len(row["choices"])
        elif control.kind == "display":
            assert control.address.endswith("/text") and not control.sends and control.receives
        elif control.kind == "meter":
            assert control.address.startswith("/meters/") and not control.sends
            assert (control.lo, control.hi) == (METER_FLOOR_DB, 0.0)
        else:
            assert control.kind == "push" and control.sends and not control.receives
        if fmt == "touchosc" and control.kind in ("fader", "knob"):
            assert control.extra["conversion"] == "FLOAT" and control.extra["var"] == "x"
        if fmt == "touchosc" and control.kind in ("toggle", "choice"):
            assert control.extra["conversion"] == "INTEGER"
        if fmt == "touchosc" and control.kind == "push":
            assert control.extra["trigger"] == "RISE"      # once per press, not again on release


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_mixer_page_has_every_strip(generated: dict[str, Any], fmt: str) -> None:
    mixer = [c for c in _controls(generated, fmt) if c.page == "mixer"]
    on = {(c.kind, c.address, c.args) for c in mixer}
    for strip in STRIPS:
        assert ("fader", f"/{strip}/gain_db/norm", ()) in on
        assert ("display", f"/{strip}/gain_db/text", ()) in on
        assert ("meter", f"/meters/{strip}/peak", ()) in on
        assert ("push", "/mixhost/select", (strip,)) in on
    for track in ("tracks/vocals", "tracks/guitar"):
        assert {("toggle", f"/{track}/mute", ()), ("toggle", f"/{track}/solo", ()),
                ("knob", f"/{track}/pan/norm", ())} <= on
    for bus in ("buses/verb", "buses/echo"):
        assert ("toggle", f"/{bus}/mute", ()) in on and ("knob", f"/{bus}/pan/norm", ()) in on
    sends = {c.address for c in mixer if "/sends/" in c.address}
    assert sends == {"/tracks/vocals/sends/verb/level_db/norm", "/tracks/vocals/sends/echo/level_db/norm",
                     "/tracks/guitar/sends/verb/level_db/norm"}
    if fmt == "touchosc":
        pans = [c for c in mixer if c.address.endswith("/pan/norm")]
        assert pans and all(c.extra["centered"] for c in pans)


@pytest.mark.parametrize("fmt", FORMATS)
def test_pages_and_every_parameter_on_them(generated: dict[str, Any], fmt: str) -> None:
    titles, controls = generated[fmt]
    assert titles == ["mixer", "vocals", "guitar", "verb", "echo", "master", "transport", "snapshots"]
    stage_pages = {"vocals": "tracks/vocals/", "guitar": "tracks/guitar/", "verb": "buses/verb/",
                   "echo": "buses/echo/", "master": "master/"}
    for title, prefix in stage_pages.items():
        on_page = {c.address for c in controls if c.page == title}
        stage_params = [a for a in generated["params"] if a.startswith(prefix) and a.count("/") > prefix.count("/")
                        and "/sends/" not in a]
        assert stage_params
        for address in stage_params:   # each parameter: a control and its value text (bypass: a toggle)
            assert {f"/{address}", f"/{address}/norm"} & on_page, address
            assert address.endswith("/bypass") or f"/{address}/text" in on_page
    kinds = {c.kind for c in controls if c.page == "vocals"}
    assert {"knob", "toggle", "choice", "display"} <= kinds   # ratio, sc_hpf_on, detection


@pytest.mark.parametrize("fmt", FORMATS)
def test_transport_and_snapshot_pages(generated: dict[str, Any], fmt: str) -> None:
    controls = _controls(generated, fmt)
    transport = {(c.kind, c.address, c.args) for c in controls if c.page == "transport"}
    assert {("toggle", "/transport/play", ()), ("toggle", "/transport/loop", ()),
            ("push", "/transport/position_s", (0.0,)), ("display", "/transport/position_s/text", ()),
            ("push", "/mixhost/subscribe", ("all",)), ("push", "/mixhost/panic", ()),
            ("push", "/mixhost/resume", ())} <= transport
    snaps = [c for c in controls if c.page == "snapshots"]
    recalls = {c.args for c in snaps if c.address == "/mixhost/snapshot/recall"}
    saves = {c.args for c in snaps if c.address == "/mixhost/snapshot/save"}
    rows = snapshot_rows(["verse", "chorus"])
    assert rows[:2] == ["verse", "chorus"] and len(rows) == len(set(rows)) == 8
    assert saves == {(name,) for name in rows}
    assert recalls == {(name,) for name in rows} | {(name, 2.0) for name in rows}


def test_both_formats_send_the_same_messages(generated: dict[str, Any]) -> None:
    def messages(fmt: str) -> set[tuple[str, str, tuple[Any, ...], str]]:
        return {(c.kind, c.address, c.args, c.page) for c in _controls(generated, fmt)}

    assert messages("touchosc") == messages("open_stage_control")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_control_lies_on_its_page(generated: dict[str, Any], fmt: str) -> None:
    for control in _controls(generated, fmt):
        x, y, w, h = control.frame
        assert w > 0 and h > 0 and x >= 0 and y >= 0, control
        assert x + w <= WIDTH and y + h <= PAGE_HEIGHT, control


@pytest.mark.parametrize("fmt", FORMATS)
def test_controls_open_at_the_session_values(generated: dict[str, Any], fmt: str) -> None:
    params = generated["params"]
    seen = 0
    for control in _controls(generated, fmt):
        if control.kind in ("fader", "knob"):
            row = params[control.address[1:-len("/norm")]]
            assert control.opening == pytest.approx(row["normalized"], abs=1e-6)
        elif control.kind in ("toggle", "choice"):
            row = params[control.address[1:]]
            index = row["choices"].index(row["value"] if row["kind"] == "enum" else "on" if row["value"] else "off")
            assert control.opening == index
        elif control.kind == "display":
            assert control.opening == params[control.address[1:-len("/text")]]["display"]
        else:
            continue
        seen += 1
    assert seen > 50
    gains = {c.address: c.opening for c in _controls(generated, fmt) if c.kind == "display"}
    assert gains["/tracks/vocals/gain_db/text"] == "-3.0 dB"
    detection = next(c for c in _controls(generated, fmt) if c.address == "/tracks/vocals/comp/detection")
    assert detection.opening == 1          # rms


def test_open_stage_control_widgets_send_to_the_target(generated: dict[str, Any]) -> None:
    for control in _controls(generated, "open_stage_control"):
        assert control.extra["target"] == (["10.0.0.5:9000"] if control.sends else [])


# -- the model on its own ------------------------------------------------------------------------------------------
def _registry(strips: int, *, read_only: bool = False) -> Registry:
    registry = Registry()
    for index in range(strips):
        address = f"tracks/t{index}"
        registry.add_strip(address, f"t{index}")
        registry.register(f"{address}/gain_db", ParamSpec("gain_db", 0.0, -80.0, 6.0, "dB", "db_fader"))
        registry.register(f"{address}/mute", boolean("mute"))
        registry.register(f"{address}/fx/mode", enum("mode", ("a", "b", "c", "d", "e"), "a"))
        if read_only:
            registry.register(f"{address}/fx/reduction_db",
                              ParamSpec("reduction_db", 0.0, -40.0, 0.0, "dB", read_only=True))
    return registry


def test_a_read_only_parameter_is_shown_never_set() -> None:
    layout = build_layout(_registry(1, read_only=True), title="t")
    about = [c for c in layout.controls() if c.parameter == "tracks/t0/fx/reduction_db"]
    assert {c.kind for c in about} == {Kind.METER, Kind.DISPLAY}
    assert not any(c.sends for c in about)
    wide = next(c for c in layout.controls() if c.kind is Kind.CHOICE)
    assert wide.choices == ("a", "b", "c", "d", "e") and wide.hi == 4.0


def test_many_strips_bank_over_mixer_pages_and_many_snapshots_over_pages() -> None:
    strips = 2 * STRIPS_PER_PAGE + 3
    layout = build_layout(_registry(strips), title="big", snapshots=[f"s{i}" for i in range(30)])
    mixers = [p for p in layout.pages if p.name.startswith("mixer")]
    assert [p.name for p in mixers] == ["mixer1", "mixer2", "mixer3"]
    faders = [c.parameter for p in mixers for c in p.controls if c.kind is Kind.FADER]
    assert faders == [f"tracks/t{i}/gain_db" for i in range(strips)]
    snapshot_pages = [p for p in layout.pages if p.name.startswith("snapshots")]
    assert len(snapshot_pages) > 1
    saved = [c.args[0] for p in snapshot_pages for c in p.controls if c.address == "/mixhost/snapshot/save"]
    assert saved == [f"s{i}" for i in range(30)]
    for page in layout.pages:
        for control in page.controls:
            f = control.frame
            assert f.x >= 0 and f.x + f.w <= WIDTH and f.y >= 0 and f.y + f.h <= PAGE_HEIGHT, (page.name, control)


# -- bad input ---------------------------------------------------------------------------------------------------------
def _link(source: Path, link: Path, hard: bool) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    (os.link if hard else os.symlink)(source, link)


@pytest.mark.parametrize(("args", "prepare", "said"), [
    (["--touchosc", "{d}/tablet.json"], None, "is a .tosc file"),
    (["--open-stage-control", "{d}/tablet.tosc"], None, "is a .json file"),
    (["--touchosc", "{d}/tablet"], None, "is a .tosc file"),
    ([], None, "no layout to write"),
    (["--touchosc", "{d}/same.tosc"], ("session.yaml", "same.tosc", False), "also an input"),
    (["--open-stage-control", "{d}/same.json"], ("session.yaml", "same.json", True), "also an input"),
    (["--open-stage-control", "{d}/stem.json"], ("stems/tone.wav", "stem.json", False), "also an input"),
    (["--touchosc", "{d}/a.tosc", "--open-stage-control", "{d}/b.json"], ("a.tosc", "b.json", False),
     "two outputs"),
    (["--open-stage-control", "{d}/t.json", "--target", "nowhere"], None, "expected HOST:PORT"),
    (["--open-stage-control", "{d}/t.json", "--target", "h:70000"], None, "expected HOST:PORT"),
], ids=["tosc-as-json", "json-as-tosc", "no-extension", "nothing", "symlink-to-session",
        "hard-link-to-session", "symlink-to-a-stem", "two-outputs-one-file", "bad-target", "bad-port"])
def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             args: list[str], prepare: tuple[str, str, bool] | None,
                                             said: str) -> None:
    write_stems(tmp_path, 0.1)
    session = tmp_path / "session.yaml"
    session.write_text(SESSION)
    if prepare is not None:
        source, link, hard = prepare
        if not (tmp_path / source).exists():
            (tmp_path / source).write_text("a layout from before\n")
        _link(tmp_path / source, tmp_path / link, hard)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert main(["layout", str(session), *(a.format(d=tmp_path) for a in args)]) == 2
    assert said in capsys.readouterr().err
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before                      # nothing written over, nothing new


def test_a_session_that_does_not_load_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = tmp_path / "session.yaml"
    session.write_text(SESSION.replace("tracks/vocals/mute: false", "tracks/vocals/mtue: false"))
    write_stems(tmp_path, 0.1)
    assert main(["layout", str(session), "--touchosc", str(tmp_path / "t.tosc")]) == 2
    assert "tracks/vocals/mute" in capsys.readouterr().err     # the did-you-mean
    assert not (tmp_path / "t.tosc").exists()


# -- zeroconf --------------------------------------------------------------------------------------------------------
NAMESPACE_ADDRESS = "10.99.0.1"
# a private network namespace with only lo, multicast on, an extra non-loopback address, a multicast route
NAMESPACE_SETUP = (f"ip link set lo up && ip link set lo multicast on && ip addr add {NAMESPACE_ADDRESS}/32 dev lo"
                   " && ip route add 224.0.0.0/4 dev lo")


def _in_namespace(*probe_args: str) -> list[dict[str, Any]]:
    """Run tests/zeroconf_probe.py in a new network namespace; its JSON events.  Needs root and
    unshare (CI runs as root): missing, the test fails rather than skips."""
    assert shutil.which("unshare") and shutil.which("ip"), "the zeroconf test needs unshare and ip (iproute2)"
    probe = Path(__file__).with_name("zeroconf_probe.py")
    command = " ".join([NAMESPACE_SETUP, "&& exec", sys.executable, str(probe),
                        *(f"'{a}'" for a in probe_args)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(["unshare", "-n", "sh", "-c", command], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.parametrize("host", [NAMESPACE_ADDRESS, "0.0.0.0"])
def test_the_advertisement_is_found_by_a_browser_and_goes_on_close(host: str) -> None:
    events = _in_namespace("Tablet test.v2", host, "9123")
    assert events[0] == {"event": "advertiser", "said": "advertised"}
    added = events[1]
    assert added["event"] == "added"
    assert added["type"] == SERVICE_TYPE == "_osc._udp.local."
    assert added["name"] == f"Tablet test v2.{SERVICE_TYPE}"
    assert added["port"] == 9123
    assert added["addresses"] == [NAMESPACE_ADDRESS]      # the wildcard: every address but loopback
    assert added["properties"] == {"app": "mixhost"}
    assert events[2] == {"event": "advertiser", "said": "closed"}
    assert events[3] == {"event": "removed", "name": f"Tablet test v2.{SERVICE_TYPE}"}   # the goodbye


@pytest.mark.parametrize("zeroconf", [True, False])
def test_mixhost_live_osc_on_a_network_address_advertises_until_it_stops(tmp_path: Path, zeroconf: bool) -> None:
    """The whole path: `mixhost live --osc --osc-bind ADDRESS` is found by a browser in the namespace,
    and gone when it stops; `--no-zeroconf` keeps it off the list."""
    write_stems(tmp_path, 0.2)
    session = tmp_path / "session.yaml"
    session.write_text(SESSION)
    events = _in_namespace("--live", str(session), NAMESPACE_ADDRESS, "9124",
                           *([] if zeroconf else ["--no-zeroconf"]))
    live = next(e for e in events if e["event"] == "live")
    assert live["exit"] == 130, live["stderr"]                        # Ctrl-C, as a user stops it
    if zeroconf:
        assert events[0]["event"] == "added", events
        assert events[0]["type"] == SERVICE_TYPE and events[0]["port"] == 9124
        assert events[0]["addresses"] == [NAMESPACE_ADDRESS]
        assert events[0]["name"] == f"Tablet test.{SERVICE_TYPE}"
        assert events[-1]["event"] == "removed"                           # the goodbye on the way out
    else:
        assert [e["event"] for e in events] == [f"no added within {TIMEOUT_S} s", "live",
                                                "no removed within 5.0 s"]


def test_nothing_is_advertised_for_a_loopback_server() -> None:
    assert advertise("mix", "127.0.0.1", 9000) is None
    assert advertise("mix", "::1", 9000) is None
    events = _in_namespace("mix", "127.0.0.2", "9000")
    assert [e["said"] for e in events] == ["nothing", "closed"]     # and no browser event at all


@pytest.mark.parametrize(("host", "port", "said"), [
    ("tablet.local", 9000, "is not an IP address"),
    ("10.0.0.1", 0, "out of range"),
    ("10.0.0.1", 70000, "out of range"),
])
def test_advertise_refuses_bad_input(host: str, port: int, said: str) -> None:
    with pytest.raises(UserInputError, match=said):
        advertise("mix", host, port)


@pytest.mark.parametrize(("name", "label"), [
    ("Demo song", "Demo song"),
    ("mix.v2 final", "mix v2 final"),
    ("   ", "mixhost"),
    ("ä" * 40, "ä" * 31),          # 63 octets at most, never half a character
])
def test_instance_names(name: str, label: str) -> None:
    assert instance_name(name) == label


def test_every_control_of_a_layout_hears_the_server_after_its_connect_message(tmp_path: Path) -> None:
    """The layout and the server agree: the layout's own subscribe message, sent to a running OSC
    surface, brings feedback to every control that shows something (faders, knobs, switches, lists,
    texts, meters), and sending it again renews without a redraw."""
    from osc_helpers import Rig
    from waiting import wait_for

    from host.control.osc.layout import SUBSCRIBE, build_layout

    rig = Rig(tmp_path)
    try:
        layout = build_layout(rig.session.registry, title=rig.session.title)
        connect = next(c for c in layout.controls() if c.address == SUBSCRIBE)
        shows = {c.address for c in layout.controls()
                 if c.kind in (Kind.FADER, Kind.KNOB, Kind.TOGGLE, Kind.CHOICE, Kind.DISPLAY, Kind.METER)}
        tablet = rig.peer()
        tablet.send(connect.address, *connect.args)
        heard: set[str] = set()

        def everything_heard() -> bool:
            heard.update(address for address, _ in tablet.take())
            return shows <= heard

        wait_for(everything_heard, timeout_s=10, what=f"feedback on {sorted(shows - heard)[:5]}")
        tablet.send(connect.address, *connect.args)                  # the timer's renewal
        tablet.ask("/mixhost/ping", 1, reply="/mixhost/pong")          # (the renewal was handled before it)
        assert tablet.messages("/tracks/noise/gain_db/norm") == []     # no redraw
    finally:
        rig.close()
