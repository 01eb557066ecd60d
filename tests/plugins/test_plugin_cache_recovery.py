"""A plugin cache file SQLite cannot read is set aside with a warning and rebuilt, in every command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from plugin_helpers import SR, rms_db, sine

from host.plugins.cache import PluginCache
from host.plugins.scan import scan
from tests.conftest import read_mix

SESSION = """\
session: {name: cached plugin, sample_rate: 48000}
tracks:
  low:
    source: low.wav
    chain:
      - {id: eq, plugin: 3BandEQ, params: {low_mid_freq_hz: 1000, low_db: -24}}
outputs: {mixdown: out/mix.wav, bit_depth: float}
"""


def _mixhost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "host", *args], capture_output=True, text=True, timeout=300)


def _damage(cache: PluginCache, how: str) -> None:
    if how == "garbage":   # not a database at all
        cache.path.write_bytes(np.random.default_rng(3).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    else:                  # a real database whose pages after the header were overwritten
        data = bytearray(cache.path.read_bytes())
        data[100:] = bytes([0xA5]) * (len(data) - 100)
        cache.path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["garbage", "damaged pages"])
@pytest.mark.parametrize("command", ["plugins list", "plugins scan", "validate", "render"])
def test_a_corrupt_cache_is_set_aside_named_and_rebuilt(plugin_env: PluginCache, tmp_path: Path,
                                                        command: str, how: str) -> None:
    scan(cache=plugin_env)
    _damage(plugin_env, how)
    sf.write(tmp_path / "low.wav", sine(60.0, 1.0).T, SR, subtype="FLOAT")
    session = tmp_path / "session.yaml"
    session.write_text(SESSION)
    args = command.split() if command.startswith("plugins") else [command, str(session)]
    args += {"render": ["--no-progress"], "plugins list": ["--json"]}.get(command, [])
    done = _mixhost(*args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"plugin cache {plugin_env.path} was unreadable" in done.stderr
    assert f"moved it to {plugin_env.path}.corrupt" in done.stderr
    assert (tmp_path / "cache" / "plugins.sqlite.corrupt").exists()
    # rebuilt: the command found its plugin, and the cache holds the test plugins again
    names = {entry.name for entry in PluginCache(plugin_env.directory).entries() if entry.ok}
    assert "3 Band EQ" in names
    if command == "plugins list":
        assert "3 Band EQ" in {row["name"] for row in json.loads(done.stdout)}
    if command == "render":
        assert rms_db(read_mix(tmp_path / "out" / "mix.wav").T[:, SR // 4:]) < rms_db(sine(60.0, 1.0)) - 15  # the EQ cut the low band
    again = _mixhost(*args)   # the next run finds a sound cache and says nothing about it
    assert again.returncode == 0 and "unreadable" not in again.stderr
