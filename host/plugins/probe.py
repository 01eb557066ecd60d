"""Probing plugins in a separate process, so one that crashes or hangs cannot take mixhost down.

:func:`probe` runs ``python -m host.plugins.probe PATH`` with a timeout.  The
child loads every plugin in the bundle, asks each for its name, vendor,
category, channel layouts, latency and parameters, reads its audio buses
(:mod:`host.plugins.buses`: VST3 binaries only), and prints one JSON
document on its (original) standard output.  Anything the plugin itself
writes to stdout is redirected to stderr first, so it cannot corrupt the
JSON.  A crash (a signal or non-zero exit), a timeout or unreadable output is
a failed probe with the reason recorded; the parent never loads the plugin.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_S = 60.0
_PROBE_FRAMES = 256
_PROBE_RATE = 48_000.0


@dataclass
class ProbeResult:
    """The outcome of probing one bundle: its plugins, or why it failed."""

    path: str
    ok: bool
    plugins: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""


def probe(path: Path, timeout: float = DEFAULT_TIMEOUT_S) -> ProbeResult:
    """Probe the bundle at ``path`` in a child process; never raises for a bad plugin."""
    cmd = [sys.executable, "-m", "host.plugins.probe", str(path)]
    # the child must import this very package, even when mixhost runs from a source checkout
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    # its own session (process group), so a timeout kills whatever the plugin started too
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          start_new_session=True) as child:
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(child)
            return ProbeResult(str(path), False, reason=f"timed out after {timeout:g} s (plugin hangs on load)")
    return _result_of(path, subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr))


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL the probe and every process in its group, then reap the probe."""
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.killpg(child.pid, signal.SIGKILL)
    child.communicate()


def _result_of(path: Path, done: subprocess.CompletedProcess[bytes]) -> ProbeResult:
    stderr_tail = _tail(done.stderr)
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        return ProbeResult(str(path), False, reason=f"crashed ({name}){stderr_tail}")
    try:
        report = json.loads(done.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        return ProbeResult(
            str(path), False, reason=f"probe exited with status {done.returncode} and no report{stderr_tail}"
        )
    if not report.get("ok"):
        return ProbeResult(str(path), False, reason=str(report.get("reason", "unknown failure")))
    return ProbeResult(str(path), True, plugins=list(report["plugins"]))


def _tail(stderr: bytes, lines: int = 3) -> str:
    text = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return (": " + " | ".join(text[-lines:])) if text else ""


# -- the child side ---------------------------------------------------------------


def describe_plugin(plugin: Any, path: Path, fmt: str, class_name: str | None = None) -> dict[str, Any]:
    """Everything `mixhost plugins list/params` shows about one loaded plugin.

    ``class_name`` names the plugin inside a shell bundle (None: the bundle's only one).
    """
    from .buses import read_vst3_buses
    from .parameters import plugin_params, spec_to_json

    instrument = bool(plugin.is_instrument)
    channels = _instrument_channels(plugin) if instrument else _effect_channels(plugin)
    kind = "instrument" if instrument else "effect"
    layout = read_vst3_buses(path, class_name) if fmt == "vst3" else None
    return {
        "name": str(plugin.name),
        "vendor": str(plugin.manufacturer_name or ""),
        "format": fmt,
        "category": str(plugin.category or ""),
        "kind": kind,
        "identifier": str(plugin.identifier or ""),
        "version": str(plugin.version or ""),
        "path": str(path),
        "channels": channels,
        "layout": layout_text(kind, channels),
        "latency": int(plugin.reported_latency_samples),
        "params": [spec_to_json(p.spec) for p in plugin_params(plugin).values()],
        # None: not readable here (an AU, a macOS bundle); the stage then cannot check it
        "buses": layout.to_json() if layout is not None else None,
    }


def layout_text(kind: str, channels: list[int]) -> str:
    """Every layout pedalboard opens, as ``in→out``: ``1→1, 2→2``; an instrument's input is ``MIDI``."""
    if not channels:
        return "none that pedalboard can open"
    return ", ".join(f"{'MIDI' if kind == 'instrument' else count}→{count}" for count in sorted(channels))


def _effect_channels(plugin: Any) -> list[int]:
    """Channel counts (equal in and out) the plugin accepts through pedalboard."""
    import numpy as np

    works = []
    for count in (2, 1):
        try:
            plugin.process(np.zeros((count, _PROBE_FRAMES), np.float32), _PROBE_RATE, reset=True)
        except (ValueError, RuntimeError):
            continue
        works.append(count)
    return sorted(works)


def _instrument_channels(plugin: Any) -> list[int]:
    works = []
    for count in (2, 1):
        try:
            plugin.process([], duration=_PROBE_FRAMES / _PROBE_RATE, sample_rate=_PROBE_RATE,
                           num_channels=count, reset=True)
        except (ValueError, RuntimeError):
            continue
        works.append(count)
    return sorted(works)


def _child(path: Path) -> dict[str, Any]:
    from ..errors import PluginError
    from . import loader

    fmt = loader.plugin_format(path)
    if fmt is None:
        return {"ok": False, "reason": "not a .vst3 or .component bundle"}
    try:
        names = loader.plugin_names_in(path)
        plugins = []
        for name in names:
            plugin = loader.load(path, name if len(names) > 1 else None)
            plugins.append(describe_plugin(plugin, path, fmt, name if len(names) > 1 else None))
    except PluginError as error:
        return {"ok": False, "reason": error.message.removeprefix(f"{path}: ")}
    if not plugins:
        return {"ok": False, "reason": "bundle holds no plugins"}
    return {"ok": True, "plugins": plugins}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m host.plugins.probe PLUGIN_PATH\n")
        return 2
    # plugins may write to stdout; keep the real stdout for the report only
    report_fd = os.dup(1)
    os.dup2(2, 1)
    report = _child(Path(args[0]))
    with os.fdopen(report_fd, "w", encoding="utf-8") as out:
        json.dump(report, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
