"""Audio backends behind one small interface (:class:`~.base.Backend`), one module each.

A backend opens the device, calls :meth:`LiveEngine.process_block` once per
period from its audio thread, copies the result out, and counts xruns:

* :mod:`.none`: no sound, a clock-paced thread;
* :mod:`.jack`: a JACK client, the engine in JACK's process thread;
* :mod:`.jack_ahead`: JACK with blocks rendered ahead by a Python thread;
* :mod:`.sounddevice`: PortAudio through ``sounddevice``.

A backend's module is imported only when it is chosen (as mido loads its
backends), so the libraries of the others need not be installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ...errors import UserInputError
from .base import Backend

# name -> (module, class); ``jack`` with ``ahead`` is ``jack_ahead``
BACKENDS: dict[str, tuple[str, str]] = {
    "none": ("none", "NoneBackend"),
    "jack": ("jack", "JackBackend"),
    "sounddevice": ("sounddevice", "SoundDeviceBackend"),
}
AHEAD = ("jack_ahead", "JackAheadBackend")


def make_backend(name: str, **options: Any) -> Backend:
    ahead = options.pop("ahead", None)
    if ahead:
        if name != "jack":
            raise UserInputError(f"rendering ahead is for the JACK backend, not {name!r}",
                                 hint="use --audio jack, or leave --ahead out")
        return _load(*AHEAD)(ahead=int(ahead), **options)
    try:
        module, cls = BACKENDS[name]
    except KeyError:
        from ...suggest import did_you_mean

        raise UserInputError(f"unknown audio backend {name!r}; {did_you_mean(name, BACKENDS)}") from None
    return _load(module, cls)(**options)


def _load(module: str, cls: str) -> Callable[..., Backend]:
    """A backend class, its module imported now."""
    found: Callable[..., Backend] = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    return found


__all__ = ["BACKENDS", "Backend", "make_backend"]
