"""The engine: parallel render equals serial, block-size independence, registry behaviour."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import host
from host import scales
from host.errors import ParameterError
from host.registry import ParamSpec, Registry, boolean, enum
from tests.conftest import read_mix, rms_db, tone

SESSION = """
session: {{block_size: {block}}}
tracks:
{tracks}
buses:
  verb: {{gain_db: -3}}
  drums: {{gain_db: -1, sends: {{verb: {{level_db: -12}}}}}}
outputs: {{mixdown: mix-{name}.wav, bit_depth: float}}
automation:
  tracks/t0/gain_db:
    points: [[0, 0], [1.5, -12], [2.5, -3]]
"""


@pytest.fixture
def many_tracks(write_audio):
    rng = np.random.default_rng(3)
    lines = []
    for i in range(6):
        channels = 1 + i % 2
        write_audio(f"t{i}.wav", rng.uniform(-0.2, 0.2, (48000 * 3, channels)).squeeze())
        bus = "drums" if i % 3 == 0 else "master"
        lines.append(f"  t{i}: {{source: t{i}.wav, pan: {(i - 3) / 4}, gain_db: {-i}, output: {bus}, "
                     f"sends: {{verb: {{level_db: {-6 - i}, pre_fader: {str(i == 2).lower()}}}}}}}")
    return "\n".join(lines)


def render(write_session, tracks, name, block=4096, workers=1, master=""):
    path = write_session(SESSION.format(block=block, tracks=tracks, name=name) + master, name=f"{name}.yaml")
    result = host.load_session(path).render(workers=workers)
    assert result.workers == workers
    return read_mix(path.parent / f"mix-{name}.wav")


# a master lookahead: the first block is cut by the latency, and later ones straddle the writer's chunks
LOOKAHEAD_MASTER = "master: {chain: [{type: compressor, lookahead_ms: 5}]}\n"


@pytest.mark.parametrize("workers, master", [
    (2, ""), (3, ""),  # 3: two workers' blocks are summed before the mix
    (2, LOOKAHEAD_MASTER),
])
def test_several_workers_render_what_one_renders(write_session, many_tracks, workers, master):
    one = render(write_session, many_tracks, "one", workers=1, master=master)
    several = render(write_session, many_tracks, "several", workers=workers, master=master)
    assert one.shape == several.shape
    assert np.max(np.abs(one - several)) < 1e-6  # float32 file resolution
    assert np.sqrt(np.mean(one ** 2)) > 0.01


EDITED = """
tracks:
  left: {source: hi.wav, pan: -1}
  right: {source: lo.wav, pan: 1}
outputs: {mixdown: mix.wav, bit_depth: float}
automation:
  tracks/left/gain_db:
    points: [[0, -3], [2, -9]]
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_render_the_session_as_edited_in_memory(write_audio, write_session, tmp_path, monkeypatch, method):
    """Values set through the API and a lane edited in memory reach the workers, not the file's."""
    from host.engine import parallel

    write_audio("hi.wav", tone(1000, seconds=2.0))
    write_audio("lo.wav", tone(300, seconds=2.0))
    path = write_session(EDITED)
    host.load_session(path).render(tmp_path / "disk", workers=1)
    session = host.load_session(path)
    session.set("tracks/right/gain_db", -6)
    next(lane for lane in session.lanes if lane.address == "tracks/left/gain_db").values -= 4.0
    monkeypatch.setattr(parallel, "_start_method", lambda graph: method)
    mixes = {}
    for workers in (1, 2):
        assert session.render(tmp_path / f"w{workers}", workers=workers).workers == workers
        mixes[workers] = read_mix(tmp_path / f"w{workers}" / "mix.wav")
    disk = read_mix(tmp_path / "disk" / "mix.wav")
    assert np.max(np.abs(mixes[1] - mixes[2])) < 1e-6
    # hard-panned: the left channel is the automated track alone, the right the other
    for channel, change_db in [(0, -4.0), (1, -6.0)]:
        assert rms_db(mixes[2][:, channel]) - rms_db(disk[:, channel]) == pytest.approx(change_db, abs=0.01)


@pytest.mark.parametrize("block", [128, 960, 8192])
def test_block_size_does_not_change_the_mix(write_session, many_tracks, block):
    reference = render(write_session, many_tracks, "ref", block=4096)
    other = render(write_session, many_tracks, f"b{block}", block=block)
    assert np.max(np.abs(reference - other)) < 1e-6


