"""Native stages inside rendered sessions: sidechain ducking, master limiter, a user stage."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import host
from host.dsp.true_peak import true_peak_dbtp
from host.errors import SessionError
from tests.conftest import SR, read_mix, tone

REPO = Path(__file__).resolve().parents[1]


def _kick(seconds: float) -> np.ndarray:
    """A decaying 60 Hz thump every 500 ms."""
    x = np.zeros(int(seconds * SR))
    n = np.arange(int(0.15 * SR))
    hit = 0.8 * np.sin(2 * np.pi * 60 * n / SR) * np.exp(-n / (0.04 * SR))
    for start in range(0, len(x) - len(n), SR // 2):
        x[start : start + len(n)] += hit
    return x


def _pad_level_during_and_between_kicks(mix: np.ndarray) -> tuple[float, float]:
    pad = mix[:, 0]
    during = [np.sqrt(np.mean(pad[s + 480 : s + 2400] ** 2)) for s in range(SR, 3 * SR, SR // 2)]
    between = [np.sqrt(np.mean(pad[s + 16000 : s + 22000] ** 2)) for s in range(SR, 3 * SR, SR // 2)]
    return float(20 * np.log10(np.mean(during))), float(20 * np.log10(np.mean(between)))


SESSION = """
tracks:
  kick: {{source: kick.wav, gain_db: -120, output: master}}
  pad:
    source: pad.wav
    chain:
      - {{type: compressor, id: duck, {sidechain} lookahead_ms: 1,
         params: {{threshold_db: -30, ratio: 8, attack_ms: 1, release_ms: 80, sc_hpf_on: {hpf}, sc_hpf_hz: 500}}}}
    output: master
outputs: {{mixdown: {name}.wav, bit_depth: float}}
"""


def _render(write_session, name: str, sidechain: str, hpf: str = "false") -> np.ndarray:
    path = write_session(SESSION.format(sidechain=sidechain, hpf=hpf, name=name), name=f"{name}.yaml")
    host.load_session(path).render()
    return read_mix(path.parent / f"{name}.wav")


def test_sidechain_from_another_track_ducks(write_audio, write_session) -> None:
    write_audio("kick.wav", _kick(3.5))
    write_audio("pad.wav", tone(440.0, 3.5, amp=0.01))  # -43 dBFS: under the threshold itself
    during, between = _pad_level_during_and_between_kicks(_render(write_session, "ducked", "sidechain: kick,"))
    assert between - during > 10.0
    during, between = _pad_level_during_and_between_kicks(_render(write_session, "plain", ""))
    assert abs(between - during) < 0.1
    # the kick is all below 500 Hz: with the sidechain high-pass it hardly triggers
    during, between = _pad_level_during_and_between_kicks(
        _render(write_session, "filtered", "sidechain: kick,", hpf="true"))
    assert between - during < 3.0


def test_master_limiter_holds_the_ceiling(write_audio, write_session) -> None:
    rng = np.random.default_rng(11)
    write_audio("a.wav", 0.5 * rng.standard_normal((SR * 2, 2)).clip(-1, 1))
    write_audio("b.wav", tone(13_000.0, 2.0, amp=0.6, channels=2))
    path = write_session("""
        tracks:
          a: {source: a.wav}
          b: {source: b.wav}
        master:
          chain:
            - {type: eq, id: tone, bands: [{type: highpass, freq_hz: 30, slope: 24}]}
            - {type: limiter, id: lim, params: {input_gain_db: 6, ceiling_dbtp: -1}}
        outputs: {mixdown: mix.wav, bit_depth: float}
    """)
    host.load_session(path).render()
    mix = read_mix(path.parent / "mix.wav")
    assert true_peak_dbtp(mix.T, SR) <= -1.0 + 1e-3  # float32 file rounding


def test_user_python_stage_in_a_session(write_audio, write_session, tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "my_stage.py", tmp_path / "scripts" / "my_stage.py")
    write_audio("hi.wav", tone(12_000.0, 1.0, amp=0.1))
    path = write_session("""
        tracks:
          hi:
            source: hi.wav
            pan: 0
            chain: [{type: python, id: tilt, module: scripts/my_stage.py, params: {tilt_db: 6}}]
        outputs: {mixdown: mix.wav, bit_depth: float}
    """)
    session = host.load_session(path)
    assert session.registry.get("tracks/hi/tilt/tilt_db") == 6.0
    session.render()
    mix = read_mix(path.parent / "mix.wav")
    plain = 0.1 * 10 ** (-3 / 20)  # -3 dB pan law, centred mono
    level = np.sqrt(2) * np.sqrt(np.mean(mix[SR // 2 :, 0] ** 2))
    assert 20 * np.log10(level / plain) > 2.5  # the tilt lifts 12 kHz by almost +3 dB


KEYED = """
session: {{block_size: {block}}}
tracks:
  pad:
    source: dc.wav
    pan: 0
    chain:
      - {{type: compressor, id: duck, sidechain: {key},
         params: {{threshold_db: -30, ratio: 20, knee_db: 0, attack_ms: 0.05, release_ms: 50}}}}
  kick: {{source: burst.wav, output: drums}}
