"""`mixhost validate` checks `controllers:` and `snapshots:` as `mixhost live` does, without ports."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_live_helpers import make_session

import host
from host.cli import main
from host.control.launch import check_controls
from host.errors import SessionError
from host.live import transport_params

GOOD = """\
controllers:
  mappings:
    - {source: cc, channel: 1, number: 7, target: tracks/noise/gain_db}
    - {source: program, channel: 1, snapshots: [quiet]}
    - {source: note, channel: 1, number: 94, target: transport/play}
snapshots:
  quiet: {tracks/noise/gain_db: -40, tracks/tone/mute: true}
"""


def test_a_sound_session_counts_its_snapshots_and_mappings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_session(tmp_path, 0.2, automation=GOOD)
    assert main(["validate", str(path)]) == 0
    assert "1 snapshots, 3 MIDI mappings)" in " ".join(capsys.readouterr().out.split())
    assert _check(path, ["nanokontrol2"])[0] > 3   # a shipped map on top


def _check(path: Path, maps: list[str] | None = None) -> tuple[int, int]:
    """Load and check as `mixhost live` does: the live engine registers the transport first."""
    session = host.load_session(path)
    transport_params.register(session.registry)
    return check_controls(session, maps)


# (the session's tail, the line the error points at, what it says); the tail starts on line 19
BAD = [
    ("controllers:\n  mappings:\n    - {source: cc, number: 7, target: tracks/noise/gian_db}\n",
     21, r'no parameter at .tracks/noise/gian_db.; did you mean "tracks/noise/gain_db"'),
    ("controllers:\n  mappings:\n    - {source: cc, number: 7, target: tracks/*/pna}\n",
     21, "no parameter at 'tracks/\\*/pna'"),
    ("controllers:\n  mappings:\n    - {source: cc, channel: 17, number: 7, target: tracks/noise/pan}\n",
     21, "channel"),
    ("controllers:\n  mappings:\n    - {source: cc, number: 7, target: transport/xruns}\n",
     21, "read-only"),
    ("controllers:\n  mappings:\n    - {source: program, snapshots: [lodu]}\nsnapshots:\n  loud: {}\n",
     21, r'no snapshot .lodu. in the session; did you mean "loud"'),
    ("controllers:\n  maps: [nanokontrl2]\n",
     20, r'did you mean "nanokontrol2"'),
    ("snapshots:\n  quiet:\n    tracks/noise/gain_db: -40\n    tracks/tone/gian_db: -3\n",
     22, r'snapshot .quiet.: no parameter at .tracks/tone/gian_db.; did you mean "tracks/tone/gain_db"'),
    ("snapshots:\n  quiet:\n    tracks/noise/gain_db: 900\n",
     21, r"snapshot .quiet.: tracks/noise/gain_db: 900 is out of range"),
    ("snapshots:\n  quiet:\n    tracks/tone/mute: maybe\n",
     21, r"snapshot .quiet.: tracks/tone/mute: unknown value 'maybe'"),
    ("snapshots:\n  quiet:\n    transport/xruns: 0\n",
     21, "read-only"),
]


@pytest.mark.parametrize(("tail", "line", "says"), BAD)
def test_a_bad_entry_fails_validate_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], tail: str,
                                                line: int, says: str) -> None:
    path = make_session(tmp_path, 0.2, automation=tail)
    assert path.read_text().splitlines()[18] == tail.splitlines()[0]
    assert main(["validate", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{path}:{line}:" in err and "Traceback" not in err
    with pytest.raises(SessionError, match=says) as raised:    # the very checks `mixhost live` makes
        _check(path)
    assert raised.value.file == str(path) and raised.value.line == line


def test_a_bad_map_file_given_to_validate_is_named_at_its_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = make_session(tmp_path, 0.2)
    (tmp_path / "controllers").mkdir()
    mine = tmp_path / "controllers" / "mine.yaml"
    mine.write_text("# mine\ndevice: x\nmappings:\n  - {source: cc, number: 7, target: tracks/tone/gian_db}\n")
    assert main(["validate", str(path)]) == 0                      # the session alone is sound
    assert main(["validate", str(path), "--midi-map", "mine"]) == 2
    assert f"{mine}:4:" in capsys.readouterr().err
