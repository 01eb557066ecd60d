"""Reading the events of one part of a Standard MIDI File, timed in seconds.

A part is a track (by index or by name) and/or a MIDI channel (1-16, as
musicians count them).  Times follow the file's tempo map, which in a type-1
file lives in track 0 but applies to every track, so it is read from all
tracks.  Only channel voice messages are kept (notes, controllers, program,
pitch bend, pressure); meta and system-exclusive events are not sent to the
instrument.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

from ..errors import SessionError
from ..suggest import did_you_mean

DEFAULT_TEMPO = 500_000  # microseconds per quarter note (120 bpm), SMF 1.0 default

VOICE_TYPES = frozenset({
    "note_on", "note_off", "control_change", "program_change", "pitchwheel", "aftertouch", "polytouch",
})


@dataclass(frozen=True)
class MidiEvent:
    """One channel message at ``time`` seconds from the start of the file."""

    time: float
    data: bytes


class TempoMap:
    """Ticks -> seconds for a file, from all of its ``set_tempo`` events."""

    def __init__(self, ticks_per_beat: int, changes: list[tuple[int, int]]) -> None:
        self.ticks_per_beat = ticks_per_beat
        self._ticks: list[int] = [0]
        self._seconds: list[float] = [0.0]
        self._tempos: list[int] = [DEFAULT_TEMPO]
        for tick, tempo in sorted(changes):
            seconds = self.seconds(tick)
            if tick == self._ticks[-1]:
                self._tempos[-1] = tempo
                continue
            self._ticks.append(tick)
            self._seconds.append(seconds)
            self._tempos.append(tempo)

    def seconds(self, tick: int) -> float:
        index = bisect.bisect_right(self._ticks, tick) - 1
        delta = tick - self._ticks[index]
        return self._seconds[index] + delta * self._tempos[index] / (1e6 * self.ticks_per_beat)


def read_part(path: Path, track: int | str | None = None, channel: int | None = None) -> list[MidiEvent]:
    """The voice messages of one track and/or channel of ``path``, sorted by time."""
    import mido

    try:
        midi = mido.MidiFile(str(path))
    except FileNotFoundError:
        raise SessionError(f"MIDI file not found: {path}",
                           hint="check the `midi:` path; it is relative to the session file") from None
    except (OSError, ValueError, EOFError, KeyError, IndexError) as error:
        raise SessionError(f"{path}: not a readable MIDI file ({error})") from None
    # the session's file:line is put on these by the caller: the message names the MIDI file
    if midi.type == 2:
        raise SessionError(f"{path}: type-2 MIDI files (independent sequences) are not supported")
    if channel is not None and not 1 <= int(channel) <= 16:
        raise SessionError(f"{path}: MIDI channel {channel} is out of range; use 1 to 16")
    tempo_changes: list[tuple[int, int]] = []
    for mtrack in midi.tracks:
        tick = 0
        for message in mtrack:
            tick += message.time
            if message.type == "set_tempo":
                tempo_changes.append((tick, int(message.tempo)))
    tempo = TempoMap(midi.ticks_per_beat, tempo_changes)
    events: list[tuple[int, int, MidiEvent]] = []
    for index in _tracks(midi, path, track):
        tick = 0
        for order, message in enumerate(midi.tracks[index]):
            tick += message.time
            if message.type not in VOICE_TYPES:
                continue
            if channel is not None and message.channel != int(channel) - 1:
                continue
            events.append((tick, order, MidiEvent(tempo.seconds(tick), bytes(message.bytes()))))
    events.sort(key=lambda item: (item[0], item[1]))
    return [event for _tick, _order, event in events]


def _tracks(midi: object, path: Path, track: int | str | None) -> list[int]:
    tracks = midi.tracks  # type: ignore[attr-defined]
    if track is None:
        return list(range(len(tracks)))
    if isinstance(track, bool):
        raise SessionError(f"{path}: track must be an index or a track name, got {track!r}")
    if isinstance(track, int):
        if not 0 <= track < len(tracks):
            raise SessionError(f"{path}: no track {track}; the file has tracks 0 to {len(tracks) - 1}")
        return [track]
    names = [str(t.name) for t in tracks]
    if track in names:
        return [names.index(track)]
    lowered = [n.lower() for n in names]
    if str(track).lower() in lowered:
        return [lowered.index(str(track).lower())]
    raise SessionError(f"{path}: no track named {track!r}; {did_you_mean(str(track), [n for n in names if n])}")