# -- registry ----------------------------------------------------------------------------
@pytest.mark.parametrize("scale,lo,hi", [("linear", -1, 1), ("log", 20, 20000), ("db_fader", -120, 12)])
@pytest.mark.parametrize("position", [0.0, 0.1, 0.5, 0.77, 1.0])
def test_scales_round_trip(scale, lo, hi, position):
    value = scales.from_normalized(position, lo, hi, scale)
    assert lo <= value <= hi
    assert scales.to_normalized(value, lo, hi, scale) == pytest.approx(position, abs=1e-9)


def test_fader_taper_puts_unity_high_on_the_throw():
    assert 0.8 < scales.to_normalized(0.0, -120, 6, "db_fader") < 0.9
    assert scales.to_normalized(-120, -120, 6, "db_fader") == 0.0


def make_registry() -> Registry:
    reg = Registry(capacity=2)
    reg.register("tracks/v/gain_db", ParamSpec("gain_db", 0, -120, 12, unit="dB", scale="db_fader"))
    reg.register("tracks/v/mute", boolean("mute"))
    reg.register("tracks/v/comp/mode", enum("mode", ["peak", "rms"], "peak"))
    return reg


def test_registry_values_parse_and_refuse():
    reg = make_registry()
    reg.set("tracks/v/gain_db", -6)
    reg.set("tracks/v/mute", "on")
    reg.set("tracks/v/comp/mode", "rms")
    assert (reg.get("tracks/v/gain_db"), reg.get("tracks/v/mute"), reg.get("tracks/v/comp/mode")) == (-6.0, True, "rms")
    with pytest.raises(ParameterError, match="out of range; use -120 to 12 dB"):
        reg.set("tracks/v/gain_db", 30)
    with pytest.raises(ParameterError, match='did you mean "rms"'):
        reg.set("tracks/v/comp/mode", "rmss")
    with pytest.raises(ParameterError, match='did you mean "tracks/v/gain_db"'):
        reg.set("tracks/v/gain", 0)


def test_observers_see_sources_and_skip_their_own():
    reg = make_registry()
    seen, surface = [], []
    reg.observe(seen.append)
    reg.observe(surface.append, "tracks/*/gain_db", skip_source="midi:x-touch")
    reg.set("tracks/v/gain_db", -3, source="osc:ipad")
    reg.set_normalized("tracks/v/gain_db", 0.5, source="midi:x-touch")
    assert [c.source for c in seen] == ["osc:ipad", "midi:x-touch"]
    assert [c.source for c in surface] == ["osc:ipad"]
    assert reg.get("tracks/v/gain_db") == pytest.approx(12 + 80 * np.log10(0.5))


@pytest.mark.parametrize("deferred", [False, True])
def test_a_failing_observer_breaks_neither_the_setter_nor_the_others(caplog, deferred):
    reg = make_registry()
    before, after = [], []

    def broken(change) -> None:
        raise ConnectionError("controller unplugged")

    reg.observe(before.append)
    reg.observe(broken)
    reg.observe(after.append)
    with caplog.at_level("WARNING", logger="host.registry"):
        if deferred:
            reg.set_deferred(reg.param("tracks/v/gain_db"), -4.0)
            assert reg.dispatch_pending() == 1
        else:
            reg.set("tracks/v/gain_db", -4.0)
    assert reg.get("tracks/v/gain_db") == -4.0
    assert [c.value for c in before] == [c.value for c in after] == [-4.0]
    assert any("tracks/v/gain_db" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_session_observers_can_skip_their_own_changes(write_audio, write_session):
    write_audio("hi.wav", tone(1000, seconds=0.1))
    write_audio("lo.wav", tone(300, seconds=0.1))
    session = host.load_session(write_session(EDITED))
    seen = []
    session.observe(seen.append, "tracks/*/gain_db", skip_source="midi:x-touch")
    session.set("tracks/right/gain_db", -2, source="midi:x-touch")
    session.set("tracks/right/gain_db", -3, source="osc:ipad")
    assert [(c.value, c.source) for c in seen] == [(-3.0, "osc:ipad")]


def test_engine_side_changes_are_delivered_by_the_control_thread():
    reg = make_registry()
    seen = []
    reg.observe(lambda change: seen.append((change.source, threading.current_thread().name)))
    param = reg.param("tracks/v/gain_db")
    reg.set_deferred(param, -10.0)
    assert seen == [] and reg.get("tracks/v/gain_db") == -10.0
    worker = threading.Thread(target=reg.dispatch_pending, name="control")
    worker.start()
    worker.join()
    assert seen == [("automation", "control")]


def test_engine_side_writes_allocate_nothing_and_coalesce():
    import tracemalloc

    reg = make_registry()
    seen = []
    reg.observe(seen.append)
    param = reg.param("tracks/v/gain_db")
    reg.set_deferred(param, 0.0)  # first call: any lazy set-up happens outside the measurement
    values = [float(-i % 120) for i in range(20_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for value in values:
            reg.set_deferred(param, value)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1024  # a queue of 20 000 changes would hold megabytes
    assert reg.pending_count == 1
    assert reg.dispatch_pending() == 1
    assert [(c.address, c.value, c.source) for c in seen] == [("tracks/v/gain_db", values[-1], "automation")]


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "PCM_32"), ("WAV", "FLOAT"),
                                         ("WAV", "DOUBLE"), ("WAV", "PCM_U8"), ("AIFF", "PCM_16"),
                                         ("AIFF", "PCM_24"), ("FLAC", "PCM_16"), ("FLAC", "PCM_24")])
