"""Plugins with buses pedalboard cannot drive: a sidechain input (SideGate), a second output bus (BandSplit).

pedalboard feeds a plugin's first input bus and returns its first output bus
only.  The scan records every bus, `plugins list` flags such plugins, and a
session refuses them with a file:line error unless the entry says
``buses: main``.  The last tests measure what pedalboard does with them, which
is why they are refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import SR, Bound, rms_db, sine

import host
from host.cli import main
from host.errors import SessionError
from host.plugins.buses import BusLayout, read_vst3_buses
from host.plugins.cache import PluginCache
from host.plugins.scan import scan
from host.plugins.stage import make_plugin_stage
from tests.conftest import read_mix
from tests.plugins.test_plugin_cli import _cli, _table

# bundle: (inputs, outputs), each bus as (name, channels, aux)
LAYOUTS = {
    "SideGate": ([("Audio Input", 2, False), ("Sidechain L", 2, True)], [("Audio Output", 2, False)]),
    "BandSplit": ([("Audio Input", 2, False)], [("Low", 2, False), ("High", 2, False)]),
    "3BandEQ": ([("Audio Input", 2, False)], [("Audio Output", 2, False)]),
    "CycleShifter": ([("Audio Input", 1, False)], [("Audio Output", 1, False)]),
    "Kars": ([], [("Audio Output", 1, False)]),
}
FLAGS = {"SideGate": "limited: sidechain not fed", "BandSplit": "limited: 2 output buses, first only",
         "3BandEQ": "ok", "CycleShifter": "ok", "Kars": "ok"}


def _buses(layout: BusLayout) -> tuple[list[tuple[str, int, bool]], list[tuple[str, int, bool]]]:
    return ([(b.name, b.channels, b.aux) for b in layout.inputs], [(b.name, b.channels, b.aux) for b in layout.outputs])


@pytest.mark.parametrize("stem", sorted(LAYOUTS))
def test_the_scan_records_every_audio_bus(plugin_env: PluginCache, stem: str) -> None:
    report = scan(cache=plugin_env)
    assert not report.failed
    entry = next(e for e in plugin_env.entries() if Path(e.path).stem == stem)
    layout = BusLayout.from_json(entry.info["buses"])
    assert layout is not None
    assert _buses(layout) == LAYOUTS[stem]


@pytest.mark.parametrize("kind", ["garbage-binary", "no-binary", "null-factory"])
def test_an_unreadable_bundle_has_an_unknown_layout(tmp_path: Path, broken_bundle, kind: str) -> None:
    if kind == "null-factory":  # a real shared library whose GetPluginFactory returns NULL
        bad = broken_bundle("chatty")
    else:
        bad = tmp_path / "Bad.vst3"
        binary_dir = bad / "Contents" / f"{os.uname().machine}-linux"
        binary_dir.mkdir(parents=True)
        if kind == "garbage-binary":
            (binary_dir / "Bad.so").write_bytes(b"not a plugin at all")
    assert read_vst3_buses(bad) is None


def test_plugins_list_flags_what_pedalboard_cannot_drive(
    plugin_env: PluginCache, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "scan"]) == 0
    capsys.readouterr()
    assert main(["plugins", "list", "--json"]) == 0
    rows = {Path(r["path"]).stem: r for r in json.loads(capsys.readouterr().out)}
    assert rows["SideGate"]["limits"] == [
        "input bus 'Sidechain L' (2 ch, aux) is never fed (pedalboard feeds the main input bus only; it hears silence)"]
    assert rows["BandSplit"]["limits"] == [
        "output bus 'High' (2 ch, main) is dropped (pedalboard returns the main output bus only)"]
    assert rows["3BandEQ"]["limits"] == [] and rows["3BandEQ"]["buses"]["outputs"][0]["channels"] == 2
    done = _cli("plugins", "list", cwd=tmp_path, COLUMNS="250")
    assert done.returncode == 0, done.stderr
    status = {cells[0]: cells[-1] for cells in _table(done.stdout)[1:]}
    names = {"SideGate": "SideGate", "BandSplit": "BandSplit", "3BandEQ": "3 Band EQ",
             "CycleShifter": "Cycle Shifter", "Kars": "Kars"}
    assert {stem: status[name] for stem, name in names.items()} == FLAGS
    assert "unless their entry says `buses: main`" in " ".join(done.stdout.split())


SESSION = """
session: {{name: keyed, sample_rate: 48000}}
tracks:
  kick:
    source: kick.wav
  pad:
    source: pad.wav
    chain:
      - {entry}
