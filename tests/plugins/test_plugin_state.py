"""Plugin state and presets: round trips with real plugins, and refusal of bad data."""

from __future__ import annotations

import json
import plistlib
from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import BLOCK, SR, Bound, sine

from host.errors import PluginError
from host.plugins.cache import PluginCache
from host.plugins.stage import PluginStage, make_plugin_stage
from host.plugins.state import check_raw_state

SETTINGS = {"low_db": -18.0, "mid_db": 6.0, "low_mid_freq_hz": 500.0}


def _eq(base: Path, **options: object) -> PluginStage:
    return make_plugin_stage("eq", {"path": "3BandEQ.vst3", **options}, base)


def _render(stage: PluginStage, params: dict | None = None) -> np.ndarray:
    bound = Bound(stage, params)
    stage.prepare(SR, BLOCK, 2)
    x = sine(80.0, 0.5) + sine(1500.0, 0.5, amp=0.2)
    return bound.run(x)


def _saved(plugin_dir: Path, tmp_path: Path) -> tuple[Path, np.ndarray]:
    stage = _eq(plugin_dir)
    reference = _render(stage, SETTINGS)
    return stage.save_state(tmp_path / "eq.mxstate"), reference


def test_saved_state_restores_values_and_sound(plugin_env: PluginCache, plugin_dir: Path, tmp_path: Path) -> None:
    path, reference = _saved(plugin_dir, tmp_path)
    restored = _eq(plugin_dir, state=str(path))
    defaults = {s.name: s.default for s in restored.param_specs()}
    for name, value in SETTINGS.items():
        assert defaults[name] == pytest.approx(value, abs=0.05)
    np.testing.assert_allclose(_render(restored), reference, atol=1e-5)


def test_a_vstpreset_is_loaded(plugin_env: PluginCache, plugin_dir: Path, tmp_path: Path) -> None:
    stage = _eq(plugin_dir)
    _render(stage, SETTINGS)
    preset = tmp_path / "eq.vstpreset"
    preset.write_bytes(stage.plugin.preset_data)
    loaded = _eq(plugin_dir, preset=str(preset))
    defaults = {s.name: s.default for s in loaded.param_specs()}
    assert defaults["low_db"] == pytest.approx(-18.0, abs=0.05)


RAW_BLOBS = {
    "broken-xml": b'<?xml version="1.0"?><VST3PluginState><IComponent></VST3PluginState>',
    "broken-bplist": b"bplist00" + bytes(range(40)),
}


@pytest.mark.parametrize(
    "raw",
    [b'<?xml version="1.0"?><state a="1"/>', plistlib.dumps({"data": b"\x00\x01"}, fmt=plistlib.FMT_BINARY)],
    ids=["xml", "bplist"],
)
def test_well_formed_xml_and_plist_states_pass_the_checks(raw: bytes, tmp_path: Path) -> None:
    check_raw_state(raw, tmp_path / "s.raw")  # refused only when damaged, never for their format


