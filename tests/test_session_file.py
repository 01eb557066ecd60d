"""Session files: round trip, clear errors with file:line and did-you-mean, fuzzing never tracebacks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import host
from host.cli import main
from tests.conftest import read_mix, tone

BASE = """\
# The mixer's session: comments must survive a save.
session:
  name: Round trip   # trailing comment
  sample_rate: 48000
tracks:
  vocals:
    source: v.wav
    gain_db: -4.0   # sits on top
    pan: 0.1
    chain:
      - {type: gain, id: trim, params: {gain_db: -1}}
  bass:
    source: b.wav
buses:
  verb:
    gain_db: -6
outputs:
  mixdown: out/mix.wav
"""


@pytest.fixture
def stems(write_audio):
    write_audio("v.wav", tone(440, channels=1))
    write_audio("b.wav", tone(110, channels=2))


def test_save_round_trip_keeps_comments_and_order(write_session, stems, tmp_path):
    path = write_session(BASE)
    session = host.load_session(path)
    session.set("tracks/vocals/gain_db", -3)
    session.set("tracks/vocals/trim/gain_db", -2.5)
    session.set("tracks/bass/mute", True)
    saved = session.save(tmp_path / "saved.yaml")
    text = saved.read_text()
    for comment in ("# The mixer's session", "# trailing comment", "# sits on top"):
        assert comment in text
    keys = [line.split(":")[0].strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert keys.index("session") < keys.index("tracks") < keys.index("buses") < keys.index("outputs")
    assert text.index("vocals") < text.index("bass")
    again = host.load_session(saved)
    assert again.get("tracks/vocals/gain_db") == -3
    assert again.get("tracks/vocals/trim/gain_db") == -2.5
    assert again.get("tracks/bass/mute") is True
    # unchanged lines are byte-identical
    assert "    pan: 0.1\n" in text



def test_loading_a_file_again_gives_a_session_of_its_own(write_session, stems, tmp_path):
    """Parsed documents are reused by their text: a change to one session reaches neither the next
    load nor its save, and an edited file is read afresh."""
    path = write_session(BASE)
    first = host.load_session(path)
    first.set("tracks/vocals/gain_db", -7)
    second = host.load_session(path)
    assert second.get("tracks/vocals/gain_db") != -7
    second.save(tmp_path / "second.yaml")
    assert host.load_session(tmp_path / "second.yaml").get("tracks/vocals/gain_db") != -7
    assert "# The mixer's session" in (tmp_path / "second.yaml").read_text()
    path.write_text(path.read_text().replace("vocals:", "lead:"))
    assert "tracks/lead/gain_db" in host.load_session(path).registry


@pytest.mark.parametrize("source,saved", [("api", True), ("midi:x-touch", True), ("engine", False),
                                           ("automation", False)])
def test_save_keeps_what_the_user_set_not_what_the_engine_did(write_session, stems, tmp_path, source, saved):
    """A safety mute or automation playback is not part of the mix the user saves."""
    session = host.load_session(write_session(BASE))
    mute = session.registry.param("tracks/bass/mute")
    if source in ("engine", "automation"):
        session.registry.set_deferred(mute, 1.0, source=source)
        assert session.registry.dispatch_pending() == 1
    else:
        session.set("tracks/bass/mute", True, source=source)
    assert session.get("tracks/bass/mute") is True
    again = host.load_session(session.save(tmp_path / "saved.yaml"))
    assert again.get("tracks/bass/mute") is saved


ERRORS = [
    # (replace this, with this, expected in the message)
    ("    gain_db: -4.0", "    gian_db: -4.0", ['unknown key \'gian_db\'', 'did you mean "gain_db"', "session.yaml:8"]),
    ("{type: gain,", "{type: gian,", ["unknown value 'gian'", 'did you mean "gain"', "session.yaml:11"]),
    ("params: {gain_db: -1}", "params: {gain: -1}", ["unknown key 'gain'", 'did you mean "gain_db"']),
    ("    gain_db: -4.0", "    gain_db: loud", ["expected a number", "'loud'", "session.yaml:8"]),
    ("    gain_db: -4.0", "    gain_db: 90", ["above the maximum 24"]),
    ("  mixdown: out/mix.wav", "  mixdown: out/mix.wav\n  format: mp3", ["unknown value 'mp3'", "wav"]),
    ("    source: b.wav", "    source: b.wav\n    output: verbb", ["output 'verbb' is not a bus", 'did you mean "verb"']),
    ("    source: b.wav", "    source: b.wav\n    sends: {verbb: {level_db: -3}}", ["unknown bus 'verbb'", 'did you mean "verb"']),
    ("session:\n", "sessoin:\n", ["unknown key 'sessoin'", 'did you mean "session"', "session.yaml:2"]),
    ("    pan: 0.1", "    pan: 0.1\n   bad indent: [", ["invalid YAML", "session.yaml:"]),
    ("  verb:\n    gain_db: -6", "  verb:\n    gain_db: -6\n    output: verb", ["cannot output to itself"]),
    ("{type: gain, id: trim,", "{type: gain, id: sends,", ["reserved"]),
]


@pytest.mark.parametrize("old,new,expected", ERRORS)
def test_bad_session_gives_one_clear_message(write_session, stems, capsys, old, new, expected):
    assert old in BASE
    path = write_session(BASE.replace(old, new, 1))
    assert main(["validate", str(path)]) == 2
    message = capsys.readouterr().err
    assert "Traceback" not in message
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize("problem,expected", [
    ("missing", ["audio file not found", "session.yaml:7"]),
    ("empty", ["zero length", "session.yaml:7"]),
    ("nan", ["NaN or Inf at 0.500 s", "session.yaml:7"]),
    ("channels", ["3 channels", "mono or stereo", "session.yaml:7"]),
])
@pytest.mark.parametrize("command", ["validate", "render"])
def test_bad_audio_is_reported_not_raised(write_session, write_audio, capsys, problem, expected, command):
    write_audio("b.wav", tone(110, channels=2))
    if problem == "empty":
        write_audio("v.wav", np.zeros((0, 1)))
    elif problem == "nan":
        data = tone(440)
        data[24000] = np.nan
        write_audio("v.wav", data)
    elif problem == "channels":
        write_audio("v.wav", np.zeros((100, 3)))
    path = write_session(BASE)
    assert main([command, str(path)]) == 2
    message = capsys.readouterr().err
    assert "Traceback" not in message
    for part in expected:
        assert part in message, message
    assert not (path.parent / "out" / "mix.wav").exists()


def test_other_sample_rate_is_resampled(write_session, write_audio):
    write_audio("v.wav", tone(1000, seconds=2.0, sr=44100), sr=44100)
    write_audio("b.wav", tone(110, channels=2))
    path = write_session(BASE.replace("  bass:\n    source: b.wav\n", "  bass:\n    source: b.wav\n    mute: true\n"))
    host.load_session(path).render()
    import soundfile as sf

    mix, rate = sf.read(path.parent / "out" / "mix.wav")
    assert rate == 48000 and abs(len(mix) - 96000) <= 1
    left = mix[4800:-4800, 0]
    spectrum = np.abs(np.fft.rfft(left * np.hanning(len(left))))
    peak_hz = np.argmax(spectrum) * 48000 / len(left)
    assert peak_hz == pytest.approx(1000, abs=2)


def test_stems_are_written_at_the_output_rate_like_the_mix(write_session, stems):
    import soundfile as sf

    path = write_session(BASE.replace("  mixdown: out/mix.wav\n",
                                      "  mixdown: out/mix.wav\n  stems: out/stems\n  sample_rate: 44100\n"
                                      "  bit_depth: float\n"))
    host.load_session(path).render()
    mix, mix_rate = sf.read(path.parent / "out" / "mix.wav")
    parts = {name: sf.read(path.parent / "out" / "stems" / f"{name}.wav") for name in ("vocals", "bass")}
    assert mix_rate == 44100 and {rate for _, rate in parts.values()} == {44100}
    assert {len(data) for data, _ in parts.values()} == {len(mix)} and abs(len(mix) - 44100) <= 1
    total = parts["vocals"][0] + parts["bass"][0]
    assert np.max(np.abs(total - mix)) < 1e-6  # the stems still sum to the mix, sample for sample
    vocal = parts["vocals"][0][4410:-4410, 0]
    spectrum = np.abs(np.fft.rfft(vocal * np.hanning(len(vocal))))
    assert np.argmax(spectrum) * 44100 / len(vocal) == pytest.approx(440, abs=2)


# -- fuzzing: whatever the file says, the CLI answers with 0 or 2, never a traceback -----------
yaml_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_subnormal=False),  # loaded plugins set flush-to-zero
    st.text(max_size=12), st.sampled_from(["gain", "verb", "master", "-3db", "v.wav", "linear", "[", "{"]),
)
keys = st.sampled_from(["session", "tracks", "buses", "master", "outputs", "automation", "chain", "type",
                        "params", "gain_db", "pan", "sends", "source", "points", "vocals", "verb", "x y"])
values = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.dictionaries(keys, values, max_size=5), mutate=st.integers(0, len(BASE) - 1),
       junk=st.text(max_size=5))
def test_fuzzed_sessions_never_traceback(tmp_path, stems, document, mutate, junk):
    import json

    for index, text in enumerate([json.dumps(document, default=str), BASE[:mutate] + junk + BASE[mutate:]]):
        path = tmp_path / f"fuzz{index}.yaml"
        path.write_text(text)
        assert main(["validate", str(path)]) in (0, 2)


CHAINED = """\
tracks:
  vocals:
    source: v.wav
    chain: vocal-strip        # the shipped chain file
  bass:
    source: b.wav
    chain:
      - {type: gain, id: trim}
      - {chain: vocal-strip, params: {comp: {threshold_db: -30}}}
