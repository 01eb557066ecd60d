"""Fixtures for the plugin tests: the real DISTRHO plugins built by `make plugins`.

The plugins live in ``MIXHOST_PLUGIN_DIR`` (the Makefile's default is
``~/.cache/mixhost/test-plugins``).  A missing plugin fails the test: CI
must build them, never skip them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from host.plugins.cache import CACHE_DIR_ENV, PluginCache
from host.plugins.scan import PLUGIN_PATH_ENV, STANDARD_DIRS_ENV

PLUGIN_DIR_ENV = "MIXHOST_PLUGIN_DIR"
# the four DISTRHO plugins, and mixhost's own (.ci/plugins/): LatentDelay, a delay reporting its latency;
# SideGate, a gate keyed by a sidechain (aux) input bus; BandSplit, low and high bands on two output buses
REQUIRED = ("3BandEQ", "MVerb", "Kars", "CycleShifter", "LatentDelay", "SideGate", "BandSplit")


def _plugin_dir() -> Path:
    configured = os.environ.get(PLUGIN_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "mixhost" / "test-plugins"


@pytest.fixture(scope="session")
def plugin_dir() -> Path:
    directory = _plugin_dir()
    missing = [name for name in REQUIRED if not (directory / f"{name}.vst3").is_dir()]
    if missing:
        pytest.fail(
            f"test plugins missing from {directory}: {', '.join(missing)}; run `make plugins` "
            f"(or set {PLUGIN_DIR_ENV} to the folder holding them)",
            pytrace=False,
        )
    return directory


@pytest.fixture(scope="session")
def _session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("plugin-cache")


@pytest.fixture(autouse=True)
def _private_plugin_cache(_session_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every plugin test off the user's own scan cache.

    Building a stage from a ``path:`` probes the bundle's buses into the cache;
    one cache for the whole run probes each bundle once.  ``plugin_env``
    replaces it with a cache of the test's own.
    """
    monkeypatch.setenv(CACHE_DIR_ENV, str(_session_cache_dir))


@pytest.fixture
def bundle(plugin_dir: Path):  # noqa: ANN201 - returns a small function
    def path_of(name: str) -> Path:
        return plugin_dir / f"{name}.vst3"

    return path_of


@pytest.fixture
def plugin_env(plugin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginCache]:
    """A private scan cache, with the test plugins on MIXHOST_PLUGIN_PATH and nothing else.

    The OS's standard plugin folders are switched off, so a machine with other
    plugins installed scans the same four bundles as CI.
    """
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache_dir))
    monkeypatch.setenv(PLUGIN_PATH_ENV, str(plugin_dir))
    monkeypatch.setenv(STANDARD_DIRS_ENV, "")
    yield PluginCache(cache_dir)


_CRASH_SOURCE = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void on_load(void) { %s }
void* GetPluginFactory(void) { return 0; }
"""

BEHAVIOURS = {
    "crash": "raise(SIGSEGV);",
    "hang": "for (;;) pause();",
    "chatty": 'write(1, "{not json\\n", 10);',  # writes to stdout, then loads as no plugin
    # starts a helper process that hangs too, writing its pid to $MIXHOST_TEST_PID_FILE
    "hang-with-child": 'pid_t pid = fork(); if (pid == 0) { for (;;) pause(); } '
                       'FILE *f = fopen(getenv("MIXHOST_TEST_PID_FILE"), "w"); '
                       'fprintf(f, "%d", (int)pid); fclose(f); for (;;) pause();',
}


@pytest.fixture
def broken_bundle(tmp_path: Path):  # noqa: ANN201 - returns a small function
    """A real VST3 bundle whose binary crashes (SIGSEGV), hangs or writes to stdout when loaded."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("no C compiler: run `make system-deps` (build-essential)", pytrace=False)

    def build(behaviour: str, directory: Path | None = None) -> Path:
        where = directory or tmp_path / "broken"
        name = "Broken" + behaviour.title().replace("-", "")
        binary_dir = where / f"{name}.vst3" / "Contents" / f"{os.uname().machine}-linux"
        binary_dir.mkdir(parents=True, exist_ok=True)
        source = tmp_path / f"{name}.c"
        source.write_text(_CRASH_SOURCE % BEHAVIOURS[behaviour])
        subprocess.run(
            [compiler, "-shared", "-fPIC", "-o", str(binary_dir / f"{name}.so"), str(source)], check=True
        )
        return where / f"{name}.vst3"

    return build