buses:
  drums: {{gain_db: -120}}
outputs: {{mixdown: mix.wav, bit_depth: float}}
"""
KEY_ONSET = 30_011  # not on a block boundary of any tested block size


@pytest.mark.parametrize("block", [1024, 8192])
@pytest.mark.parametrize("key", ["kick", "drums"])  # a track listed after the keyed one; a bus
def test_ducking_lines_up_with_its_key(write_audio, write_session, key: str, block: int) -> None:
    frames = SR
    burst = np.zeros(frames)
    burst[KEY_ONSET:] = 0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(frames - KEY_ONSET) / SR)
    write_audio("burst.wav", burst)
    write_audio("dc.wav", np.full(frames, 0.01))  # DC: the output is the compressor's gain, sample by sample
    path = write_session(KEYED.format(block=block, key=key))
    host.load_session(path).render()
    pad = read_mix(path.parent / "mix.wav")[:, 0]
    before = pad[KEY_ONSET - 100]
    onset = int(np.argmax(pad < before * 10 ** (-1 / 20)))  # the first sample 1 dB down
    assert onset > 0 and pad[-1] < before * 0.3  # it ducks (by 10 dB and more)
    assert abs(onset - KEY_ONSET) <= SR * 0.002  # within 2 ms of the key, not a block later


@pytest.mark.parametrize(("key", "pad_output", "expected"), [
    ("kik", "master", 'sidechain \'kik\' is not a track or bus; did you mean "kick"?'),
    ("drum", "master", 'did you mean "drums"?'),
    ("drums", "drums", "sidechain loop: tracks/pad -> buses/drums -> tracks/pad"),
    ("pad", "master", "sidechain loop: tracks/pad -> tracks/pad"),
])
def test_a_bad_sidechain_is_refused_at_its_line(write_session, key: str, pad_output: str, expected: str) -> None:
    text = KEYED.format(block=1024, key=key).replace("    pan: 0\n", f"    pan: 0\n    output: {pad_output}\n")
    path = write_session(text)
    with pytest.raises(SessionError) as caught:
        host.load_session(path)
    assert expected in caught.value.message
    line = 1 + path.read_text().splitlines().index(next(x for x in path.read_text().splitlines() if "sidechain:" in x))
    assert caught.value.location.startswith(f"{path}:{line}:")  # the duck stage's `sidechain:` line
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(("key", "one_process"), [("kick", False), ("drums", True)])
def test_a_track_keyed_by_a_bus_renders_in_one_process(write_session, key: str, one_process: bool) -> None:
    """Worker processes run tracks only; a bus key must run between tracks, so the mix stays in one."""
    from host.engine.graph import Graph
    from host.engine.parallel import mix_needs_tracks

    session = host.load_session(write_session(KEYED.format(block=1024, key=key)), build_stages=True)
    graph = Graph(session)
    assert mix_needs_tracks(graph) is one_process
    order = [node.address for node in graph.order]
    assert order.index(f"{'buses' if one_process else 'tracks'}/{key}") < order.index("tracks/pad")


ALIGN_SESSION = """
tracks:
  kick: {{source: kick.wav, mute: true, chain: {kick}}}
  pad: {{source: pad.wav, chain: {pad}}}
outputs: {{mixdown: {name}.wav, bit_depth: float}}
"""
DUCK = "{type: compressor, id: duck, sidechain: kick, params: {threshold_db: -30, ratio: 8, attack_ms: 1}}"
LATE = "{type: compressor, id: late, lookahead_ms: 5, params: {ratio: 1}}"  # a pure 240-sample delay


@pytest.mark.parametrize(("kick", "pad", "aligned_pad"), [
    (f"[{LATE}]", f"[{DUCK}]", f"[{DUCK}]"),           # the key arrives late: the pad waits for it
    ("[]", f"[{LATE}, {DUCK}]", f"[{DUCK}, {LATE}]"),  # the key arrives early: it waits for the pad
], ids=["key-late", "key-early"])
def test_a_sidechain_key_meets_the_keyed_stage_in_time(write_audio, write_session, kick: str, pad: str,
                                                       aligned_pad: str) -> None:
    """Latency on either path leaves the ducking where it is without it: the two mixes null."""
    write_audio("kick.wav", _kick(3.5))
    write_audio("pad.wav", tone(440.0, 3.5, amp=0.01))
    mixes = []
    for name, kick_chain, pad_chain in (("delayed", kick, pad), ("reference", "[]", aligned_pad)):
        path = write_session(ALIGN_SESSION.format(kick=kick_chain, pad=pad_chain, name=name), name=f"{name}.yaml")
        host.load_session(path).render()
        mixes.append(read_mix(path.parent / f"{name}.wav"))
    during, between = _pad_level_during_and_between_kicks(mixes[1])
    assert between - during > 10.0  # the reference is ducked: there is something to line up
    assert mixes[0].shape == mixes[1].shape
    assert np.max(np.abs(mixes[0] - mixes[1])) < 1e-6  # float32 files: -120 dBFS
