"""Run inside a private network namespace: advertise with mixhost in a child process, browse here.

Usage: ``python zeroconf_probe.py NAME HOST PORT``, or ``python zeroconf_probe.py
--live SESSION HOST PORT [OPTION...]`` (the advertiser is then ``mixhost live SESSION --osc``,
stopped by SIGINT as a user's Ctrl-C would).  Prints one JSON line
per event the browser saw: ``{"event": "added", ...service info...}`` and,
after the advertiser closed its advertisement, ``{"event": "removed", ...}``.
Never run it on a real network: the test runs it under ``unshare -n``.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

from host.control.osc.zeroconf import SERVICE_TYPE

TIMEOUT_S = 15.0

# the advertiser: advertise, say so, wait for a line on stdin, close, say so
ADVERTISER = textwrap.dedent("""\
    import sys
    from host.control.osc.zeroconf import advertise
    ad = advertise(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    print("advertised" if ad is not None else "nothing", flush=True)
    sys.stdin.readline()
    if ad is not None:
        ad.close()
    print("closed", flush=True)
""")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@contextmanager
def browsing() -> Iterator[tuple[queue.Queue[tuple[str, str]], Zeroconf]]:
    """A browser for mixhost's service type on every interface of the namespace: its events
    (state, name) as they come, and its Zeroconf to resolve them with."""
    events: queue.Queue[tuple[str, str]] = queue.Queue()

    def changed(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        events.put((state_change.name.lower(), name))

    browser_zc = Zeroconf()
    browser = ServiceBrowser(browser_zc, SERVICE_TYPE, handlers=[changed])
    try:
        yield events, browser_zc
    finally:
        browser.cancel()
        browser_zc.close()


def main(name: str, host: str, port: int) -> int:
    with browsing() as (events, browser_zc):
        child = subprocess.Popen([sys.executable, "-c", ADVERTISER, name, host, str(port)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdin is not None and child.stdout is not None
        try:
            said = child.stdout.readline().strip()
            say(json.dumps({"event": "advertiser", "said": said}))
            if said == "advertised":
                report(events, browser_zc, "added")
            child.stdin.write("close\n")
            child.stdin.flush()
            say(json.dumps({"event": "advertiser", "said": child.stdout.readline().strip()}))
            if said == "advertised":
                report(events, browser_zc, "removed")
        finally:
            child.kill()
            child.wait()
    return 0


def report(events: queue.Queue[tuple[str, str]], zeroconf: Zeroconf, wanted: str,
           timeout_s: float = TIMEOUT_S) -> None:
    """Wait for the browser's next ``wanted`` event and print it, with the resolved service if added."""
    try:
        while True:
            state, name = events.get(timeout=timeout_s)
            if state == wanted:
                break
    except queue.Empty:
        say(json.dumps({"event": f"no {wanted} within {timeout_s} s"}))
        return
    found: dict[str, Any] = {"event": state, "name": name}
    if state == "added":
        info = zeroconf.get_service_info(SERVICE_TYPE, name, timeout=int(TIMEOUT_S * 1000))
        if info is not None:
            found.update(type=info.type, port=info.port, addresses=info.parsed_addresses(),
                         properties={k.decode(): (v or b"").decode() for k, v in info.properties.items()})
    say(json.dumps(found))


def live(session: str, host: str, port: int, *extra: str) -> int:
    """Browse while ``mixhost live SESSION --osc`` on ``host:port`` runs, then stop it with SIGINT."""
    with browsing() as (events, browser_zc):
        child = subprocess.Popen([sys.executable, "-m", "host", "live", session, "--audio", "none", "--no-status",
                                  "--osc", "--osc-bind", host, "--osc-port", str(port), *extra],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True)
        assert child.stderr is not None
        try:
            said = []
            for line in child.stderr:    # the surfaces are open (and advertised) once this line is out
                said.append(line)
                if "keeps running at the session end" in line:
                    break
            report(events, browser_zc, "added")
            child.send_signal(signal.SIGINT)
            _, rest = child.communicate(timeout=60)
            say(json.dumps({"event": "live", "exit": child.returncode, "stderr": "".join(said) + rest}))
            report(events, browser_zc, "removed", timeout_s=5.0)
        finally:
            child.kill()
            child.wait()
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--live":
        sys.exit(live(sys.argv[2], sys.argv[3], int(sys.argv[4]), *sys.argv[5:]))
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
