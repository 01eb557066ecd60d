"""`mixhost plugins scan|list|params` against the real test plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import host
from host.cli import main
from host.errors import PluginError
from host.plugins.cache import PluginCache
from tests.conftest import tone
from tests.plugins.conftest import REQUIRED


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_scan_then_list_shows_every_plugin_with_its_details(
    plugin_env: PluginCache, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad" / "Empty.vst3"
    bad.mkdir(parents=True)
    # a plugin installed in the user's standard folder is not this test's business (plugin_env)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / ".vst3" / "Installed.vst3").mkdir(parents=True)
    assert main(["plugins", "scan", str(bad.parent)]) == 0
    printed = capsys.readouterr().out
    assert f"{len(REQUIRED)} probed" in printed and "1 failed" in printed
    rows = {r["name"]: r for r in _json(capsys, ["plugins", "list", "--json"])}  # type: ignore[union-attr]
    assert rows["Kars"]["kind"] == "instrument" and rows["Kars"]["layout"] == "MIDI→1"
    assert rows["3 Band EQ"]["vendor"] == "DISTRHO" and rows["3 Band EQ"]["category"] == "Fx|EQ"
    assert rows["MVerb"]["latency"] == 0 and rows["MVerb"]["status"] == "ok"
    assert rows["Empty"]["status"] == "failed" and rows["Empty"]["reason"]
    assert main(["plugins", "scan", str(bad.parent)]) == 0
    assert "1 skipped (failed before)" in capsys.readouterr().out
    table = _table(_cli("plugins", "list", cwd=tmp_path, COLUMNS="200").stdout)
    assert table[0] == ["name", "vendor", "format", "category", "instrument/effect", "layout (in→out)",
                        "latency", "status"]
    assert ["Kars", "falkTX", "vst3", "Instrument", "instrument", "MIDI→1", "0", "ok"] in table
    assert ["MVerb", "Martin Eastwood, falkTX", "vst3", "Fx|Reverb", "effect", "2→2", "0", "ok"] in table


def _table(printed: str) -> list[list[str]]:
    """The cells of a printed table, row by row (rules and borders dropped)."""
    rows = []
    for line in printed.splitlines():
        if "│" in line or "┃" in line:
            rows.append([cell.strip() for cell in line.replace("┃", "│").strip().strip("│").split("│")])
    return rows


@pytest.mark.parametrize(
    ("kind", "channels", "shown"),
    [("effect", [2, 1], "1→1, 2→2"), ("effect", [1], "1→1"), ("instrument", [1, 2], "MIDI→1, MIDI→2"),
     ("effect", [], "none that pedalboard can open")],
)
def test_the_layout_column_lists_every_layout_that_opens(kind: str, channels: list[int], shown: str) -> None:
    from host.plugins.probe import layout_text

    assert layout_text(kind, channels) == shown


def test_params_lists_ranges_units_choices_and_defaults(
    plugin_env: PluginCache, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = _json(capsys, ["plugins", "params", "3bandeq", "--json"])
    params = {p["name"]: p for p in shown["params"]}  # type: ignore[index]
    assert params["low_db"] == {"name": "low_db", "label": "Low", "default": 0.0, "kind": "number",
                                "min": -24.0, "max": 24.0, "unit": "dB"}
    verb = {p["name"]: p for p in _json(capsys, ["plugins", "params", "MVerb", "--json"])["params"]}  # type: ignore[index]
    assert verb["current_program"]["choices"][:2] == ["halves", "dark"]


def test_params_of_a_misspelled_plugin_exits_2_with_a_did_you_mean(
    plugin_env: PluginCache, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "params", "Karz"]) == 2
    assert 'did you mean "Kars"' in capsys.readouterr().err


def test_an_unusable_cache_folder_is_a_user_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MIXHOST_CACHE_DIR", str(blocker / "cache"))
    assert main(["plugins", "list"]) == 2
    assert "MIXHOST_CACHE_DIR" in capsys.readouterr().err


def _cli(*argv: str, cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``python -m host ...`` in a child, as a user runs it (the plugin_env variables are inherited)."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, **extra_env,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "host", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_a_dangling_bundle_link_is_a_recorded_failure_not_a_traceback(
    plugin_env: PluginCache, tmp_path: Path
) -> None:
    folder = tmp_path / "links"
    folder.mkdir()
    (folder / "Gone.vst3").symlink_to(tmp_path / "removed" / "Gone.vst3")
    done = _cli("plugins", "scan", str(folder), cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    printed = " ".join(done.stdout.split())  # the console wraps long lines
    assert "1 failed" in printed and "Gone.vst3" in printed and "cannot read the bundle" in printed, printed
    assert f"{len(REQUIRED)} probed" in printed  # the other bundles are scanned all the same
    failed = [e for e in plugin_env.entries() if not e.ok]
    assert [Path(e.path).name for e in failed] == ["Gone.vst3"] and "broken link" in failed[0].reason


# /proc/self/mem is a regular file whose read fails (EIO) even for root, so it stands in for an
# unreadable preset on any Linux machine, whoever runs the tests
UNREADABLE = {
    "unreadable-preset": ("preset: /proc/self/mem", "cannot read this preset or state file"),
    "missing-state": ("state: nowhere.mxstate", "no such preset or state file"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_an_unusable_preset_file_exits_2_naming_it(
    case: str, plugin_env: PluginCache, plugin_dir: Path, write_session, write_audio, tmp_path: Path
) -> None:
    key, message = UNREADABLE[case]
    write_audio("a.wav", tone(440, seconds=0.2))
    path = write_session(f"""
        tracks:
          a: {{source: a.wav, chain: [{{path: {plugin_dir / '3BandEQ.vst3'}, {key}}}]}}
    """)
    done = _cli("render", str(path), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    printed = " ".join(done.stderr.split())
    assert message in printed and f"{path.name}:" in printed, printed


def test_an_unwritable_state_folder_is_a_plugin_error(
    plugin_env: PluginCache, plugin_dir: Path, write_session, write_audio, tmp_path: Path
) -> None:
    write_audio("a.wav", tone(440, seconds=0.2))
    path = write_session(f"tracks:\n  a: {{source: a.wav, chain: [{{path: {plugin_dir / '3BandEQ.vst3'}}}]}}\n")
    (tmp_path / "saved.plugins").write_text("a file where the state folder would go")
    with pytest.raises(PluginError, match=r"cannot write the state of plugin 3 Band EQ to .*saved\.plugins") as caught:
        host.load_session(path).save(tmp_path / "saved.yaml")
    assert caught.value.hint and "writable folder" in caught.value.hint
