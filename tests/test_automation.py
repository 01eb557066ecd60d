"""Automation ramps reach their values at the given times; moves never click."""

from __future__ import annotations

import numpy as np
import pytest

import host
from tests.conftest import read_mix

SR = 48000


def constant(seconds: float = 4.0, level: float = 0.5) -> np.ndarray:
    return np.full((int(seconds * SR), 2), level)


def _render_dc_lane(write_audio, write_session, address: str, points: str, dc: np.ndarray) -> np.ndarray:
    """Render ``dc`` through a track with a neutral ``trim`` gain stage and one linear lane."""
    write_audio("dc.wav", dc)
    path = write_session(f"""
        tracks:
          a:
            source: dc.wav
            chain: [{{type: gain, id: trim}}]
        outputs: {{mixdown: mix.wav, bit_depth: float}}
        automation:
          {address}:
            points: {points}
    """)
    host.load_session(path).render()
    return read_mix(path.parent / "mix.wav")[:, 0]


@pytest.mark.parametrize("address", ["tracks/a/gain_db", "tracks/a/trim/gain_db"])
def test_linear_gain_ramp_hits_its_points(write_audio, write_session, address):
    mix = _render_dc_lane(write_audio, write_session, address,
                          "[[0.5, 0.0], [1.5, -20.0], [3.0, -20.0], [3.5, -6.0]]", constant())
    level_db = 20 * np.log10(mix / 0.5)
    # sample-accurate for the fader; at most 64 samples coarse for stage parameters
    tolerance = 0.01 if address == "tracks/a/gain_db" else 20 / SR * 64 + 0.01
    for time_s, value in [(0.5, 0.0), (1.0, -10.0), (1.5, -20.0), (3.0, -20.0), (3.25, -13.0), (3.5, -6.0)]:
        assert level_db[int(time_s * SR)] == pytest.approx(value, abs=tolerance + 0.05)


def test_step_automation_lands_smoothly(write_audio, write_session):
    write_audio("dc.wav", constant(2.0))
    path = write_session("""
        tracks:
          a: {source: dc.wav}
        outputs: {mixdown: mix.wav, bit_depth: float}
        automation:
          tracks/a/mute:
            interpolation: step
            points: [[0, false], [1.0, true]]
    """)
    host.load_session(path).render()
    mix = read_mix(path.parent / "mix.wav")[:, 0]
    jump = int(1.0 * SR)
    assert mix[jump - 10] == pytest.approx(0.5, abs=1e-6)
    assert np.max(np.abs(mix[jump + 9600:])) < 1e-6          # muted 200 ms later
    assert np.max(np.abs(np.diff(mix))) < 0.5 * 0.01           # no step: a fade over several ms


def _render_with_api_fader_jump(write_audio, write_session, x: np.ndarray) -> np.ndarray:
    """Render ``x`` (stereo, float64) while the API moves the fader 0 -> -60 dB after 24000 frames."""
    write_audio("source.wav", np.stack([x, x], axis=1), subtype="DOUBLE")
    path = write_session("""
        session: {block_size: 4800}
        tracks:
          a: {source: source.wav}
        outputs: {mixdown: mix.wav, bit_depth: float}
    """)
    session = host.load_session(path)
    session.render(progress=lambda done, total: session.set("tracks/a/gain_db", -60) if done >= 24000 else None)
    return read_mix(path.parent / "mix.wav")[:, 0]


def test_api_fader_jump_does_not_click(write_audio, write_session):
    """A fader move from 0 to -60 dB between blocks ramps instead of stepping (on DC)."""
    mix = _render_with_api_fader_jump(write_audio, write_session, np.full(SR, 0.5))
    assert mix[20000] == pytest.approx(0.5, abs=1e-6)
    assert mix[-1] == pytest.approx(0.5 * 10 ** (-60 / 20), rel=0.01)
    assert np.max(np.abs(np.diff(mix))) < 0.5 * 0.01


