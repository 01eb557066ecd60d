"""Loading a plugin binary through pedalboard, with errors a user can act on.

Formats: VST3 bundles (``.vst3``, every OS) and Audio Units (``.component``,
macOS only).  Both go through :func:`pedalboard.load_plugin`.  The AU path is
kept clean but is **untested** (no macOS in CI).

MIDI-CC pseudo-parameters
-------------------------
JUCE's VST3 host adds one parameter per MIDI channel and controller
(``MIDI Ch. 1 CC 0`` ... ``MIDI Ch. 16 CC 129``, 2080 of them) for instruments
that map controllers to parameters.  They are not controls a user sets, and
pedalboard spends about 5 ms per parameter probing value ranges, so loading
Kars would take over ten seconds.  pedalboard already skips names matching
``PARAMETER_NAME_REGEXES_TO_IGNORE`` (its own ``MIDI CC`` pattern); we add
JUCE's VST3 spelling to that set once, before the first load.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import PluginError

log = logging.getLogger(__name__)

VST3_SUFFIX = ".vst3"
AU_SUFFIX = ".component"
FORMATS = {VST3_SUFFIX: "vst3", AU_SUFFIX: "au"}

MIDI_CC_PARAMETER = re.compile(r"^MIDI Ch\. \d+ CC \d+$")

_pedalboard_patched = False


def plugin_format(path: Path) -> str | None:
    """``"vst3"``, ``"au"`` or None for a path that is not a plugin bundle."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt == "au" and sys.platform != "darwin":
        return None
    return fmt


def _pedalboard() -> Any:
    """Import pedalboard lazily (it is slow to import) and install the CC filter once."""
    global _pedalboard_patched
    import pedalboard
    from pedalboard import _pedalboard as internals

    if not _pedalboard_patched:
        internals.PARAMETER_NAME_REGEXES_TO_IGNORE.add(MIDI_CC_PARAMETER)
        _pedalboard_patched = True
    return pedalboard


def plugin_names_in(path: Path) -> list[str]:
    """The plugin names a bundle holds (a shell bundle may hold several)."""
    pedalboard = _pedalboard()
    check_bundle(path)
    cls = pedalboard.AudioUnitPlugin if plugin_format(path) == "au" else pedalboard.VST3Plugin
    try:
        return [str(name) for name in cls.get_plugin_names_for_file(str(path))]
    except (ImportError, RuntimeError, ValueError) as error:
        raise PluginError(f"{path}: not a loadable plugin bundle ({error})") from None


def check_bundle(path: Path) -> None:
    """Refuse paths pedalboard would choke on, before handing them over."""
    if not path.exists():
        raise PluginError(f"{path}: no such plugin bundle")
    if plugin_format(path) is None:
        kinds = ".vst3" + (" or .component" if sys.platform == "darwin" else "")
        raise PluginError(f"{path}: not a plugin bundle; expected a {kinds} path")


def load(path: Path, plugin_name: str | None = None) -> Any:
    """Load the plugin at ``path`` (optionally one named plugin of a shell bundle).

    Raises :class:`PluginError` naming the path for anything pedalboard
    refuses (missing binary, wrong architecture, unsupported bus layout).
    """
    pedalboard = _pedalboard()
    check_bundle(path)
    try:
        return pedalboard.load_plugin(str(path), plugin_name=plugin_name)
    except (ImportError, RuntimeError, ValueError, OSError) as error:
        where = f"{path}" + (f" ({plugin_name})" if plugin_name else "")
        raise PluginError(f"{where}: cannot load plugin: {error}") from None
