"""The browser mixer in real Chromium (Playwright, Debian's chromium) against a live engine.

The engine runs clock-driven (``--audio none``) through the same block
engine as JACK; what a move does to the sound is measured on its post-fader
meters (the ring every surface reads).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_api  # noqa: E402 - `make test` installs it; missing is a failure
import pytest
from web_helpers import ARTIFACTS, WebRig, launch, wait_for

from host.control.meters import MeterReader
from host.control.web.access import Access

NOISE_RIGHT_AT_0DB = -12.04     # the noise track's right channel: a 0.25 sine (see test_live_helpers)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def rigs() -> Iterator[list[WebRig]]:
    made: list[WebRig] = []
    yield made
    for rig in made:
        rig.close()


@pytest.fixture
def rig(tmp_path: Path, rigs: list[WebRig]) -> WebRig:
    made = WebRig(tmp_path)
    rigs.append(made)
    return made


def open_page(browser: Any, url: str, **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    return page


def slider(page: Any, name: str) -> Any:
    return page.get_by_role("slider", name=name, exact=True)


def page_value(page: Any, name: str) -> float:
    return float(slider(page, name).get_attribute("aria-valuenow"))


def settled_level(rig: WebRig, strip: str, channel: int) -> float:
    """The post-fader peak of one channel after the fader's glide: 60 fresh blocks."""
    reader = MeterReader(rig.engine.meters)
    start = rig.engine.meters.count
    wait_for(lambda: rig.engine.meters.count > start + 20, what="the glide")
    reader.read()
    start = rig.engine.meters.count
    wait_for(lambda: rig.engine.meters.count > start + 60, what="blocks")
    return reader.read()[strip].peak_db[channel]


def thumb_centre(locator: Any) -> tuple[float, float]:
    """Where the thumb is once the layout has settled (two reads 50 ms apart agree): a press
    made while the strips are still being laid out can miss the fader."""
    thumb = locator.locator(".thumb")

    def settled() -> Any:
        box = thumb.bounding_box()
        time.sleep(0.05)
        return box if box is not None and box == thumb.bounding_box() else None

    box = wait_for(settled, what="the fader's layout")
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_a_mouse_drag_moves_the_fader_the_registry_and_the_sound(browser: Any, rig: WebRig) -> None:
    page = open_page(browser, rig.url)
    fader = slider(page, "noise gain")
    assert fader.get_attribute("aria-valuetext") == "-6.0 dB"
    x, y = thumb_centre(fader)
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x, y + 6 * step)   # 60 px down
    page.mouse.up()
    wait_for(lambda: abs(float(rig.get("tracks/noise/gain_db")) - page_value(page, "noise gain")) < 1e-6
             and float(rig.get("tracks/noise/gain_db")) < -7, what="the registry to take the page's value")
    gain = float(rig.get("tracks/noise/gain_db"))
    shown = wait_for(lambda: fader.get_attribute("aria-valuetext") == f"{gain:.1f} dB", what="the page's text")
    assert shown
    assert settled_level(rig, "tracks/noise", 1) == pytest.approx(NOISE_RIGHT_AT_0DB + gain, abs=0.1)


def test_a_touch_drag_moves_the_fader_and_the_sound(browser: Any, rig: WebRig) -> None:
    page = open_page(browser, rig.url, has_touch=True, viewport={"width": 820, "height": 1180})
    fader = slider(page, "noise gain")
    x, y = thumb_centre(fader)
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, ty: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": x, "y": ty, "id": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    scroll = page.evaluate("document.scrollingElement.scrollTop")
    touch("touchStart", y)
    for step in range(1, 9):
        touch("touchMove", y - 5 * step)   # 40 px up
    touch("touchEnd", y - 40)
    wait_for(lambda: float(rig.get("tracks/noise/gain_db")) > -5.5
             and abs(float(rig.get("tracks/noise/gain_db")) - page_value(page, "noise gain")) < 1e-6,
             what="the touch move applied")
    assert page.evaluate("document.scrollingElement.scrollTop") == scroll   # the page did not scroll
    gain = float(rig.get("tracks/noise/gain_db"))
    assert settled_level(rig, "tracks/noise", 1) == pytest.approx(NOISE_RIGHT_AT_0DB + gain, abs=0.1)


def received(page: Any) -> list[dict[str, Any]]:
    """Every message the page's socket receives from now on."""
    frames: list[dict[str, Any]] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(json.loads(frame))))
    return frames


