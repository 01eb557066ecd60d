"""Instrument tracks: a MIDI file rendered through an instrument plugin, block by block.

:class:`InstrumentSource` is a track source for the engine: ``channels``,
``sample_rate``, ``frames`` (MIDI length plus the release tail ``tail_s``),
``read(out)``, ``seek(frame)`` and ``close()``.  Several instrument tracks can
come from one multi-track MIDI file: each picks its ``track`` (index or name)
and/or ``channel`` (1-16).

Each ``read`` hands the plugin the events falling in that block with their
offsets and renders with ``reset=False``, so held notes and release tails
carry across blocks.  Event times are rounded to the nearest sample.

Channels: the source has the plugin's output channel count, stereo if the
plugin can render stereo, otherwise mono (Kars has one output): a mono
instrument makes a mono track, which the track's pan stage places.

Parameters: ``param_specs()`` and ``bind(view)`` work as for a stage; the
engine registers them at ``tracks/<t>/instrument/<param>`` and changed values
reach the plugin at block boundaries.

``seek(frame)`` resets the plugin and renders silently from the start up to
``frame``, so notes held across the seek point and release tails are exact;
its cost grows with the position (a live transport jump far into a long piece
is slow).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PluginError, RenderError, SessionError
from ..registry import ParamSpec
from ..stages.base import ParamView
from . import loader, state
from .gil import LettingGo
from .midifile import MidiEvent, read_part
from .parameters import plugin_params
from .stage import ParamWriter, all_finite, apply_preset, check_param_names, resolve_plugin

DEFAULT_TAIL_S = 2.0
_RENDER_BLOCK = 1024  # pedalboard's internal block; events are placed to the sample regardless
_SEEK_CHUNK = 65_536


class InstrumentSource:
    """Renders one part of a MIDI file through an instrument plugin."""

    def __init__(
        self,
        plugin: Any,
        events: Iterable[MidiEvent],
        sample_rate: float,
        *,
        tail_s: float = DEFAULT_TAIL_S,
        name: str = "instrument",
    ) -> None:
        if not plugin.is_instrument:
            raise PluginError(f"{plugin.name} is an effect, not an instrument; put it in a chain instead")
        if not tail_s >= 0:
            raise SessionError(f"tail_s must be 0 or more, got {tail_s!r}")
        self.plugin = plugin
        self.name = name
        self.sample_rate = float(sample_rate)
        # (frame, bytes) with event times rounded to the nearest sample
        self._frames = np.array([round(e.time * self.sample_rate) for e in events], dtype=np.int64)
        self._data = [e.data for e in events]
        order = np.argsort(self._frames, kind="stable")
        self._frames = self._frames[order]
        self._data = [self._data[i] for i in order]
        self._letting_go = LettingGo()   # around the plugin call, which lets the interpreter lock go
        end = int(self._frames[-1]) + 1 if self._frames.size else 0
        self.frames: int | None = end + round(tail_s * self.sample_rate)
        self.channels = self._output_channels()
        self._params = plugin_params(plugin)
        self._writer = ParamWriter(self._params, [plugin])
        self.p: ParamView | None = None
        self._position = 0
        self.plugin.reset()

    # -- parameters (as a stage's) ------------------------------------------
    def param_specs(self) -> tuple[ParamSpec, ...]:
        return tuple(p.spec for p in self._params.values())

    def bind(self, view: ParamView) -> None:
        self.p = view

    def check_params(self, names: Iterable[str]) -> None:
        check_param_names(names, self._params, str(self.plugin.name))

    @property
    def latency(self) -> int:
        return int(self.plugin.reported_latency_samples)

    def save_state(self, path: Path) -> Path:
        """Write the instrument's current state (registry values pushed in first) to ``path``."""
        self._writer.write_changed(self.p)
        return state.save_state(self.plugin, path)

    # -- the track source interface ---------------------------------------------
    def read(self, out: np.ndarray) -> int:
        """Fill ``out`` (channels, n) with the next frames; returns how many were real (0 at the end)."""
        if out.ndim != 2 or out.shape[0] != self.channels:
            raise ValueError(f"out must have shape ({self.channels}, n), got {out.shape}")
        wanted = out.shape[1]
        real = wanted if self.frames is None else max(0, min(wanted, self.frames - self._position))
        if real == 0:
            out[:] = 0.0
            return 0
        rendered = self._render(self._position, real)
        out[:, :real] = rendered
        out[:, real:] = 0.0
        self._position += real
        return real

    def seek(self, frame: int) -> None:
        if frame < 0:
            raise ValueError("frame must be >= 0")
        self.plugin.reset()
        self._position = 0
        target = frame if self.frames is None else min(frame, self.frames)
        while self._position < target:
            count = min(_SEEK_CHUNK, target - self._position)
            self._render(self._position, count)
            self._position += count

    def close(self) -> None:
        self.plugin.reset()
        self._data = []
        self._frames = np.zeros(0, dtype=np.int64)

    # -- rendering ---------------------------------------------------------------
    def _render(self, start: int, count: int) -> np.ndarray:
        self._writer.write_changed(self.p)
        lo = int(np.searchsorted(self._frames, start, side="left"))
        hi = int(np.searchsorted(self._frames, start + count, side="left"))
        sr = self.sample_rate
        # +0.5 sample: pedalboard truncates time*rate (in float32) to a sample index
        messages = [(self._data[i], (int(self._frames[i]) - start + 0.5) / sr) for i in range(lo, hi)]
        try:
            with self._letting_go:
                audio = self.plugin.process(
                    messages, duration=(count + 0.5) / sr, sample_rate=sr,
                    num_channels=self.channels, buffer_size=_RENDER_BLOCK, reset=False,
                )
        except Exception as error:  # any plugin failure becomes a user-facing render error
            raise RenderError(f"{self.name} (plugin {self.plugin.name!r}): plugin failed: {error}") from error
        if audio.shape[1] != count:
            fixed = np.zeros((self.channels, count), np.float32)
            n = min(count, audio.shape[1])
            fixed[:, :n] = audio[:, :n]
            audio = fixed
        if not all_finite(audio):
            raise RenderError(f"{self.name} (plugin {self.plugin.name!r}): plugin output NaN or Inf")
        return audio

    def _output_channels(self) -> int:
        for count in (2, 1):
            try:
                self.plugin.process([], duration=64.5 / self.sample_rate, sample_rate=self.sample_rate,
                                    num_channels=count, buffer_size=_RENDER_BLOCK, reset=True)
            except (ValueError, RuntimeError):
                continue
            return count
        raise PluginError(
            f"instrument {self.plugin.name!r}: pedalboard cannot open it with a mono or stereo output"
        )


