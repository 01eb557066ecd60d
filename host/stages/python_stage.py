"""User stages written in Python: ``{type: python, module: scripts/my_stage.py}``.

The module (path relative to the session folder, which the engine passes as
the option ``base_dir``) declares

* ``PARAMS``: a list of dicts with ``name``, ``default``, ``min``, ``max`` and
  optionally ``unit``, ``scale`` (``linear``, ``log``, ``db_fader``) and
  ``doc``.  They are registered like a native stage's parameters
  (``tracks/vocals/<id>/<name>``) and smoothed;
* ``process(block, sample_rate, params) -> block``: ``block`` is float64
  ``(channels, frames)``; ``params`` maps each name to its (smoothed) value for
  this block; the result must have the same shape.  While a value glides
  (50 ms smoothing) ``process`` is called on 8-frame slices, so it must
  accept any block size;
* optionally ``RAMPS``: names of parameters that ``process`` takes per
  sample.  While only those glide, ``process`` is called once for the block
  and each of them is a float64 array of its per-sample values (a float once
  it has landed): a gain or mix amount applied by broadcasting, for instance.
  Coefficients that need a constant value (a filter frequency) stay out of it;
* optionally ``prepare(sample_rate, channels)`` and ``reset()``; and
  ``LATENCY`` (samples) if the stage delays its output.

Each stage instance executes its own copy of the module, so module-level
state (filter memories) is private to the instance.  Every mistake (missing
file, syntax error, malformed ``PARAMS``, wrong output shape, an exception in
``process``) raises :class:`UserStageError` naming the file.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from ..errors import SessionError
from ..registry import ParamSpec
from ..scales import SCALES
from ..suggest import did_you_mean
from .native import NativeStage

_counter = itertools.count()
GLIDE_SLICE = 8  # frames per process() call while a parameter glides
GLIDE_TIME_S = 0.05  # user parameters glide a little slower than native ones
_PARAM_KEYS = {"name", "default", "min", "max", "unit", "scale", "doc"}


class UserStageError(SessionError):
    """A user Python stage that cannot be loaded or misbehaves."""


class PythonStage(NativeStage):
    type_name = "python"
    DEFAULT_SMOOTHING_S = GLIDE_TIME_S
    OPTIONS: ClassVar[dict[str, Any]] = {
        "module": {"type": "string", "description": "path of the Python file, relative to the session"},
    }

    def __init__(self, stage_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(stage_id, options)
        module = self.options.get("module")
        if not isinstance(module, str) or not module:
            raise UserStageError(
                f"stage {stage_id!r}: a python stage needs `module: path/to/stage.py`"
            )
        path = Path(module)
        if not path.is_absolute():
            path = Path(str(self.options.get("base_dir", "."))) / path
        self.path = path
        self.module = self._load(path)
        self._specs = self._parse_params()
        self._process_fn = getattr(self.module, "process", None)
        if not callable(self._process_fn):
            raise self._error("defines no `process(block, sample_rate, params)` function")
        latency = getattr(self.module, "LATENCY", 0)
        if isinstance(latency, bool) or not isinstance(latency, int) or latency < 0:
            raise self._error(f"LATENCY must be a non-negative integer, got {latency!r}")
        self._latency = latency
        self._names = [spec.name for spec in self._specs]
        self._ramped = self._parse_ramps()
        self._stepped = [name for name in self._names if name not in self._ramped]

    def _parse_ramps(self) -> frozenset[str]:
        ramps = getattr(self.module, "RAMPS", ())
        if isinstance(ramps, str) or not isinstance(ramps, (list, tuple, set, frozenset)):
            raise self._error(f"RAMPS must be a list of parameter names, got {ramps!r}")
        for name in ramps:
            if name not in self._names:
                raise self._error(f"RAMPS names {name!r}, which is not in PARAMS; {did_you_mean(str(name), self._names)}")
        return frozenset(ramps)

    # -- loading -------------------------------------------------------------------
    def _error(self, message: str) -> UserStageError:
        return UserStageError(f"{self.path}: {message}", file=str(self.path))

    def _load(self, path: Path) -> ModuleType:
        if not path.is_file():
            raise UserStageError(
                f"stage {self.id!r}: user stage module {str(path)!r} not found",
                hint="the path is relative to the session file's folder",
            )
        name = f"mixhost_user_stage_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UserStageError(f"{path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise UserStageError(f"{path}:{exc.lineno}: syntax error: {exc.msg}", file=str(path),
                                 line=exc.lineno) from None
        except Exception as exc:  # the user's import-time code failed
            raise UserStageError(f"{path}: importing it raised {type(exc).__name__}: {exc}",
                                 file=str(path)) from exc
        return module

    def _parse_params(self) -> tuple[ParamSpec, ...]:
        raw = getattr(self.module, "PARAMS", [])
        if not isinstance(raw, (list, tuple)):
            raise self._error("PARAMS must be a list of dicts such as "
                              "{'name': 'drive', 'default': 0, 'min': 0, 'max': 1}")
        specs = []
        for i, entry in enumerate(raw):
            where = f"PARAMS[{i}]"
            if not isinstance(entry, Mapping):
                raise self._error(f"{where} must be a dict with name, default, min and max")
            missing = {"name", "default", "min", "max"} - set(entry)
            unknown = set(entry) - _PARAM_KEYS
            if missing:
                raise self._error(f"{where} lacks {', '.join(sorted(missing))}")
            if unknown:
                raise self._error(f"{where} has unknown key(s) {', '.join(sorted(unknown))}; "
                                  f"use {', '.join(sorted(_PARAM_KEYS))}")
            name = entry["name"]
            if not isinstance(name, str) or not name.isidentifier():
                raise self._error(f"{where}: name must be an identifier, got {name!r}")
            numbers = [entry[k] for k in ("default", "min", "max")]
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                   for v in numbers):
                raise self._error(f"{where} ({name}): default, min and max must be numbers")
            scale = entry.get("scale", "linear")
            if scale not in SCALES:
                raise self._error(f"{where} ({name}): scale must be one of {', '.join(SCALES)}")
            try:
                spec = ParamSpec(name, float(entry["default"]), float(entry["min"]), float(entry["max"]),
                                 unit=str(entry.get("unit", "")), scale=scale, doc=str(entry.get("doc", "")))
            except ValueError as exc:
                raise self._error(f"{where} ({name}): {exc}") from None
            specs.append(spec)
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise self._error("PARAMS declares a name twice")
        return tuple(specs)

    # -- protocol --------------------------------------------------------------------
    def param_specs(self) -> tuple[ParamSpec, ...]:
        return self._specs

    @property
    def latency(self) -> int:
        return self._latency

    def _setup(self) -> None:
        prepare = getattr(self.module, "prepare", None)
        if callable(prepare):
            self._call(prepare, "prepare", self.sample_rate, self.channels)

    def _clear(self) -> None:
        reset = getattr(self.module, "reset", None)
        if callable(reset):
            self._call(reset, "reset")

    def _call(self, fn: Any, what: str, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            raise self._error(f"{what}() raised {type(exc).__name__}: {exc}") from exc

    def _process(self, block: np.ndarray) -> np.ndarray:
        frames = block.shape[1]
        if not self.moving(self._stepped):  # nothing that process() takes as one value glides
            return self._run(block, {n: self._value_for(n, frames) for n in self._names})
        # a stepped value is gliding: call process() on short slices so each step is inaudible
        ramps = self.glides(self._names, frames)
        per_sample = {n for n in self._ramped if self.moving((n,))}
        out = np.empty_like(block)
        for start in range(0, frames, GLIDE_SLICE):
            stop = min(start + GLIDE_SLICE, frames)
            params = {n: (r[start:stop] if n in per_sample else float(r[stop - 1])) for n, r in ramps.items()}
            out[:, start:stop] = self._run(block[:, start:stop], params)
        return out

    def _value_for(self, name: str, frames: int) -> float | np.ndarray:
        """A parameter's value for process(): a float, or (a copy of) its per-sample glide; only
        RAMPS parameters can be gliding when this is asked."""
        value = self.glide(name, frames)
        return value.copy() if isinstance(value, np.ndarray) else float(value)

    def _run(self, block: np.ndarray, params: dict[str, float | np.ndarray]) -> np.ndarray:
        result = self._call(self._process_fn, "process", block, self.sample_rate, params)
        out = np.asarray(result, dtype=np.float64)
        if out.shape != block.shape:
            raise self._error(f"process() returned shape {out.shape}; it must return the "
                              f"block's shape {block.shape}")
        return out
