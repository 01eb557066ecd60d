"""Scanning real plugins: probe in a child process, SQLite cache, failures, lookup."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from host.errors import PluginError
from host.plugins.cache import PluginCache
from host.plugins.probe import probe
from host.plugins.scan import STANDARD_DIRS_ENV, find_plugin, scan, search_dirs, standard_dirs

EXPECTED = {
    # bundle: (name, kind, layout, latency, some parameter names)
    "3BandEQ": ("3 Band EQ", "effect", "2→2", 0, {"low_db", "mid_db", "high_db", "master_db",
                                                  "low_mid_freq_hz", "mid_high_freq_hz"}),
    "MVerb": ("MVerb", "effect", "2→2", 0, {"damping", "density", "bandwidth", "decay", "predelay",
                                            "size", "gain", "mix", "early_late_mix"}),
    "Kars": ("Kars", "instrument", "MIDI→1", 0, {"sustain", "release_s", "volume"}),
    "CycleShifter": ("Cycle Shifter", "effect", "1→1", 0, {"new_cycle_vol", "input_vol"}),
    "LatentDelay": ("LatentDelay", "effect", "2→2", 480, set()),
}


def _by_stem(cache: PluginCache) -> dict[str, dict]:
    return {Path(e.path).stem: e.info for e in cache.entries() if e.ok}


def test_scan_finds_the_test_plugins_with_their_layouts(plugin_env: PluginCache) -> None:
    report = scan(cache=plugin_env)
    found = _by_stem(plugin_env)
    for stem, (name, kind, layout, latency, params) in EXPECTED.items():
        assert stem in found, f"{stem} not scanned: {report}"
        info = found[stem]
        assert (info["name"], info["kind"], info["layout"], info["format"]) == (name, kind, layout, "vst3")
        assert params <= {p["name"] for p in info["params"]}
        assert info["latency"] == latency
    assert not report.failed


def test_kars_midi_cc_pseudo_parameters_are_filtered(plugin_env: PluginCache) -> None:
    scan(cache=plugin_env)
    names = [p["name"] for p in _by_stem(plugin_env)["Kars"]["params"]]
    assert names == ["sustain", "release_s", "volume"]
    sustain = _by_stem(plugin_env)["Kars"]["params"][0]
    assert sustain["kind"] == "boolean"


def test_warm_rescan_probes_nothing_and_a_changed_bundle_is_probed_again(
    plugin_env: PluginCache, plugin_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "extra" / "MVerb.vst3"
    shutil.copytree(plugin_dir / "MVerb.vst3", copy)
    first = scan([copy.parent], cache=plugin_env)
    assert str(copy.resolve()) in first.probed
    second = scan([copy.parent], cache=plugin_env)
    assert second.probed == [] and str(copy.resolve()) in second.cached
    binary = next(copy.rglob("*.so"))
    stat = binary.stat()
    os.utime(binary, (stat.st_atime, stat.st_mtime + 10))
    third = scan([copy.parent], cache=plugin_env)
    assert third.probed == [str(copy.resolve())]


@pytest.mark.parametrize("content", [None, b"not a plugin at all"], ids=["empty-bundle", "garbage-binary"])
def test_a_bad_bundle_is_recorded_failed_and_skipped_until_retry(
    plugin_env: PluginCache, tmp_path: Path, content: bytes | None
) -> None:
    bad = tmp_path / "bad" / "Bad.vst3"
    binary_dir = bad / "Contents" / f"{os.uname().machine}-linux"
    binary_dir.mkdir(parents=True)
    if content is not None:
        (binary_dir / "Bad.so").write_bytes(content)
    key = str(bad.resolve())
    first = scan([bad.parent], cache=plugin_env)
    assert key in first.failed and first.failed[key]
    again = scan([bad.parent], cache=plugin_env)
    assert key in again.skipped_failed and key not in again.failed
    retried = scan([bad.parent], cache=plugin_env, retry_failed=True)
    assert key in retried.failed
    # the good plugins are still there
    assert {"3BandEQ", "MVerb", "Kars"} <= set(_by_stem(plugin_env))


def test_a_crashing_plugin_fails_its_probe_without_taking_the_scan_down(
    plugin_env: PluginCache, broken_bundle
) -> None:
    crashing = broken_bundle("crash")
    result = probe(crashing, timeout=60)
    assert not result.ok
    assert "crashed" in result.reason and "SIGSEGV" in result.reason
    report = scan([crashing.parent], cache=plugin_env)
    assert "SIGSEGV" in report.failed[str(crashing.resolve())]
    assert "MVerb" in _by_stem(plugin_env)


def test_a_hanging_plugin_times_out(plugin_env: PluginCache, broken_bundle) -> None:
    hanging = broken_bundle("hang")
    report = scan([hanging.parent], cache=plugin_env, timeout=3)
    reason = report.failed[str(hanging.resolve())]
    assert "timed out after 3 s" in reason
    cached = [e for e in plugin_env.entries() if e.path == str(hanging.resolve())]
    assert cached and cached[0].status == "failed" and cached[0].reason == reason


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_timed_out_probe_takes_the_processes_it_started_with_it(
    broken_bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "helper.pid"
    monkeypatch.setenv("MIXHOST_TEST_PID_FILE", str(pid_file))
    result = probe(broken_bundle("hang-with-child"), timeout=3)
    assert not result.ok and "timed out" in result.reason
    helper = int(pid_file.read_text())
    for _ in range(100):  # SIGKILL lands at once; give the reaper a moment
        if not _alive(helper):
            break
        time.sleep(0.05)
    else:
        os.kill(helper, 9)  # do not leave it behind for the next test
        pytest.fail(f"the plugin's helper process {helper} outlived the timed-out probe")


@pytest.mark.parametrize("query", ["MVerb", "mverb", "3BandEQ", "3 band eq", "Cycle Shifter"])
def test_find_plugin_by_name_or_bundle_name(plugin_env: PluginCache, query: str) -> None:
    scan(cache=plugin_env)
    entry = find_plugin(query, cache=plugin_env)
    assert entry.ok and Path(entry.path).exists()


def test_find_plugin_scans_on_demand_when_the_cache_is_empty(plugin_env: PluginCache) -> None:
    assert plugin_env.entries() == []
    assert find_plugin("Kars", cache=plugin_env).info["kind"] == "instrument"


@pytest.mark.parametrize(("typo", "suggestion"), [("MVreb", "MVerb"), ("3 Band QE", "3 Band EQ"), ("Karz", "Kars")])
def test_a_misspelled_plugin_gets_a_did_you_mean(plugin_env: PluginCache, typo: str, suggestion: str) -> None:
    scan(cache=plugin_env)
    with pytest.raises(PluginError, match=f'did you mean "{suggestion}"'):
        find_plugin(typo, cache=plugin_env)


def test_search_dirs_cover_standard_locations_env_and_given(plugin_env: PluginCache, plugin_dir: Path,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STANDARD_DIRS_ENV)
    dirs = search_dirs([tmp_path])
    assert dirs == [Path.home() / ".vst3", Path("/usr/lib/vst3"), Path("/usr/local/lib/vst3"), plugin_dir, tmp_path]


@pytest.mark.parametrize(("value", "expected"), [("", []), ("/opt/a{sep}/opt/b", ["/opt/a", "/opt/b"])])
def test_the_standard_dirs_variable_replaces_the_os_locations(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv(STANDARD_DIRS_ENV, value.format(sep=os.pathsep))
    assert standard_dirs() == [Path(p) for p in expected]


def test_find_bundles_survives_a_symlink_cycle(plugin_dir: Path, tmp_path: Path) -> None:
    from host.plugins.scan import find_bundles

    nested = tmp_path / "vendor" / "sub"
    nested.mkdir(parents=True)
    shutil.copytree(plugin_dir / "3BandEQ.vst3", nested / "3BandEQ.vst3")
    (nested / "loop").symlink_to(tmp_path)
    assert find_bundles([tmp_path]) == [(nested / "3BandEQ.vst3").resolve()]


def test_a_plugin_moved_since_the_scan_is_found_again(
    plugin_env: PluginCache, plugin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from host.plugins.stage import make_plugin_stage

    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    shutil.copytree(plugin_dir / "CycleShifter.vst3", first / "CycleShifter.vst3")
    monkeypatch.setenv("MIXHOST_PLUGIN_PATH", f"{first}{os.pathsep}{second}")
    scan(cache=plugin_env)
    second.mkdir()
    shutil.move(str(first / "CycleShifter.vst3"), str(second / "CycleShifter.vst3"))
    stage = make_plugin_stage("fx", {"plugin": "Cycle Shifter"}, tmp_path)
    assert stage.path == (second / "CycleShifter.vst3").resolve()


def test_a_plugin_writing_to_stdout_cannot_corrupt_the_probe_report(broken_bundle) -> None:
    chatty = broken_bundle("chatty")
    result = probe(chatty, timeout=60)
    assert not result.ok
    assert "not a loadable plugin bundle" in result.reason  # the child's own report, parsed
