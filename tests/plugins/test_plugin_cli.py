"""`mixhost plugins scan|list|params` against the real test plugins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from host.cli import main
from host.plugins.cache import PluginCache


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_scan_then_list_shows_every_plugin_with_its_details(
    plugin_env: PluginCache, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad" / "Empty.vst3"
    bad.mkdir(parents=True)
    assert main(["plugins", "scan", str(bad.parent)]) == 0
    printed = capsys.readouterr().out
    assert "4 probed" in printed and "1 failed" in printed
    rows = {r["name"]: r for r in _json(capsys, ["plugins", "list", "--json"])}  # type: ignore[union-attr]
    assert rows["Kars"]["kind"] == "instrument" and rows["Kars"]["layout"] == "0 in / 1 out"
    assert rows["3 Band EQ"]["vendor"] == "DISTRHO" and rows["3 Band EQ"]["category"] == "Fx|EQ"
    assert rows["MVerb"]["latency"] == 0 and rows["MVerb"]["status"] == "ok"
    assert rows["Empty"]["status"] == "failed" and rows["Empty"]["reason"]
    assert main(["plugins", "scan", str(bad.parent)]) == 0
    assert "1 skipped (failed before)" in capsys.readouterr().out
    assert main(["plugins", "list"]) == 0
    assert "Kars" in capsys.readouterr().out


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