"""


def test_chain_files_by_name_with_overrides_and_save(write_session, stems, tmp_path):
    session = host.load_session(write_session(CHAINED))
    assert session.get("tracks/vocals/comp/threshold_db") == -20
    assert session.get("tracks/bass/comp/threshold_db") == -30
    assert "tracks/bass/trim/gain_db" in session.registry
    session.set("tracks/vocals/comp/ratio", 5)
    session.set("tracks/vocals/deess/bypass", True)
    again = host.load_session(session.save(tmp_path / "saved.yaml"))
    assert again.get("tracks/vocals/comp/ratio") == 5
    assert again.get("tracks/vocals/deess/bypass") is True
    assert again.get("tracks/vocals/comp/threshold_db") == -20
    assert "# the shipped chain file" in (tmp_path / "saved.yaml").read_text()


@pytest.mark.parametrize("old,new,expected", [
    ("chain: vocal-strip ", "chain: vocal-strp ", ["no chain named 'vocal-strp'", 'did you mean "vocal-strip"', "session.yaml:4"]),
    ("{comp: {threshold_db", "{compp: {threshold_db", ["no stage 'compp'", 'did you mean "comp"']),
    ("{threshold_db: -30}", "{threshhold_db: -30}", ["no parameter 'threshhold_db'", 'did you mean "threshold_db"']),
])
def test_chain_reference_errors(write_session, stems, capsys, old, new, expected):
    path = write_session(CHAINED.replace(old, new))
    assert main(["validate", str(path)]) == 2
    message = capsys.readouterr().err
    for part in expected:
        assert part in message, message


def test_output_sample_rate_and_format(write_session, stems):
    import soundfile as sf

    path = write_session(BASE.replace("  mixdown: out/mix.wav", "  mixdown: out/mix.flac\n  sample_rate: 44100\n  bit_depth: 16"))
    result = host.load_session(path).render()
    info = sf.info(result.outputs[0])
    assert (info.samplerate, info.format, info.subtype) == (44100, "FLAC", "PCM_16")
    assert abs(info.frames - 44100) <= 2
    mix, _ = sf.read(result.outputs[0])
    left = mix[4410:-4410, 0]
    spectrum = np.abs(np.fft.rfft(left * np.hanning(len(left))))
    bin_hz = 44100 / len(left)
    for low, high, tone_hz in [(50, 250, 110), (300, 600, 440)]:  # bass and vocal, not shifted in pitch
        band = slice(int(low / bin_hz), int(high / bin_hz))
        peak = np.argmax(spectrum[band]) + band.start
        assert peak * bin_hz == pytest.approx(tone_hz, abs=2)
        assert spectrum[peak] > 1000 * np.median(spectrum)


MOVABLE = """\
session:
  references: [refs/ref.wav, {path: refs/ref.wav, note: low end}]