def test_two_pages_follow_each_other_and_the_mover_gets_no_echo(browser: Any, rig: WebRig) -> None:
    context = browser.new_context()
    mover, watcher = context.new_page(), context.new_page()
    heard = received(mover)
    for page in (mover, watcher):
        page.goto(rig.url)
        page.wait_for_selector("body[data-ready]")
    pan = slider(mover, "tone pan")
    pan.focus()
    for _ in range(5):
        pan.press("ArrowUp")               # 1 % of the travel each: -1..1 -> +0.1
    wait_for(lambda: rig.get("tracks/tone/pan") == pytest.approx(0.1), what="the pan set")
    wait_for(lambda: slider(watcher, "tone pan").get_attribute("aria-valuetext") == "R10", what="the other page")
    wait_for(lambda: pan.get_attribute("aria-valuetext") == "R10", what="its own text (`shown`)")
    echoes = [m for m in heard if m["type"] == "values" and "tracks/tone/pan" in m["values"]]
    assert echoes == []
    assert any(m["type"] == "shown" and "tracks/tone/pan" in m["values"] for m in heard)


def test_the_page_follows_the_api_osc_and_midi(browser: Any, tmp_path: Path, rigs: list[WebRig]) -> None:
    from pythonosc.udp_client import SimpleUDPClient

    rig = WebRig(tmp_path, osc=True)
    rigs.append(rig)
    assert rig.osc is not None
    page = open_page(browser, rig.url)
    rig.session.set("tracks/soprano/gain_db", -3.0)                       # the Python API
    wait_for(lambda: slider(page, "soprano gain").get_attribute("aria-valuetext") == "-3.0 dB", what="API")
    tablet = SimpleUDPClient("127.0.0.1", rig.osc.port)                   # a real OSC datagram
    tablet.send_message("/tracks/tone/mute", 1)
    mute = page.get_by_role("button", name="tone mute", exact=True)
    wait_for(lambda: mute.get_attribute("aria-pressed") == "true", what="the mute sent over OSC")
    wait_for(lambda: rig.get("tracks/tone/mute") is True, what="the mute in the registry (at a block start)")
    tablet.send_message("/tracks/soprano/gain_db", -9.5)
    wait_for(lambda: slider(page, "soprano gain").get_attribute("aria-valuetext") == "-9.5 dB", what="OSC fader")
    rig.session.registry.set_normalized("tracks/noise/pan", 0.25, source="midi:desk")
    wait_for(lambda: slider(page, "noise pan").get_attribute("aria-valuetext") == "L50", what="a MIDI move")


def test_meters_and_loudness_move_while_playing(browser: Any, rig: WebRig) -> None:
    page = open_page(browser, rig.url)
    meter = page.get_by_role("meter", name="noise level", exact=True)
    reference = MeterReader(rig.engine.meters)      # the same ring, read beside the page

    def near() -> bool:
        reference.read()
        time.sleep(0.1)
        expected = reference.read()["tracks/noise"].peak_max_db
        return expected > -40 and abs(float(meter.get_attribute("aria-valuenow")) - expected) < 2.0

    wait_for(near, what="the noise meter to show the level")
    lufs = page.locator("#lufs")
    text = wait_for(lambda: (t := lufs.text_content()) and "--" not in t and t, timeout_s=30,
                    what="3 s of short-term loudness")
    assert -40 < float(text.split()[1]) < -3
    rig.session.set("tracks/noise/mute", True)
    wait_for(lambda: float(meter.get_attribute("aria-valuenow")) <= -60, what="the muted meter to fall")


def test_a_dropped_connection_reconnects_and_redraws(browser: Any, rig: WebRig) -> None:
    page = open_page(browser, rig.url)
    assert page.locator("body").get_attribute("data-ready") == "1"
    gain = slider(page, "tone gain")

    def while_away() -> None:
        wait_for(lambda: page.locator("#status").text_content() == "reconnecting", what="the page to notice")
        rig.session.set("tracks/tone/gain_db", -20.0)

    rig.restart_surface(while_away)
    wait_for(lambda: page.locator("body").get_attribute("data-ready") == "2", what="the reconnect")
    assert page.locator("#status").text_content() == "connected"
    wait_for(lambda: gain.get_attribute("aria-valuetext") == "-20.0 dB", what="the redraw")
    gain.focus()
    gain.press("PageUp")
    wait_for(lambda: float(rig.get("tracks/tone/gain_db")) > -20.0, what="a move over the new socket")


