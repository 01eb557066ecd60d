"""Shared parts of the live-engine tests: generated sessions, a capture tap, timeline assembly,
and the control loop the surface rigs run."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

import host
from host.control.surface import Surfaces
from host.live.engine import LiveEngine

SR = 48_000

SESSION = """\
# live test session: comments must survive an automation save
session:
  sample_rate: 48000
{extra_meta}tracks:
  tone:
    source: stems/tone.wav   # mono sine
    gain_db: -3
    chain:
      - {{type: eq, id: eq, params: {{band1_gain_db: 3}}}}
      - {{type: compressor, id: comp}}
  noise:
    source: stems/noise.wav  # stereo: noise left, sine right
    gain_db: -6
    pan: 0.0
{extra_tracks}outputs:
  mixdown: out/mix.wav
  bit_depth: float
  dither: false
{automation}"""


def write_stems(folder: Path, seconds: float) -> None:
    (folder / "stems").mkdir(parents=True, exist_ok=True)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    rng = np.random.default_rng(7)
    tone = 0.4 * np.sin(2 * np.pi * 220.0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t))
    sf.write(folder / "stems" / "tone.wav", tone.astype(np.float32), SR, subtype="FLOAT")
    stereo = np.stack([0.1 * rng.standard_normal(n), 0.25 * np.sin(2 * np.pi * 330.0 * t)], axis=1)
    sf.write(folder / "stems" / "noise.wav", stereo.astype(np.float32), SR, subtype="FLOAT")


def make_session(folder: Path, seconds: float = 2.0, *, block_size: int | None = None,
                 extra_tracks: str = "", automation: str = "") -> Path:
    write_stems(folder, seconds)
    meta = f"  block_size: {block_size}\n" if block_size else ""
    path = folder / "session.yaml"
    path.write_text(SESSION.format(extra_meta=meta, extra_tracks=extra_tracks, automation=automation))
    return path


class Capture:
    """A tap that lays rolling output blocks onto the session timeline."""

    def __init__(self, seconds: float) -> None:
        self.audio = np.zeros((2, int(seconds * SR)))
        self.written = np.zeros(self.audio.shape[1], dtype=bool)

    def __call__(self, out: np.ndarray, position: int, rolling: bool) -> None:
        if rolling:
            stop = min(position + out.shape[1], self.audio.shape[1])
            self.audio[:, position:stop] = out[:, :stop - position]
            self.written[position:stop] = True


def render(path: Path, out_dir: Path) -> np.ndarray:
    session = host.load_session(path)
    result = session.render(out_dir)
    data, _ = sf.read(result.outputs[0], always_2d=True, dtype="float64")
    return np.asarray(data.T)


def wait_position(engine: LiveEngine, seconds: float, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    target = int(seconds * SR)
    while engine.transport.position < target:
        if engine.error is not None:
            raise engine.error
        if time.monotonic() > deadline:
            raise TimeoutError(f"the transport did not reach {seconds} s")
        time.sleep(0.002)


def run_blocks(engine: LiveEngine, count: int) -> np.ndarray:
    """Drive the engine from the test thread (no backend thread); keep the reader ahead."""
    pieces = []
    for _ in range(count):
        while any(s.buffered < engine.block_size and s.ready for s in engine.sources):
            time.sleep(0.0005)
        pieces.append(engine.process_block(engine.block_size).copy())
    return np.concatenate(pieces, axis=1)


class ControlLoopRig:
    """Base of the surface test rigs: a thread doing what `mixhost live`'s control loop does.

    A subclass sets ``session``, ``engine`` and ``surfaces`` (it may swap
    ``surfaces`` while the loop runs: each pass reads it afresh), calls ``play``
    (or opens them its own way) and ``start_control`` once they are open, and
    ``stop_control`` first thing in its ``close``.
    """

    session: host.Session
    engine: LiveEngine
    surfaces: Surfaces

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._loop = threading.Thread(target=self._control, daemon=True)

    def play(self, loop_s: float = 1.5) -> None:
        """Open the engine, loop its first ``loop_s`` seconds playing, then open the surfaces."""
        self.engine.open()
        self.engine.transport.set_loop(0, int(loop_s * self.session.sample_rate))
        self.engine.start(play=True)
        self.surfaces.open()

    def start_control(self) -> None:
        self._loop.start()

    def _control(self) -> None:
        while not self._stop.is_set():
            self.session.registry.dispatch_pending()
            self.surfaces.poll()
            self._stop.wait(0.005)

    def stop_control(self) -> None:
        """Stop the loop (a no-op join when a rig failed before starting it)."""
        self._stop.set()
        if self._loop.is_alive():
            self._loop.join()

    def get(self, address: str) -> Any:
        return self.session.registry.get(address)
