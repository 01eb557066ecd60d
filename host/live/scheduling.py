"""Realtime scheduling for the threads that work for the audio while it plays.

Under a realtime JACK server (``jackd -R``) JACK's process thread runs SCHED_FIFO,
and mixhost's other threads that the audio depends on (the disk reader, the render
thread of ``--ahead``) are given SCHED_FIFO too, a few steps below it:

* a Python thread that holds the GIL when JACK's thread wants it must run to let go
  of it.  At normal priority, any busy process on the machine can take its CPU
  away meanwhile, and JACK's realtime thread waits on it: a priority inversion.
  Measured on the 2-CPU test VM under `jackd -R` with seven other users' load,
  callbacks that waited for the GIL before they could run waited up to 2.3-2.6 ms
  (of a 2.67 ms period) with the reader at normal priority;
* the render thread of ``--ahead`` renders each block once a cycle, and at normal
  priority a busy machine delays it past the blocks ahead (185 dropouts in 20 s at
  128 frames there, none at SCHED_FIFO).

Below JACK's thread, they never take its CPU.  Ardour's disk thread runs the same
way.  Under a server without realtime scheduling (``--no-realtime``) mixhost
raises its own process thread where it may (root, or an rtprio limit), and then
the helpers whose GIL that Python callback waits for are raised under it too:
left at normal priority, 10,000 CC/s from a MIDI controller on the test VM gave
1, 3 and 8 xruns in three 10-s runs, all cycles the server logged mixhost's
callback unfinished; raised, 0 in three.  ``--ahead`` keeps its helpers at
normal priority there: its JACK thread never waits for the GIL.
"""

from __future__ import annotations

import contextlib
import os

BELOW_JACK = 5   # steps under JACK's process thread (jackd -P 70 runs its clients' threads at 65)


def below(jack_priority: int) -> int | None:
    """The priority for the helper threads under a client thread at ``jack_priority``
    (None: JACK's thread is not realtime, so neither are they)."""
    return max(1, jack_priority - BELOW_JACK) if jack_priority > 0 else None


def may_raise(priority: int) -> bool:
    """Whether this process may run a thread SCHED_FIFO at ``priority`` (root, or an rtprio limit)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
    except (ImportError, AttributeError, OSError):
        return False
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or soft >= priority


def make_realtime(native_id: int, priority: int | None, *, children_normal: bool = False) -> str:
    """SCHED_FIFO at ``priority`` for a thread (by its native id); says what it runs at.
    ``children_normal``: the threads it starts from then on do not inherit it."""
    if priority is None:
        return "normal priority (JACK's process thread is not realtime)"
    try:
        # with children_normal, threads it starts (an event loop's executor) run at normal priority
        policy = os.SCHED_FIFO | (os.SCHED_RESET_ON_FORK if children_normal else 0)
        os.sched_setscheduler(native_id, policy, os.sched_param(priority))
    except (OSError, AttributeError) as error:   # no right to it, or not Linux
        return f"normal priority (SCHED_FIFO {priority} refused: {error})"
    return f"SCHED_FIFO {priority}, under JACK's process thread"


def make_normal(native_id: int) -> None:
    """Back to normal priority (a helper whose audio stopped: the rest of its work may be long)."""
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(native_id, os.SCHED_OTHER, os.sched_param(0))
