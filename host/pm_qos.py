"""PM QoS: ask Linux to keep the CPUs awake while audio has deadlines.

Between two periods an audio thread sleeps, and an idle CPU drops into an
idle state.  Waking from it takes time (tens to hundreds of microseconds for a
deep C-state on bare metal; on a virtual machine a halted virtual CPU costs an
exit to the hypervisor, whose scheduler then decides when it runs again), and
the callback that follows runs on cold caches.  The kernel's PM QoS interface
takes a bound on that wake-up latency from user space: a process writes a
32-bit target in microseconds to ``/dev/cpu_dma_latency`` and keeps the file
open; the request holds until the file is closed (the kernel's
``Documentation/power/pm_qos_interface.rst``).  A target of 0 makes idle CPUs
poll instead of sleep, which is what latency measurement tools such as
cyclictest ask for while they measure.

The price is power: an idle CPU that polls draws what a busy one does.  So
mixhost holds the request only

* while it plays to a real audio device (``mixhost live``;
  ``--allow-cpu-sleep`` leaves power management alone: a laptop on battery, a
  period long enough not to need it);
* while a render runs on several processes, which keep every CPU busy anyway
  but hand chunks to each other: each wait for the other side let its CPU
  sleep, and the wake-ups cost the speed-up (on the 2-CPU test VM, 2 workers
  went from 1.56-1.58x to 1.67-1.90x over 1 in the engine benchmark).

Writing the device needs root or a udev rule that gives the audio group write
access; without the right the request is simply not held, and
:attr:`CpuLatencyRequest.reason` says why.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from .errors import UserInputError

DEVICE = Path("/dev/cpu_dma_latency")
_TARGET = struct.Struct("=i")  # the device takes and returns one native-endian s32, in microseconds


class CpuLatencyRequest:
    """One PM QoS request for a CPU wake-up latency of at most ``target_us``."""

    def __init__(self, target_us: int = 0, device: Path = DEVICE) -> None:
        if target_us < 0:
            raise UserInputError(f"a CPU wake-up latency target is 0 us or more, not {target_us}")
        self.target_us = target_us
        self.device = device
        self.reason = "not requested"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def hold(self) -> bool:
        """Make the request (idempotent).  False, with :attr:`reason` set, when it cannot be made."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.device, os.O_WRONLY)
        except OSError as error:
            self.reason = _why(self.device, error)
            return False
        try:
            os.write(fd, _TARGET.pack(self.target_us))
        except OSError as error:
            os.close(fd)
            self.reason = _why(self.device, error)
            return False
        self._fd = fd
        self.reason = f"held: CPU wake-up latency at most {self.target_us} us ({self.device})"
        return True

    def release(self) -> None:
        """Withdraw the request (closing the file is what withdraws it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self.reason = "released"

    def __enter__(self) -> CpuLatencyRequest:
        self.hold()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def current_target_us(device: Path = DEVICE) -> int | None:
    """The latency bound in force now, over every process's requests (None: no such device)."""
    try:
        with device.open("rb") as f:
            return int(_TARGET.unpack(f.read(_TARGET.size))[0])
    except (OSError, struct.error):
        return None


def _why(device: Path, error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return f"not held: {device} does not exist (not Linux, or a kernel without PM QoS)"
    if isinstance(error, PermissionError):
        return (f"not held: no permission to write {device}; run as root, or add a udev rule giving "
                "your audio group write access to it")
    return f"not held: {device}: {error.strerror or error}"