def _corrupt(kind: str, path: Path, plugin_dir: Path, tmp_path: Path) -> Path:
    document = json.loads(path.read_text())
    if kind == "checksum":
        document["sha256"] = "0" * 64
    elif kind == "other-plugin":
        other = make_plugin_stage("verb", {"path": "MVerb.vst3"}, plugin_dir)
        return other.save_state(tmp_path / "verb.mxstate")
    elif kind == "format":
        document["format"] = "something-else"
    elif kind == "truncated-raw":
        raw = tmp_path / "eq.raw"
        raw.write_bytes(_eq(plugin_dir).plugin.raw_state[:40])
        return raw
    elif kind == "garbage":
        raw = tmp_path / "eq.bin"
        raw.write_bytes(b"\x00\x01garbage that a plugin must never see")
        return raw
    elif kind == "other-plugin-vstpreset":
        preset = tmp_path / "verb.vstpreset"
        preset.write_bytes(make_plugin_stage("verb", {"path": "MVerb.vst3"}, plugin_dir).plugin.preset_data)
        return preset
    elif kind in RAW_BLOBS:
        raw = tmp_path / f"{kind}.raw"
        raw.write_bytes(RAW_BLOBS[kind])
        return raw
    elif kind == "truncated-vstpreset":
        preset = tmp_path / "cut.vstpreset"
        preset.write_bytes(_eq(plugin_dir).plugin.preset_data[:120])
        return preset
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("checksum", "damaged"),
        ("other-plugin", "belongs to plugin 'MVerb'"),
        ("format", "not a mixhost plugin state file"),
        ("truncated-raw", "truncated"),
        ("garbage", "not plugin state data"),
        ("truncated-vstpreset", "outside the file"),
        # MVerb's class id, then the 3 Band EQ's own: both named
        ("other-plugin-vstpreset", r"class id 2046504473616C636272564D00000000\), not '3 Band EQ' "
                                   r"\(class id 2046504473616C635145334400000000\)"),
        ("broken-xml", "not well-formed XML"),
        ("broken-bplist", "not well-formed binary property list"),
    ],
)
def test_bad_state_is_refused_before_reaching_the_plugin(
    plugin_env: PluginCache, plugin_dir: Path, tmp_path: Path, kind: str, message: str
) -> None:
    path, _ = _saved(plugin_dir, tmp_path)
    bad = _corrupt(kind, path, plugin_dir, tmp_path)
    with pytest.raises(PluginError, match=message):
        _eq(plugin_dir, state=str(bad))


def test_a_bare_raw_state_file_is_accepted(plugin_env: PluginCache, plugin_dir: Path, tmp_path: Path) -> None:
    stage = _eq(plugin_dir)
    _render(stage, SETTINGS)
    raw = tmp_path / "eq.raw"
    raw.write_bytes(stage.plugin.raw_state)
    defaults = {s.name: s.default for s in _eq(plugin_dir, state=str(raw)).param_specs()}
    assert defaults["mid_db"] == pytest.approx(6.0, abs=0.05)


def test_save_states_writes_beside_the_session_and_reloads(
    plugin_env: PluginCache, plugin_dir: Path, tmp_path: Path
) -> None:
    from host.plugins.stage import save_states
    from host.stages.utility import Gain

    stage = _eq(plugin_dir)
    reference = _render(stage, SETTINGS)
    session_path = tmp_path / "song.yaml"
    written = save_states({"tracks/bass/eq": stage, "tracks/bass/trim": Gain("trim")}, session_path)
    assert written == {"tracks/bass/eq": "song.plugins/tracks__bass__eq.mxstate"}
    restored = _eq(tmp_path, path=str(plugin_dir / "3BandEQ.vst3"), state=written["tracks/bass/eq"])
    np.testing.assert_allclose(_render(restored), reference, atol=1e-5)


def test_loading_state_into_a_running_stage_is_not_undone_by_stale_registry_values(
    plugin_env: PluginCache, plugin_dir: Path, tmp_path: Path
) -> None:
    path, reference = _saved(plugin_dir, tmp_path)
    stage = _eq(plugin_dir)
    bound = Bound(stage)
    stage.prepare(SR, BLOCK, 2)
    values = stage.load_state(path)
    assert values["low_db"] == pytest.approx(-18.0, abs=0.05)
    x = sine(80.0, 0.5) + sine(1500.0, 0.5, amp=0.2)
    stage.reset()
    np.testing.assert_allclose(bound.run(x), reference, atol=1e-5)
    for name, value in values.items():  # the caller syncs the registry; nothing is rewritten
        bound.set(name, value)
    stage.reset()
    np.testing.assert_allclose(bound.run(x), reference, atol=1e-5)


def _juce_base64_by_definition(data: bytes) -> str:
    """JUCE's MemoryBlock::toBase64Encoding spelled out: 6-bit digits of the little-endian number."""
    from host.plugins.state import _JUCE_BASE64

    value = int.from_bytes(data, "little")
    return f"{len(data)}." + "".join(_JUCE_BASE64[(value >> (6 * i)) & 63] for i in range((len(data) * 8 + 5) // 6))


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 6, 7, 255, 1000])
def test_juce_base64_matches_its_definition(size: int) -> None:
    from host.plugins.state import juce_base64

    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    assert juce_base64(data) == _juce_base64_by_definition(data)
