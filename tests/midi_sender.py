"""A MIDI sender in its own process, on its own JACK MIDI port (python-rtmidi's JACK API).

Run as ``python midi_sender.py CLIENT``; it opens ``CLIENT:out``, prints
``ready``, then reads JSON lines from stdin: ``{"messages": [[...], ...],
"gap": seconds}`` sends them (``gap`` apart) and prints ``sent``;
``{"rate": per_second, "count": n, "messages": [[...]]}`` sends n messages
paced at that rate cycling through ``messages``, printing ``sent <t0> <t1>``;
``{"close": true}`` closes the port (it vanishes), ``{"open": true}`` opens it again.
"""

from __future__ import annotations

import json
import sys
import time

import rtmidi


def reply(*words: str) -> None:
    sys.stdout.write(" ".join(words) + "\n")
    sys.stdout.flush()


def main() -> None:
    client = sys.argv[1]
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client)
    out.open_virtual_port("out")
    reply("ready")
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("close"):
            out.close_port()
            out.delete()        # the whole client goes, as an unplugged device's would
            reply("closed")
        elif command.get("open"):
            out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client)
            out.open_virtual_port("out")
            reply("opened")
        elif "rate" in command:
            messages, count, interval = command["messages"], command["count"], 1.0 / command["rate"]
            start = time.monotonic()
            stamps = []
            for i in range(count):
                due = start + i * interval
                while time.monotonic() < due:
                    pass
                stamps.append(time.perf_counter())
                out.send_message(messages[i % len(messages)])
            reply("sent", json.dumps(stamps if command.get("stamps") else []))
        else:
            gap = command.get("gap", 0.0)
            for message in command["messages"]:
                out.send_message(message)
                if gap:
                    time.sleep(gap)
            reply("sent")


if __name__ == "__main__":
    main()