@pytest.mark.parametrize("freq", [440.0, 5000.0])
def test_api_fader_jump_on_a_sine_does_not_click(write_audio, write_session, freq):
    """0 to -60 dB mid-render: no sample step larger than the sine's own largest step."""
    x = 0.5 * np.sin(2 * np.pi * freq * np.arange(SR) / SR + 0.4)
    mix = _render_with_api_fader_jump(write_audio, write_session, x)
    before = np.max(np.abs(mix[:24000]))
    assert before > 0.49 and np.max(np.abs(mix[-4800:])) < before * 10 ** (-59.9 / 20)  # it moved
    own = np.max(np.abs(np.diff(x)))
    assert np.max(np.abs(np.diff(mix))) <= own + 2.0**-24  # + the float32 file's rounding


def test_automation_on_unknown_address_is_refused_with_line(write_audio, write_session):
    write_audio("dc.wav", constant(1.0))
    path = write_session("""
        tracks:
          a: {source: dc.wav}
        automation:
          tracks/a/gain_dbb:
            points: [[0, 0]]
    """)
    with pytest.raises(host.UserInputError) as caught:
        host.load_session(path)
    message = str(caught.value)
    assert "session.yaml:4" in message and 'did you mean "tracks/a/gain_db"' in message


@pytest.mark.parametrize("address", ["tracks/a/gain_db", "tracks/a/trim/gain_db"])
def test_a_lane_starts_at_its_first_value_without_a_glide(write_audio, write_session, address):
    """The static value in the file differs from the lane's first point: the lane wins from sample 0."""
    write_audio("dc.wav", constant(0.5))
    path = write_session(f"""
        tracks:
          a:
            source: dc.wav
            gain_db: 0
            chain: [{{type: gain, id: trim, params: {{gain_db: 0}}}}]
        outputs: {{mixdown: mix.wav, bit_depth: float}}
        automation:
          {address}:
            interpolation: step
            points: [[0.0, -12.0]]
    """)
    host.load_session(path).render()
    mix = read_mix(path.parent / "mix.wav")[:, 0]
    assert mix[0] == pytest.approx(0.5 * 10 ** (-12 / 20), rel=1e-6)
    assert np.ptp(mix) < 1e-6


def test_long_automated_render_keeps_engine_changes_bounded(write_audio, write_session):
    """Thousands of automated blocks with no control thread draining: one waiting change per parameter."""
    write_audio("dc.wav", constant(20.0, 0.25))
    path = write_session("""
        session: {block_size: 128}
        tracks:
          a:
            source: dc.wav
            chain: [{type: gain, id: trim}]
        outputs: {mixdown: mix.wav, bit_depth: float}
        automation:
          tracks/a/gain_db:
            points: [[0, 0], [20, -12]]
          tracks/a/trim/gain_db:
            points: [[0, 0], [10, -6], [20, -3]]
    """)
    session = host.load_session(path)
    seen = []
    session.observe(seen.append, "tracks/a/*gain_db")
    session.render(workers=1)
    registry = session.registry
    assert registry.pending_count == 2  # of len(registry) parameters: bounded by them, not by the length
    assert seen == []  # the render thread never runs observers itself
    assert registry.dispatch_pending() == 2
    assert registry.pending_count == 0
    final = {c.address: c.value for c in seen}
    ends = {"tracks/a/gain_db": -12.0, "tracks/a/trim/gain_db": -3.0}
    assert final == pytest.approx(ends, abs=0.01)  # the lanes' values at the end of the render
    assert {c.source for c in seen} == {"automation"}


@pytest.mark.parametrize("address", ["tracks/a/gain_db", "tracks/a/trim/gain_db"])
@pytest.mark.parametrize("points", ["[[0, 0], [1, 0], [1, -20], [2, -20]]",
                                    "[[0, 0], [1, 0], [1, -6], [1, -20], [2, -20]]"])
def test_two_points_at_one_time_jump_as_a_short_ramp(write_audio, write_session, address, points):
    """A vertical jump in a linear lane is played as a 10 ms ramp from that time, not a click."""
    mix = _render_dc_lane(write_audio, write_session, address, points, constant(2.0))
    level_db = 20 * np.log10(mix / 0.5)
    jump = SR  # 1.0 s
    assert level_db[jump - 1] == pytest.approx(0.0, abs=0.01)
    assert level_db[jump + 240] == pytest.approx(-10.0, abs=0.5)   # half-way through the ramp
    assert np.max(np.abs(level_db[jump + 480 + 64:] + 20.0)) < 0.01
    assert np.max(np.abs(np.diff(mix))) < 0.5 * 0.01             # no step: 0.45 spread over 480 samples


