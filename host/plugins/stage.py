"""A pedalboard plugin behind the stage protocol.

:class:`PluginStage` wraps one loaded VST3 (or AU) effect.  Its parameters
are the plugin's own (see :mod:`host.plugins.parameters`), registered by the
engine like any native parameter.  At each block start the stage compares the
registry values with those it saw last and writes only the changed ones into
the plugin, then processes the block with ``reset=False`` so tails and
filter state stream across blocks.  Blocks are converted to float32 (what
plugins process) in a preallocated buffer.

Channel layouts (decided here, applied in :meth:`PluginStage.prepare`):

* the plugin accepts the track's channel count: used as is;
* a **stereo track through a mono-only effect: dual-mono**.  A second
  instance of the plugin (same state, same parameter writes) processes the
  right channel, so the stereo image survives and the channels never share
  filter or reverb state;
* a **mono track through a stereo-only effect**: the mono signal feeds both
  inputs and the stage outputs stereo (:meth:`PluginStage.output_channels`
  says so, as for a pan stage);
* any other mismatch raises :class:`PluginError` naming plugin and layout.

Buses: pedalboard feeds a plugin's first input bus and returns its first
output bus, nothing else.  A plugin with a sidechain (auxiliary) input or
more output buses, as its probe recorded them (:mod:`host.plugins.buses`), is
refused with a :class:`PluginError` unless its entry says ``buses: main``;
``sidechain:`` on a plugin entry is refused (key a native stage instead).

Mono-output instruments are handled by :mod:`host.plugins.instrument` (the
track is mono; its pan stage places it).

Latency: pedalboard drops the plugin's reported latency from the start of a
stream (it returns fewer samples for the first blocks).  The stage pads those
blocks at the front with silence, so its output is the plugin's output
delayed by :attr:`PluginStage.latency` samples, which the engine compensates.

Bypass is the engine's, as for every stage (``tracks/<t>/<stage>/bypass`` in
the registry): it crossfades to a dry path delayed by the same latency, so
parallel paths stay aligned whether the plugin is on or off.

``reset()`` calls pedalboard's reset, which re-creates plugins that do not
clear their own buffers (keeping their state); JUCE allows that only on the
main thread, so the engine should reset stages from the thread that built them.

Errors while rendering (the plugin raises, or outputs NaN/Inf) raise
:class:`~host.errors.RenderError` naming the stage's address and the plugin.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import PluginError, RenderError
from ..registry import ParamSpec
from ..stages.base import Stage, prime_block_size
from ..stages.native import PLUGIN_BLOCK
from ..suggest import did_you_mean
from . import loader, state
from .buses import BusLayout, bus_limits
from .gil import LettingGo
from .parameters import PluginParam, plugin_params

log = logging.getLogger(__name__)

#: the entry option that accepts a plugin's main buses only, and its one value
BUSES_OPTION = "buses"
MAIN_BUSES = "main"

_TRIAL_RATE = 48_000.0
_TRIAL_FRAMES = 64


class ParamWriter:
    """Writes changed registry values into one or more instances of a plugin."""

    def __init__(self, params: Mapping[str, PluginParam], instances: list[Any]) -> None:
        self.params = dict(params)
        self.names = list(self.params)
        # registry values as last seen; the plugin is written when the registry moves, so a
        # state loaded into the plugin is not undone by registry values that never changed
        self.seen = [p.spec.default for p in self.params.values()]
        self.wrappers: list[list[Any]] = [
            [p.mapper.wrapper for p in self.params.values()],
            *([inst.parameters[n] for n in self.names] for inst in instances[1:]),
        ]

    def add_instance(self, instance: Any) -> None:
        self.wrappers.append([instance.parameters[n] for n in self.names])

    def write_changed(self, view: Any) -> int:
        """Push every registry value that changed since the last call; returns how many."""
        if view is None:
            return 0
        written = 0
        seen = self.seen
        for index, name in enumerate(self.names):
            value = view[name]
            if value != seen[index]:
                raw = self.params[name].mapper.to_raw(value)
                for wrappers in self.wrappers:
                    wrappers[index].raw_value = raw
                seen[index] = value
                written += 1
        return written

    def plugin_values(self) -> dict[str, float]:
        """The values the plugin holds now (after a state load), in registry terms."""
        return {name: self.params[name].current() for name in self.names}


def all_finite(block: np.ndarray) -> bool:
    """True unless ``block`` holds NaN or Inf (one sum, no temporary array; quiet on NaN)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return math.isfinite(float(block.sum(dtype=np.float64)))