tracks:
  vocals:
    source: stems/v.wav       # stays the same file wherever the copy goes
    chain:
      - {chain: chains/trim.yaml}
      - {chain: vocal-strip}
  bass:
    source: stems/b.wav
    chain: house              # found in this session's chains/ folder
outputs: {mixdown: out/mix.wav, bit_depth: float}
"""


def test_save_into_another_folder_keeps_relative_paths_pointing_at_the_same_files(write_session, write_audio,
                                                                                   tmp_path):
    write_audio("stems/v.wav", tone(440, channels=1))
    write_audio("stems/b.wav", tone(110, channels=2))
    write_audio("refs/ref.wav", tone(220))
    (tmp_path / "chains").mkdir()
    (tmp_path / "chains" / "trim.yaml").write_text("chain: [{type: gain, id: trim, params: {gain_db: -2}}]\n")
    (tmp_path / "chains" / "house.yaml").write_text("chain: [{type: gain, id: house, params: {gain_db: -5}}]\n")
    session = host.load_session(write_session(MOVABLE))
    session.set("tracks/bass/house/gain_db", -7)
    copy = session.save(tmp_path / "versions" / "v2" / "copy.yaml")
    text = copy.read_text()
    for moved in ("source: ../../stems/v.wav", "source: ../../stems/b.wav", "chain: ../../chains/trim.yaml",
                  "chain: ../../chains/house.yaml", "[../../refs/ref.wav, {path: ../../refs/ref.wav",
                  "{chain: vocal-strip}", "mixdown: out/mix.wav", "# stays the same file"):
        assert moved in text, text
    again = host.load_session(copy)
    assert again.get("tracks/bass/house/gain_db") == -7
    original = session.render(tmp_path / "a").outputs[0]
    copied = again.render(tmp_path / "b").outputs[0]
    assert np.array_equal(read_mix(original), read_mix(copied)) and np.abs(read_mix(original)).max() > 0.01
    # the loaded session itself still lives in its own folder
    mine = session.save().read_text()
    assert "source: stems/v.wav" in mine and "chain: chains/trim.yaml" in mine and "../" not in mine