# (stage entry, automated parameter, lane from -> to, the stereo DC source, measured value from the output)
LANE_FOLLOWERS = {
    "width": ("{type: width, id: st}", "width_pct", (0.0, 200.0), (0.5, -0.5),
              lambda out: 100.0 * out[:, 0] / 0.5),
    "saturation": ("{type: saturation, id: st, oversample: 1, params: {drive_db: 12}}", "mix_pct", (0.0, 100.0),
                   (0.5, 0.5), lambda out: 100.0 * (0.5 - out[:, 0]) / (0.5 - np.tanh(0.5 * 10 ** 0.6) / 10 ** 0.6)),
    "eq": ("{type: eq, id: st, bands: [{type: low_shelf, freq_hz: 2000}]}", "band1_gain_db", (-12.0, 12.0),
           (0.5, 0.5), lambda out: 20 * np.log10(out[:, 0] / 0.5)),
}


@pytest.mark.parametrize("kind", list(LANE_FOLLOWERS))
def test_a_stage_parameter_lane_is_at_most_64_samples_coarse(write_audio, write_session, kind):
    """A lane on a native stage's parameter is not smoothed again: it is not late by the smoothing time."""
    entry, name, (start, end), (left, right), measure = LANE_FOLLOWERS[kind]
    write_audio("dc.wav", np.tile([left, right], (int(2.0 * SR), 1)))
    path = write_session(f"""
        tracks:
          a:
            source: dc.wav
            chain: [{entry}]
        outputs: {{mixdown: mix.wav, bit_depth: float}}
        automation:
          tracks/a/st/{name}:
            points: [[0.5, {start}], [1.5, {end}]]
    """)
    host.load_session(path).render()
    measured = measure(read_mix(path.parent / "mix.wav"))
    n = np.arange(int(0.4 * SR), int(1.6 * SR))
    lane = np.interp(n / SR, [0.5, 1.5], [start, end])
    slope = abs(end - start) / SR  # per sample
    # stepped every 64 samples: the value is the lane's at most 64 samples earlier
    assert np.max(np.abs(measured[n] - lane)) <= slope * 64 + 1e-5 * abs(end - start)  # + float32 file rounding


@pytest.mark.parametrize("interpolation", ["linear", "step"])
def test_long_lane_lookups_match_a_full_scan(interpolation):
    """50k points: the binary-search lookups agree with a scan over every point."""
    from host.registry import Parameter, ParamSpec
    from host.session.automation import Lane

    rng = np.random.default_rng(11)
    times = np.round(np.cumsum(rng.uniform(0.0001, 0.004, 50_000)) * SR) / SR   # on sample positions
    times = np.unique(times)
    values = rng.uniform(-24.0, 0.0, times.size)
    values[1000:1400] = -6.0                                   # a flat stretch of many points
    lane = Lane(Parameter("tracks/a/gain_db", ParamSpec("gain_db", 0.0, -60.0, 12.0), 0),
                times, values, interpolation)
    starts = np.concatenate([rng.integers(0, int(times[-1] * SR) + 4800, 2000),
                             np.round(times[::100] * SR).astype(int),            # a block starting on a point
                             np.round(times[::100] * SR).astype(int) - 63,       # one ending on a point
                             [0, int(times[-1] * SR) + 100]])
    flat = 0
    for start in starts.tolist():
        frames = int(rng.choice([1, 64, 128, 512]))
        t0, t1 = start / SR, (start + frames - 1) / SR
        scan_inside = bool(((times > t0) & (times <= t1)).any())
        ends = lane.at_samples(np.array([start, start + frames - 1], dtype=np.float64), SR)
        expected = not scan_inside and (interpolation == "step" or ends[0] == ends[1])
        assert lane.is_constant(start, frames, SR) == expected, (start, frames)
        assert lane.value_at(start, SR) == ends[0]
        flat += expected
    assert 0 < flat < len(starts)   # both answers occur
