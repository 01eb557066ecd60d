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
