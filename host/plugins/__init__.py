"""Plugin hosting: VST3 (and, untested, AU on macOS) through pedalboard.

* :mod:`.scan` finds bundles and keeps :mod:`.cache` (SQLite) up to date,
  probing each bundle in a child process (:mod:`.probe`);
* :mod:`.stage` wraps a loaded plugin as a :class:`~host.stages.base.Stage`
  (``make_plugin_stage`` is what the session builder calls);
* :mod:`.instrument` renders a MIDI file through an instrument plugin as a
  track source (``make_instrument_source``);
* :mod:`.state` saves and restores plugin state files.

Nothing here imports pedalboard at module import time except the stage and
instrument modules, so ``mixhost plugins list`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "make_plugin_stage": "host.plugins.stage",
    "PluginStage": "host.plugins.stage",
    "save_states": "host.plugins.stage",
    "make_instrument_source": "host.plugins.instrument",
    "InstrumentSource": "host.plugins.instrument",
    "scan": "host.plugins.scan",
    "find_plugin": "host.plugins.scan",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import on first use, so ``import host.plugins`` stays cheap."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'host.plugins' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