def test_file_sources_read_the_values_libsndfile_reads(tmp_path, fmt, subtype, channels):
    """The fast native-sample read gives float64 identical to libsndfile's own, also after a rewind."""
    import soundfile as sf

    from host.audio_io import FileSource, probe

    path = tmp_path / f"x.{fmt.lower()}"
    audio = np.clip(np.random.default_rng(5).normal(0.0, 0.4, (30_000, channels)), -1.0, 1.0)
    audio[:2] = [[1.0] * channels, [-1.0] * channels]  # full scale both ways
    sf.write(path, audio, 48000, subtype=subtype, format=fmt)
    expected = sf.read(path, dtype="float64", always_2d=True)[0].T
    source = FileSource(probe(path), 48000)
    for _ in range(2):
        blocks = []
        for _ in range(8):  # 8 x 4096 runs past the end: the tail must be zeros
            block = np.full((channels, 4096), np.nan)
            got = source.read(block)
            assert not block[:, got:].any()
            blocks.append(block[:, :got])
        np.testing.assert_array_equal(np.concatenate(blocks, axis=1), expected)
        source.seek(0)
    source.close()


@pytest.mark.parametrize("frames", [1, 4096, 100_000])
def test_write_behind_writes_what_the_writer_writes(tmp_path, frames):
    """Blocks queued for the writer thread land in order, whole, and equal a direct write."""
    from host.audio_io import AtomicWriter, WriteBehind
    from tests.conftest import read_mix as read

    audio = np.random.default_rng(9).uniform(-0.5, 0.5, (2, 300_000))
    direct = AtomicWriter(tmp_path / "direct.wav", 48000, 2, "wav", "float", dither=False)
    behind = WriteBehind(AtomicWriter(tmp_path / "behind.wav", 48000, 2, "wav", "float", dither=False),
                         chunk_frames=65536)
    block = np.empty((2, frames))
    for start in range(0, audio.shape[1], frames):
        part = audio[:, start:start + frames]
        direct.write(part)
        block[:, :part.shape[1]] = part  # reused at once, as the engine reuses its master block
        behind.write(block[:, :part.shape[1]])
    behind.finish()
    direct.commit()
    behind.writer.commit()
    np.testing.assert_array_equal(read(tmp_path / "behind.wav"), read(tmp_path / "direct.wav"))
    assert read(tmp_path / "behind.wav").shape == (300_000, 2)


def test_write_behind_raises_the_threads_failure(tmp_path):
    from host.audio_io import AtomicWriter, WriteBehind

    writer = AtomicWriter(tmp_path / "x.wav", 48000, 2, "wav", "float", dither=False)
    writer._file.close()  # every write now fails, in the writer thread
    behind = WriteBehind(writer, chunk_frames=1024)
    with pytest.raises(RuntimeError, match="closed"):
        for _ in range(100):
            behind.write(np.zeros((2, 1024)))
        behind.finish()
    behind.stop()
    writer.abort()
    assert not list(tmp_path.iterdir())