def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_a_network_bind_needs_the_token(browser: Any, tmp_path: Path, rigs: list[WebRig]) -> None:
    rig = WebRig(tmp_path, "127.0.0.2")
    rigs.append(rig)
    token = rig.surface.access.token
    assert token and f"token={token}" in rig.url
    base = rig.url.split("?")[0]
    assert fetch(base) == 403
    assert fetch(base + "?token=wrong") == 403
    assert fetch(rig.url) == 200
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    socket_url = base.replace("http", "ws") + "ws"
    for url, origin in ((socket_url, None), (f"{socket_url}?token={token}", "http://evil.example")):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin=origin, open_timeout=5).close()
        assert refused.value.response.status_code == 403
    with connect(f"{socket_url}?token={token}", origin=base.rstrip("/"), open_timeout=5) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "layout"
    page = open_page(browser, rig.url)                 # the printed URL works in a browser
    assert slider(page, "tone gain").get_attribute("aria-valuetext") == "-3.0 dB"


def test_loopback_needs_no_token_and_ranges_filter_peers() -> None:
    assert Access("127.0.0.1").token is None and Access("::1").token is None
    assert Access("127.0.0.2").needs_token and Access("0.0.0.0").needs_token
    access = Access("0.0.0.0", ["192.168.1.0/24", "10.1.2.3"])
    assert access.peer_allowed("192.168.1.77") and access.peer_allowed("10.1.2.3")
    assert not access.peer_allowed("192.168.2.1") and not access.peer_allowed("10.1.2.4")
    assert access.peer_allowed("127.0.0.1")            # this machine always
    assert Access("0.0.0.0").peer_allowed("8.8.8.8")   # no ranges: the token is the guard


BAD_MESSAGES = [
    ("{not json", "malformed"),
    ("[1, 2]", "schema"),
    ('{"type": "explode"}', "schema"),
    ('{"type": "set", "address": "tracks/tone/gian_db", "value": -3}', "unknown_address"),
    ('{"type": "set", "address": "tracks/tone/gain_db", "value": NaN}', "not_finite"),
    ('{"type": "set", "address": "tracks/tone/gain_db", "value": Infinity}', "not_finite"),
    ('{"type": "set", "address": "tracks/tone/gain_db", "value": 1e999}', "not_finite"),
    ('{"type": "set", "address": "tracks/tone/gain_db", "value": 99}', "out_of_range"),
    ('{"type": "set", "address": "tracks/tone/gain_db", "value": "loud"}', "out_of_range"),
    ('{"type": "set_norm", "address": "tracks/tone/gain_db", "value": 1.5}', "schema"),
    ('{"type": "set", "address": "transport/xruns", "value": 0}', "read_only"),
    ('{"type": "set", "address": "tracks/tone/gain_db"}', "schema"),
    ('{"type": "touch", "address": "tracks/tone/gain_db", "file": "/etc/passwd"}', "schema"),
    ('{"type": "select", "strip": "nobody"}', "refused"),
    ('{"type": "snapshot", "action": "recall", "name": "nothing"}', "refused"),
    ('{"type": "snapshot", "action": "save", "name": "../../etc/x"}', "schema"),
    ('{"type": "transport", "command": "load_plugin"}', "schema"),
    ('{"type": "set", "address": "' + "a" * 5000 + '", "value": 1}', "too_long"),
]


@pytest.mark.parametrize(("text", "code"), BAD_MESSAGES, ids=[c + str(i) for i, (_, c) in enumerate(BAD_MESSAGES)])
def test_bad_messages_get_an_error_and_the_socket_stays(rig: WebRig, text: str, code: str) -> None:
    from websockets.sync.client import connect

    before = rig.get("tracks/tone/gain_db")
    with connect(rig.url.replace("http", "ws") + "ws", open_timeout=5) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "layout"
        socket.send(text)
        error = next(m for m in (json.loads(socket.recv(timeout=5)) for _ in range(50)) if m["type"] == "error")
        assert error["code"] == code and error["message"]
        assert rig.surface.errors[code] == 1
        assert rig.get("tracks/tone/gain_db") == before
        socket.send(json.dumps({"type": "set", "address": "tracks/tone/gain_db", "value": -4.5}))
        wait_for(lambda: rig.get("tracks/tone/gain_db") == -4.5, what="a good message after the bad one")