def make_instrument_source(spec: Mapping[str, Any], base_dir: Path, sample_rate: float,
                           address: str = "instrument") -> InstrumentSource:
    """Build the source for a track's ``instrument:`` entry (called by the session builder).

    ``spec`` keys: ``plugin`` or ``path``; ``midi`` (file, relative to
    ``base_dir``); optional ``track`` (index or name), ``channel`` (1-16),
    ``preset``/``state``, ``params`` (names checked here) and ``tail_s``.
    ``address`` (``tracks/<t>/instrument``) starts every render error, so the
    user learns which track's instrument failed.
    """
    if not spec.get("midi"):
        raise SessionError("an instrument needs `midi: FILE`")
    midi = Path(str(spec["midi"])).expanduser()
    midi = midi if midi.is_absolute() else base_dir / midi
    channel = spec.get("channel")
    events = read_part(midi, spec.get("track"), int(channel) if channel is not None else None)
    path, plugin_name = resolve_plugin(spec, base_dir)
    plugin = loader.load(path, plugin_name)
    apply_preset(plugin, spec, base_dir)
    source = InstrumentSource(
        plugin, events, sample_rate,
        tail_s=float(spec.get("tail_s", DEFAULT_TAIL_S)),
        name=address,
    )
    source.check_params(dict(spec.get("params") or {}))
    return source