outputs: {{mixdown: mix.wav, bit_depth: float}}
"""
ENTRY_LINE = 8  # the chain entry's line in SESSION


def _keyed_session(write_session, write_audio, entry: str) -> Path:
    key = sine(60.0, 2.0)
    key[:, : SR] = 0.0  # the key is silent for the first second, then plays
    write_audio("kick.wav", key.T)
    write_audio("pad.wav", sine(220.0, 2.0, amp=0.3).T)
    return write_session(SESSION.format(entry=entry))


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("{id: gate, plugin: SideGate}", "input bus 'Sidechain L' (2 ch, aux) is never fed"),
        ("{id: gate, path: BUNDLE/SideGate.vst3}", "input bus 'Sidechain L' (2 ch, aux) is never fed"),
        ("{id: split, plugin: BandSplit}", "output bus 'High' (2 ch, main) is dropped"),
        ("{id: split, path: BUNDLE/BandSplit.vst3}", "output bus 'High' (2 ch, main) is dropped"),
    ],
    ids=["sidechain-by-name", "sidechain-by-path", "two-outputs-by-name", "two-outputs-by-path"],
)
def test_a_session_refuses_a_plugin_pedalboard_cannot_drive_naming_file_line_and_the_way_out(
    plugin_env: PluginCache, plugin_dir: Path, write_session, write_audio, entry: str, said: str
) -> None:
    # by path, the bundle was never scanned: its buses are probed when the session is built
    path = _keyed_session(write_session, write_audio, entry.replace("BUNDLE", str(plugin_dir)))
    with pytest.raises(SessionError) as caught:
        host.load_session(path)
    error = caught.value
    assert error.line == ENTRY_LINE, str(error)
    assert said in error.message and "cannot be driven fully" in error.message
    assert "buses: main" in (error.hint or "")
    done = _cli("render", str(path), cwd=path.parent)
    assert done.returncode == 2, done.stderr
    assert f"session.yaml:{ENTRY_LINE}" in done.stderr and said in done.stderr
    assert "Traceback" not in done.stderr
    assert not (path.parent / "mix.wav").exists()


def test_keying_a_plugin_with_sidechain_is_refused_pointing_at_the_native_stages(
    plugin_env: PluginCache, write_session, write_audio
) -> None:
    path = _keyed_session(write_session, write_audio, "{id: gate, plugin: SideGate, sidechain: kick}")
    with pytest.raises(SessionError) as caught:
        host.load_session(path)
    assert caught.value.line == ENTRY_LINE
    assert "cannot feed a plugin's sidechain input" in caught.value.message
    assert "sidechain: kick" in (caught.value.hint or "") and "gate" in (caught.value.hint or "")
    done = _cli("validate", str(path), cwd=path.parent)
    assert done.returncode == 2 and f"session.yaml:{ENTRY_LINE}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_buses_main_accepts_the_plugin_and_renders(plugin_env: PluginCache, write_session, write_audio) -> None:
    path = _keyed_session(write_session, write_audio, "{id: split, plugin: BandSplit, buses: main}")
    host.load_session(path).render()
    pad = read_mix(path.parent / "mix.wav").T
    assert rms_db(pad[:, SR // 2 : SR]) > -20.0  # the kick is silent here: the pad's low band is heard


def test_a_plain_plugin_is_not_refused(plugin_env: PluginCache, write_session, write_audio) -> None:
    path = _keyed_session(write_session, write_audio, "{id: eq, plugin: 3BandEQ}")
    host.load_session(path).render()
    assert (path.parent / "mix.wav").exists()


# -- what pedalboard does with these buses: the reason they are refused --------------------


def _stage(bundle, stem: str) -> Bound:
    stage = make_plugin_stage("p", {"path": str(bundle(stem)), "buses": "main"}, Path("."))
    bound = Bound(stage)
    stage.prepare(SR, 4096, 2)
    return bound


def test_pedalboard_never_feeds_the_sidechain_so_the_gate_stays_shut(plugin_env: PluginCache, bundle) -> None:
    pad = sine(220.0, 1.0, amp=0.3)
    gated = _stage(bundle, "SideGate").run(pad)
    assert rms_db(pad) > -15.0
    assert rms_db(gated) < -120.0  # the key bus hears silence: a silent track


def test_pedalboard_returns_the_first_output_bus_only(plugin_env: PluginCache, bundle) -> None:
    low, high = sine(100.0, 1.0), sine(8000.0, 1.0)
    split = _stage(bundle, "BandSplit")
    low_out = split.run(low)[:, SR // 2 :]
    split.stage.reset()
    high_out = split.run(high)[:, SR // 2 :]
    assert abs(rms_db(low_out) - rms_db(low)) < 1.0  # the low band comes out
    assert rms_db(high_out) - rms_db(high) < -30.0  # the high band (bus 2) never does
    assert np.isfinite(high_out).all()