def check_param_names(names: Iterable[str], params: Mapping[str, PluginParam], plugin_name: str) -> None:
    """Refuse parameter names the plugin does not have, with a did-you-mean."""
    for name in names:
        if name not in params:
            raise PluginError(
                f"plugin {plugin_name!r} has no parameter {name!r}; {did_you_mean(name, params)}",
                hint=f"`mixhost plugins params {plugin_name!r}` lists its parameters",
            )


class PluginStage(Stage):
    """A VST3/AU effect plugin (through pedalboard) as a stage."""

    type_name = "plugin"
    DYNAMIC_PARAMS: ClassVar[bool] = True

    def __init__(
        self,
        stage_id: str,
        plugin: Any,
        *,
        path: Path,
        plugin_name: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(stage_id, options)
        if plugin.is_instrument:
            raise PluginError(
                f"{plugin.name} is an instrument plugin; use it as a track's `instrument:`, not in a chain"
            )
        self.plugin = plugin
        self.path = path
        self.plugin_name = plugin_name
        self._params = plugin_params(plugin)
        self._writer = ParamWriter(self._params, [plugin])
        self._instances: list[Any] = [plugin]
        self._active = 1  # instances in use for the prepared layout (2 for dual-mono)
        self._silence: np.ndarray | None = None  # one block at PLUGIN_BLOCK, to prime after a reset
        self._plugin_channels: int | None = None
        self._supported: list[int] | None = None
        self._in32 = np.zeros((0, 0), np.float32)
        self._out = np.zeros((0, 0))
        self._letting_go = LettingGo()

    # -- description -----------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.plugin.name)

    def param_specs(self) -> tuple[ParamSpec, ...]:
        return tuple(p.spec for p in self._params.values())

    def check_params(self, names: Iterable[str]) -> None:
        check_param_names(names, self._params, self.name)

    @property
    def latency(self) -> int:
        return int(self.plugin.reported_latency_samples)

    def output_channels(self, input_channels: int) -> int:
        return max(input_channels, self._layout(input_channels)[0])

    # -- state -----------------------------------------------------------------
    def save_state(self, path: Path) -> Path:
        """Write the plugin's current state (all parameter values included) to ``path``."""
        self._writer.write_changed(self.p)
        return state.save_state(self.plugin, path)

    def load_state(self, path: Path) -> dict[str, float]:
        """Restore a preset or state file (validated first) into every instance.

        Returns the plugin's parameter values after the load (registry terms),
        which the caller stores in the registry: until then the stage does not
        overwrite the loaded values, and afterwards only changed values are written.
        """
        for instance in self._instances:
            state.apply_file(instance, path)
        return self._writer.plugin_values()

    # -- protocol --------------------------------------------------------------
    def _prepare(self) -> None:
        plugin_channels, instances = self._layout(self.channels)
        self._plugin_channels = plugin_channels
        self._active = instances
        while len(self._instances) < instances:
            twin = loader.load(self.path, self.plugin_name)
            twin.raw_state = self.plugin.raw_state
            self._instances.append(twin)
            self._writer.add_instance(twin)
        out_channels = self.output_channels(self.channels)
        rows = plugin_channels if instances == 1 else instances
        self._in32 = np.zeros((rows, self.max_block), np.float32)
        self._out = np.zeros((out_channels, self.max_block))
        self._writer.write_changed(self.p)
        self._silence = np.zeros((1 if instances > 1 else plugin_channels, PLUGIN_BLOCK), np.float32)
        self._reset()

    def _layout(self, channels: int) -> tuple[int, int]:
        """(channels per plugin instance, number of instances) for a track of ``channels``."""
        supported = self._supported_channels()
        if channels in supported:
            return channels, 1
        if channels == 2 and supported == [1]:
            return 1, 2  # dual-mono
        if channels == 1 and 2 in supported:
            return 2, 1  # mono into both inputs, stereo out
        raise PluginError(
            f"plugin {self.name!r} cannot process {channels}-channel audio: pedalboard can open it "
            f"only with {' or '.join(str(c) for c in supported) or 'no'} channel(s) in and out"
        )

    def _supported_channels(self) -> list[int]:
        if self._supported is None:
            works = []
            for count in (1, 2):
                try:
                    self.plugin.process(np.zeros((count, _TRIAL_FRAMES), np.float32), _TRIAL_RATE, reset=True)
                except (ValueError, RuntimeError):
                    continue
                works.append(count)
            self._supported = works
        return self._supported

    def _reset(self) -> None:
        for index, instance in enumerate(self._instances):
            instance.reset()
            if index < self._active and self._silence is not None:
                try:
                    prime_block_size(instance, self._silence, self.sample_rate)
                except Exception as error:  # as in _process: the user needs where, not a traceback
                    raise RenderError(f"{self._where()}: plugin failed: {error}") from error

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        if frames > self.max_block:
            raise RenderError(f"{self._where()}: block of {frames} frames exceeds max_block {self.max_block}")
        out = self._out[:, :frames]
        try:
            self._writer.write_changed(self.p)
            self._run(block, out)
        except RenderError:
            raise
        except Exception as error:  # a plugin may raise anything; the user needs where, not a traceback
            raise RenderError(f"{self._where()}: plugin failed: {error}") from error
        if not all_finite(out):
            raise RenderError(f"{self._where()}: plugin output NaN or Inf")
        return out

    def _run(self, block: np.ndarray, out: np.ndarray) -> None:
        frames = block.shape[1]
        plugin_channels = self._plugin_channels or block.shape[0]
        if self._active == 1:
            buf = self._in32[:plugin_channels, :frames]
            if plugin_channels == block.shape[0]:
                np.copyto(buf, block, casting="same_kind")
            else:
                buf[:] = block[0]  # mono into every input
            with self._letting_go:   # pedalboard lets the interpreter lock go (see host.plugins.gil)
                result = self._instances[0].process(buf, self.sample_rate, buffer_size=PLUGIN_BLOCK, reset=False)
            self._place(result, out)
            return
        for channel, instance in enumerate(self._instances[: self._active]):  # dual-mono
            buf = self._in32[channel : channel + 1, :frames]
            np.copyto(buf, block[channel : channel + 1], casting="same_kind")
            with self._letting_go:
                result = instance.process(buf, self.sample_rate, buffer_size=PLUGIN_BLOCK, reset=False)
            self._place(result, out[channel : channel + 1])

    @staticmethod
    def _place(result: np.ndarray, out: np.ndarray) -> None:
        """Copy a plugin result into ``out``; pad at the front while pedalboard withholds latency."""
        got = result.shape[-1]
        frames = out.shape[1]
        if got < frames:
            out[:, : frames - got] = 0.0
        out[:, frames - got :] = result

    def _where(self) -> str:
        """``tracks/<t>/<stage> (plugin NAME)``: the address prefix the engine registered."""
        address = self.id
        if self.p is not None and self.p.params:
            first = next(iter(self.p.params.values())).address
            address = first.rsplit("/", 1)[0]
        return f"{address} (plugin {self.name!r})"


def resolve_plugin(options: Mapping[str, Any], base_dir: Path) -> tuple[Path, str | None]:
    """The bundle path (and plugin name inside a shell bundle) an entry's options name."""
    if options.get("path"):
        path = Path(str(options["path"])).expanduser()
        return (path if path.is_absolute() else base_dir / path), None
    if options.get("plugin"):
        from .cache import PluginCache
        from .scan import find_plugin

        cache = PluginCache()
        entry = find_plugin(str(options["plugin"]), cache=cache)
        if not Path(entry.path).exists():  # removed or moved since the last scan: rescan once
            from .scan import scan

            scan(cache=cache)
            entry = find_plugin(str(options["plugin"]), cache=cache)
        siblings = [e for e in cache.entries_for(entry.path) if e.ok]
        return Path(entry.path), (entry.name if len(siblings) > 1 else None)
    raise PluginError("a plugin entry needs `plugin: NAME` or `path: BUNDLE`")


def apply_preset(stage_or_plugin: Any, options: Mapping[str, Any], base_dir: Path) -> None:
    """Load ``preset:`` then ``state:`` (paths relative to ``base_dir``) if given."""
    for key in ("preset", "state"):
        if options.get(key):
            path = Path(str(options[key])).expanduser()
            path = path if path.is_absolute() else base_dir / path
            if isinstance(stage_or_plugin, PluginStage):
                stage_or_plugin.load_state(path)
            else:
                state.apply_file(stage_or_plugin, path)


def state_file_for(session_path: Path, address: str) -> Path:
    """Where a plugin's state is saved beside a session: ``<stem>.plugins/<address>.mxstate``."""
    safe = address.replace("/", "__")
    return session_path.parent / f"{session_path.stem}.plugins" / f"{safe}{state.STATE_SUFFIX}"


def save_states(stages: Mapping[str, Any], session_path: Path) -> dict[str, str]:
    """Save every plugin's state beside the session (for ``Session.save``).

    ``stages`` maps addresses (``tracks/vocals/verb``, ``tracks/synth/instrument``)
    to stages or instrument sources; anything without plugin state is ignored.
    Returns address -> the file's path relative to the session's folder, to be
    written as the entry's ``state:`` key.
    """
    from .instrument import InstrumentSource

    written: dict[str, str] = {}
    for address, holder in stages.items():
        if isinstance(holder, (PluginStage, InstrumentSource)):
            path = holder.save_state(state_file_for(session_path, address))
            written[address] = path.relative_to(session_path.parent).as_posix()
    return written


def check_buses(path: Path, plugin_name: str | None, options: Mapping[str, Any]) -> None:
    """Refuse a plugin that pedalboard would drive only in part, unless the entry accepts that.

    pedalboard feeds the first input bus and returns the first output bus only
    (:mod:`host.plugins.buses`), so a plugin keyed by a sidechain would hear
    silence there and a multi-output plugin would lose its other outputs,
    silently.  ``buses: main`` in the entry says the main buses are all it needs.
    """
    label = str(options.get("plugin") or plugin_name or path.stem)
    if options.get("sidechain"):
        raise PluginError(
            f"plugin {label!r}: mixhost cannot feed a plugin's sidechain input (pedalboard, which hosts "
            "the plugin, passes audio to its main input bus only)",
            hint=f"key a native stage instead (type: compressor, gate or expander, with "
                 f"`sidechain: {options['sidechain']}`), and remove `sidechain:` from this plugin entry")
    layout = _layout(path, plugin_name)
    limits = bus_limits(layout)
    if not limits:
        return
    if options.get(BUSES_OPTION) == MAIN_BUSES:
        log.info("plugin %s runs on its main buses only: %s", label, "; ".join(limits))
        return
    assert layout is not None
    raise PluginError(f"plugin {label!r} cannot be driven fully by mixhost: {'; '.join(limits)}",
                      hint=_buses_hint(layout))


def _buses_hint(layout: BusLayout) -> str:
    ways, lost = [], []
    if layout.extra_inputs:
        ways.append("for a keyed effect, use a native stage (type: compressor, gate or expander) with "
                    "`sidechain: TRACK`")
        lost.append("its sidechain hears silence")
    if layout.extra_outputs:
        ways.append("for a band split, send the track to buses that each filter one band with native stages")
        lost.append("its other outputs are dropped")
    ways.append(f"or add `{BUSES_OPTION}: {MAIN_BUSES}` to this entry if the main buses are all it needs "
                f"({' and '.join(lost)})")
    return "; ".join(ways)


def _layout(path: Path, plugin_name: str | None) -> BusLayout | None:
    from .scan import bus_layout

    try:
        return bus_layout(path, plugin_name)
    except PluginError as error:  # an unusable cache must not stop a plugin that may be fine
        log.warning("bus layout of %s not checked: %s", path, error.message)
        return None


def make_plugin_stage(stage_id: str, options: dict[str, Any], base_dir: Path) -> PluginStage:
    """Build the stage for a chain entry with ``plugin:`` or ``path:`` (called by the session builder).

    ``options`` is the YAML entry: ``plugin`` or ``path``, optionally
    ``preset``/``state`` (files relative to ``base_dir``) and ``params`` (whose names are checked here, with a did-you-mean);
    ``buses: main`` accepts a plugin that has buses pedalboard cannot drive (:func:`check_buses`).
    """
    path, plugin_name = resolve_plugin(options, base_dir)
    loader.check_bundle(path)  # a wrong path is named as such, not probed
    check_buses(path, plugin_name, options)
    plugin = loader.load(path, plugin_name)
    # parameter defaults are read after the preset so an untouched parameter keeps the preset's value
    apply_preset(plugin, options, base_dir)
    stage = PluginStage(stage_id, plugin, path=path, plugin_name=plugin_name, options=options)
    stage.check_params(dict(options.get("params") or {}))
    return stage