def test_a_page_that_leaves_leaves_no_writer_task_behind(rig: WebRig) -> None:
    """Each page has a writer task; when its socket ends the task ends with it.  Left waiting
    on the page's queue, each reload in a long session kept one, until the collector found it
    and printed "Task was destroyed but it is pending!" on the user's terminal."""
    from websockets.sync.client import connect

    for _ in range(3):
        with connect(rig.url.replace("http", "ws") + "ws", open_timeout=5) as socket:
            assert json.loads(socket.recv(timeout=5))["type"] == "layout"
    wait_for(lambda: not rig.surface.clients, what="the pages to be gone")

    async def writers() -> list[str]:
        return [task.get_name() for task in asyncio.all_tasks()
                if task.get_coro().__qualname__ == "Client._write" and not task.done()]

    loop = rig.surface.server.loop
    assert loop is not None
    assert asyncio.run_coroutine_threadsafe(writers(), loop).result(timeout=5) == []


def test_the_selected_strip_page_has_the_right_control_for_each_kind(browser: Any, rig: WebRig) -> None:
    page = open_page(browser, rig.url)
    page.get_by_role("button", name="tone select").click()
    wait_for(lambda: rig.context.selection.current == "tracks/tone", what="the selection")
    detail = page.locator("#detail")
    threshold = detail.get_by_role("slider", name="tone comp threshold", exact=True)
    threshold.focus()
    threshold.press("PageDown")                                  # 10 % of -80..0 dB, linear
    wait_for(lambda: rig.get("tracks/tone/comp/threshold_db") == pytest.approx(-28.0), what="the knob")
    wait_for(lambda: threshold.get_attribute("aria-valuetext") == "-28.0 dB", what="its text")
    detail.get_by_role("combobox", name="tone comp detection").select_option("rms")
    wait_for(lambda: rig.get("tracks/tone/comp/detection") == "rms", what="the enum")
    detail.get_by_role("button", name="tone eq band4 on", exact=True).click()
    wait_for(lambda: rig.get("tracks/tone/eq/band4_on") is not True, what="the toggle")
    rig.context.selection.select("soprano", "api")                # a selection from elsewhere: the page follows
    wait_for(lambda: page.locator("#detail h2").text_content() == "soprano", what="the page to follow")
    assert page.locator("#detail .strip-notes").text_content() == "breathy in the bridge"


def test_double_tap_resets_and_sends_go_on_the_faders(browser: Any, rig: WebRig) -> None:
    page = open_page(browser, rig.url)
    fader = slider(page, "tone gain")
    fader.dblclick()
    wait_for(lambda: rig.get("tracks/tone/gain_db") == 0.0, what="the reset to the default")
    page.get_by_label("faders show").select_option("verb")
    send = slider(page, "soprano sends verb level").and_(page.locator(".fader"))
    assert send.get_attribute("aria-valuetext") == "-12.0 dB"
    assert page.locator(".strip.tracks .slider.fader").count() == 3
    send.focus()
    send.press("ArrowDown")
    wait_for(lambda: float(rig.get("tracks/soprano/sends/verb/level_db")) < -12.0, what="the send to move")
    assert rig.get("tracks/soprano/gain_db") == 0.0                # the fader's own gain did not


def test_transport_and_snapshots(browser: Any, rig: WebRig) -> None:
    page = open_page(browser, rig.url)
    page.get_by_role("button", name="stop", exact=True).click()
    wait_for(lambda: rig.get("transport/play") is False and not rig.engine.clock.rolling, what="stop")
    timeline = page.get_by_role("slider", name="timeline")
    box = timeline.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    length = rig.engine.length / 48000
    wait_for(lambda: abs(rig.engine.transport.position / 48000 - length / 2) < 0.05, what="the locate")
    page.get_by_label("snapshot name").fill("verse")
    page.get_by_role("button", name="Store").click()
    wait_for(lambda: "verse" in rig.context.snapshots.names(), what="the snapshot")
    rig.session.set("tracks/noise/gain_db", -30.0)
    page.get_by_role("button", name="recall snapshot verse").click()
    wait_for(lambda: rig.get("tracks/noise/gain_db") == -6.0, what="the recall")
    page.get_by_role("button", name="play", exact=True).click()
    wait_for(lambda: rig.engine.clock.rolling, what="play")


