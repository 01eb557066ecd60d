"""``sounddevice``: PortAudio through the ``sounddevice`` package."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import AudioDeviceError, UserInputError
from .base import DEFAULT_BLOCK, Backend

if TYPE_CHECKING:
    from ..engine import LiveEngine


class SoundDeviceBackend(Backend):
    """PortAudio through ``sounddevice``: stereo out, live-input channels by number (``input: 1``)."""

    name = "sounddevice"
    has_deadlines = True

    def __init__(self, device: Any = None) -> None:
        super().__init__()
        self.device = device
        self.stream: Any = None

    def _open(self, engine: LiveEngine, sample_rate: int, block_size: int | None) -> tuple[int, int]:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as error:
            raise AudioDeviceError(f"the sounddevice backend is not available: {error}",
                                   hint="install PortAudio and `pip install sounddevice`") from error
        self.block_size = block_size or DEFAULT_BLOCK
        wanted = engine.input_ports()
        self.channel_map = [(track, [_channel_number(p) for p in ports]) for track, ports in wanted.items()]
        in_channels = max((c for _, chans in self.channel_map for c in chans), default=0)
        output = _device_index(sd, self.device, "output")
        device: Any = (_device_index(sd, self.device, "input"), output) if in_channels else output
        try:
            if in_channels:
                self.stream = sd.Stream(samplerate=sample_rate, blocksize=self.block_size, device=device,
                                        channels=(in_channels, 2), dtype="float32", callback=self._duplex)
            else:
                self.stream = sd.OutputStream(samplerate=sample_rate, blocksize=self.block_size,
                                              device=device, channels=2, dtype="float32",
                                              callback=self._output)
        except sd.PortAudioError as error:
            raise AudioDeviceError(f"cannot open the audio device: {error}") from None
        return int(self.stream.samplerate), self.block_size

    def start(self) -> None:
        self.stream.start()

    def _duplex(self, indata: np.ndarray, outdata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        engine = self.engine
        assert engine is not None
        for track, channels in self.channel_map:
            source = engine.inputs[track]
            for index, channel in enumerate(channels):
                source.feed(index, indata[:, channel - 1])
        self._output(outdata, frames, when, status)

    def _output(self, outdata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        engine = self.engine
        assert engine is not None
        started = time.perf_counter()
        if status.output_underflow or status.input_overflow:
            self._note_xrun()
        try:
            outdata[:] = engine.process_block(frames).T
        except Exception as error:  # noqa: BLE001 - never let an exception into PortAudio's thread
            self._fail(error)
            outdata.fill(0.0)
        engine.record_callback(time.perf_counter() - started, started)

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.stop()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None


def _device_index(sd: Any, device: Any, kind: str) -> int | None:
    """The PortAudio device a user named, by number or by part of its name (None: the default)."""
    if device is None:
        return None
    wanted: int | str = int(device) if str(device).strip().isdigit() else str(device)
    try:
        return int(sd.query_devices(wanted, kind=kind)["index"])
    except (ValueError, sd.PortAudioError) as error:
        from ...suggest import did_you_mean

        names = [str(d["name"]) for d in sd.query_devices() if d[f"max_{kind}_channels"] > 0]
        raise UserInputError(f"no {kind} device {device!r} ({error}); {did_you_mean(str(device), names)}",
                             hint="give a device number or part of its name, as `python -m sounddevice` "
                                  "lists them") from None


def _channel_number(port: str) -> int:
    digits = "".join(ch for ch in str(port) if ch.isdigit())
    if not digits:
        raise UserInputError(f"input {port!r}: with the sounddevice backend give an input channel number")
    return int(digits)