def test_touching_a_fader_records_automation_in_latch_mode(browser: Any, tmp_path: Path,
                                                             rigs: list[WebRig]) -> None:
    rig = WebRig(tmp_path, record="latch")
    rigs.append(rig)
    from host.live.recorder import AutomationRecorder

    recorder = AutomationRecorder(rig.engine, "latch")
    page = open_page(browser, rig.url)
    fader = slider(page, "noise gain")
    x, y = thumb_centre(fader)
    page.mouse.move(x, y)
    page.mouse.down()                  # a touch, then a move: latch records from the touch on
    page.mouse.move(x, y + 40, steps=8)
    page.mouse.up()
    wait_for(lambda: float(rig.get("tracks/noise/gain_db")) < -7, what="the move")
    start = rig.engine.transport.position
    wait_for(lambda: rig.engine.transport.position < start, timeout_s=10, what="the loop to wrap")
    rig.engine.transport_command("stop")
    wait_for(lambda: not rig.engine.clock.rolling, what="stop")
    recorder.poll()
    written = recorder.finish()
    assert "tracks/noise/gain_db" in written


@pytest.mark.parametrize(("name", "viewport"), [("phone", {"width": 390, "height": 844}),
                                                ("tablet", {"width": 1024, "height": 768})])
def test_screenshots_at_phone_and_tablet_sizes(browser: Any, rig: WebRig, name: str, viewport: dict[str, int]) -> None:
    page = open_page(browser, rig.url, viewport=viewport, device_scale_factor=2, has_touch=True)
    wait_for(lambda: float(page.get_by_role("meter", name="master level").get_attribute("aria-valuenow")) > -60,
             what="meters")
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1]                                  # nothing wider than the screen
    fader = page.get_by_role("slider", name="tone gain")
    assert fader.is_visible() and fader.bounding_box()["height"] >= 150
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"web-mixer-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_page_that_stops_reading_is_dropped_and_the_others_keep_up(browser: Any, tmp_path: Path,
                                                                      rigs: list[WebRig]) -> None:
    import socket

    rig = WebRig(tmp_path, queue_limit=8)
    rigs.append(rig)
    page = open_page(browser, rig.url)
    host, port = rig.url.split("//")[1].split("/")[0].split(":")
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect((host, int(port)))
    stuck.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    wait_for(lambda: len(rig.surface.clients) == 2, what="the stuck page to connect")
    addresses = [p.address for p in rig.session.registry.find("tracks/tone/*/*")
                 if p.spec.kind == "number" and not p.spec.read_only]
    deadline = time.monotonic() + 60
    step = 0
    while rig.surface.dropped == 0:                       # everything moves; the stuck page never reads
        step += 1
        rig.session.registry.set_many([(a, (step % 50) / 50) for a in addresses], "api", normalized=True)
        time.sleep(0.001)
        assert time.monotonic() < deadline, "the stuck page was never dropped"
    rig.session.set("tracks/tone/gain_db", -11.0)
    wait_for(lambda: slider(page, "tone gain").get_attribute("aria-valuetext") == "-11.0 dB",
             what="the reading page to keep up")
    assert len(rig.surface.clients) == 1
    stuck.close()


@pytest.mark.parametrize(("text", "expected"), [("8080", ("127.0.0.1", 8080)), ("0.0.0.0:9000", ("0.0.0.0", 9000)),
                                                ("[::1]:8081", ("::1", 8081)), ("127.0.0.2:0", ("127.0.0.2", 0))])
def test_web_addresses(text: str, expected: tuple[str, int]) -> None:
    from host.control.launch import web_address

    assert web_address(text) == expected


@pytest.mark.parametrize("text", ["http", "host:99999", "host:"])
def test_bad_web_addresses_are_refused(text: str) -> None:
    from host.control.launch import web_address
    from host.errors import UserInputError

    with pytest.raises(UserInputError, match=r"\[HOST:\]PORT"):
        web_address(text)


def test_mixhost_live_web_prints_a_url_with_a_token_and_a_qr_code(tmp_path: Path) -> None:
    import os
    import re
    import signal
    import subprocess
    import sys

    from test_live_helpers import make_session

    path = make_session(tmp_path, 1.0)
    process = subprocess.Popen([sys.executable, "-m", "host", "live", str(path), "--audio", "none", "--no-status",
                                "--web", "127.0.0.2:0", "--web-allow", "127.0.0.0/8"],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        assert process.stderr is not None
        lines: list[str] = []
        while not any("playing" in line for line in lines):
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        url = next(m.group(0) for line in lines if (m := re.search(r"http://\S+token=[\w-]+", line)))
        assert any("█" in line for line in lines)                  # the QR code
        assert fetch(url) == 200 and fetch(url.split("?")[0]) == 403
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
