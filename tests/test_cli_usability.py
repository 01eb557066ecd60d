"""The command line as the README writes it: options, messages and the quick start's install."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from host.cli import main
from host.loudness.conformance import FILE_TOLERANCE_LU, TOLERANCE_LU
from host.loudness.meter import measure_file
from tests.conftest import SR

ROOT = Path(__file__).resolve().parent.parent


def music(seconds: float = 4.0) -> np.ndarray:
    """A stereo chord with a slow swell: a programme with some loudness movement."""
    t = np.arange(int(seconds * SR)) / SR
    chord = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((220.0, 277.2, 329.6, 440.0)))
    x = 0.2 * chord * (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t))
    return np.stack([x, 0.9 * x], axis=1)


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """``mixhost ARGS`` in a fresh interpreter, as a user runs it."""
    code = "import sys; from host.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env)


# --- the quick start's venv ---------------------------------------------------------------


def _extra_requirements(extra: str) -> set[str]:
    marker = re.compile(rf"extra\s*==\s*['\"]{extra}['\"]")
    return {re.split(r"[<>=;\s\[]", r, maxsplit=1)[0].lower()
            for r in metadata.requires("mixhost") or [] if marker.search(r)}


def test_make_demo_installs_the_extras_the_readme_commands_need(tmp_path):
    """`live --audio jack|sounddevice` and `--html` need the live and plots extras in the demo venv."""
    done = subprocess.run(["make", "-n", "-B", "demo", f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    installs = [line for line in done.stdout.splitlines() if "pip install" in line and " -e " in line]
    assert installs, done.stdout
    extras = re.search(r"\.\[([a-z,]+)\]", installs[0])
    assert extras is not None, installs[0]
    wanted = set(extras.group(1).split(","))
    assert {"live", "plots"} <= wanted
    needed = {"jack-client", "sounddevice", "python-rtmidi", "matplotlib"}
    assert needed <= set().union(*(_extra_requirements(e) for e in wanted))
    # and the slim install stays slim: none of them is a plain dependency
    plain = {re.split(r"[<>=;\s\[]", r, maxsplit=1)[0].lower()
             for r in metadata.requires("mixhost") or [] if "extra" not in r}
    assert not needed & plain


# --- options -------------------------------------------------------------------------------


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"mixhost {metadata.version('mixhost')}"


@pytest.mark.parametrize("argv", [["-v", "render"], ["render", "-v"], ["render", "--verbose"]])
def test_verbose_is_accepted_before_and_after_the_command(write_audio, write_session, argv):
    write_audio("a.wav", music(1.0))
    write_audio("b.wav", music(1.0))
    session = write_session("tracks: {a: {source: a.wav}, b: {source: b.wav}}\n")
    done = run_cli(*argv, str(session), "-j", "5", "--no-progress")
    assert done.returncode == 0, done.stderr
    # an INFO line: shown only at -v
    assert "mixhost: rendering on 2 processes: one process per track at most (2 tracks)" in done.stderr


def test_jobs_render_stems_on_several_processes_with_the_same_audio(write_audio, write_session, capsys):
    """`-j` used to fall back to one process whenever stems were written; the workers now hand
    their tracks' post-fader signals back for the stems."""
    t = np.arange(2 * SR) / SR
    for k, name in enumerate(("a", "b", "c")):
        write_audio(f"{name}.wav", music(2.0) * (0.5 + 0.2 * k) * np.sin(2 * np.pi * (k + 1) * t)[:, None])
    session = write_session(
        "tracks:\n"
        "  a: {source: a.wav, pan: -0.5, chain: [{type: compressor, id: c, lookahead_ms: 3}]}\n"
        "  b: {source: b.wav, sends: {verb: {level_db: -6}}}\n"
        "  c: {source: c.wav, chain: [{type: delay, id: d, params: {time_ms: 120, mix_pct: 40}}]}\n"
        "buses: {verb: {chain: [{type: reverb, id: r, params: {mix_pct: 100}}]}}\n"
        "outputs: {mixdown: out/mix.wav, stems: out/stems, bit_depth: float, tail_s: 0.5}\n")
    files = {}
    for jobs in ("1", "3"):
        assert main(["render", str(session), "-j", jobs, "-o", str(session.parent / f"j{jobs}"), "--no-progress"]) == 0
        summary = " ".join(capsys.readouterr().out.replace("│", " ").split())
        assert f"workers {jobs}" in summary, summary
        folder = session.parent / f"j{jobs}"
        files[jobs] = {p.relative_to(folder): sf.read(p)[0] for p in sorted(folder.rglob("*.wav"))}
    assert sorted(map(str, files["1"])) == ["mix.wav", "stems/a.wav", "stems/b.wav", "stems/c.wav"]
    assert files["1"].keys() == files["3"].keys()
    for name, audio in files["1"].items():
        assert np.max(np.abs(audio)) > 0.01, name
        assert np.array_equal(audio, files["3"][name]), name


@pytest.mark.parametrize("argv", [
    ["master", "{mix}", "-o", "{out}", "--target", "-9/-1"],
    ["master", "{mix}", "-o", "{out}", "--target", "-9", "--bit-depth", "float"],
    ["master", "{mix}", "--target", "-12.5/-1.5", "-o", "{out}"],
])
def test_master_takes_a_custom_target_as_the_readme_writes_it(write_audio, tmp_path, argv):
    mix = write_audio("mix.wav", music())
    out = tmp_path / "master.wav"
    done = run_cli(*[a.format(mix=mix, out=out) for a in argv])
    assert done.returncode == 0, done.stderr
    lufs, ceiling = (float(v) for v in (argv[argv.index("--target") + 1] + "/-1").split("/")[:2])
    written = measure_file(out)
    assert abs(written.integrated_lufs - lufs) <= FILE_TOLERANCE_LU
    assert written.true_peak_dbtp <= ceiling + 1e-6


@pytest.mark.parametrize("command", ["analyze", "feedback"])
def test_analyze_and_feedback_take_a_custom_target(write_audio, capsys, command):
    mix = write_audio("mix.wav", music())
    assert main([command, str(mix), "--target", "-9/-1", "--json"]) == 0
    text = capsys.readouterr().out
    if command == "feedback":
        assert json.loads(text)["target"]["integrated_lufs"] == -9.0


def test_a_target_option_without_its_value_still_says_so(write_audio, capsys):
    mix = write_audio("mix.wav", music(1.0))
    with pytest.raises(SystemExit) as stop:
        main(["analyze", str(mix), "--target", "--json"])
    assert stop.value.code == 2
    assert "--target: expected one argument" in capsys.readouterr().err


# --- messages ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "says"), [
    ("nope", "expected one of: drum-bus, master-broadcast, master-loud, master-streaming, vocal-strip"),
    ("master-lod", 'did you mean "master-loud"?'),
])
def test_master_with_an_unknown_chain_names_the_shipped_chains(write_audio, tmp_path, name, says):
    mix = write_audio("mix.wav", music(1.0))
    (tmp_path / "session.yaml").write_text("tracks: {a: {source: mix.wav}}\n")  # not a chain
    done = subprocess.run([sys.executable, "-c", "import sys; from host.cli import main; sys.exit(main())",
                           "master", str(mix), "-o", str(tmp_path / "out.wav"), "--chain", name],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert f"error: no chain named '{name}'; {says}" in done.stderr
    assert "master-chain" not in done.stderr and "mixhost-master-" not in done.stderr
    assert "session" not in done.stderr.split("hint:")[0]
    assert f"looked up in {tmp_path}" in done.stderr and str(ROOT / "chains") in done.stderr
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize(("entry", "says"), [
    ("{type: compressor, id: comp, threshold_db: -20}",
     "'threshold_db' is a parameter of this stage: move it into params: (params: {threshold_db: ...})"),
    ("{type: compressor, id: comp, ratoi: 3}",
     "unknown key 'ratoi'; did you mean the parameter 'ratio'? it goes under params:"),
    ("{plugin: MVerb, id: room, mix: 40}",
     "unknown key 'mix'; if it is one of the stage's parameters, move it into params: (params: {mix: ...})"),
    ("{type: compressor, id: comp, sidechian: x}", "unknown key 'sidechian'; did you mean \"sidechain\"?"),
])
def test_a_stage_parameter_beside_params_says_move_it(write_audio, write_session, capsys, entry, says):
    write_audio("v.wav", music(1.0))
    session = write_session(f"tracks:\n  v:\n    source: v.wav\n    chain:\n      - {entry}\n")
    assert main(["validate", str(session)]) == 2
    err = capsys.readouterr().err
    assert f"{session}:5:" in err and "(at tracks.v.chain[0])" in err
    assert says in err


def test_a_missing_midi_file_is_named(write_session, capsys):
    session = write_session("tracks:\n  keys:\n    instrument: {plugin: Kars, midi: songs/missing.mid}\n")
    assert main(["validate", str(session)]) == 2
    err = capsys.readouterr().err
    assert f"{session}:3:" in err
    assert f"MIDI file not found: {session.parent / 'songs' / 'missing.mid'}" in err


def test_a_midi_file_without_the_named_track_is_named(write_session, tmp_path, capsys):
    song = mido.MidiFile()
    song.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name="piano")]))
    song.save(str(tmp_path / "song.mid"))
    session = write_session("tracks:\n  keys:\n    instrument: {plugin: Kars, midi: song.mid, track: pian}\n")
    assert main(["validate", str(session)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'song.mid'}: no track named 'pian'; did you mean \"piano\"?" in err


# --- the README and --help agree with the code ------------------------------------------------


def test_master_tolerance_is_the_same_in_the_readme_the_help_and_the_code(capsys):
    with pytest.raises(SystemExit):
        main(["master", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    readme_row = next(line for line in (ROOT / "README.md").read_text().splitlines()
                      if line.startswith("| `mixhost master"))
    for text in (help_text, readme_row):
        assert f"within {TOLERANCE_LU:g} LU" in text
        assert f"{FILE_TOLERANCE_LU:g} LU" in text


@pytest.mark.parametrize(("block", "says"), [
    (1000, "1000 is not a multiple of 64"),
    (32, "32 is below the minimum 64"),
])
def test_a_block_size_off_the_64_sample_grid_is_refused(write_audio, write_session, capsys, block, says):
    write_audio("v.wav", music(1.0))
    session = write_session(f"session: {{block_size: {block}}}\ntracks: {{v: {{source: v.wav}}}}\n")
    assert main(["validate", str(session)]) == 2
    err = capsys.readouterr().err
    assert f"{session}:1:" in err and "(at session.block_size)" in err and says in err
    if block == 1000:
        assert err.rstrip().endswith("use 960 or 1024")


# --- the README's examples run as written -------------------------------------------------------


def _readme_block(after: str, language: str = "yaml") -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(after):]
    start = section.index(f"```{language}\n") + len(language) + 4
    return section[start:section.index("```", start)]


def test_the_readme_documents_every_album_key_and_its_example_runs(tmp_path, capsys):
    from host.analysis.album import ALBUM_SCHEMA

    example = _readme_block("## Album files")
    section = (ROOT / "README.md").read_text().split("## Album files")[1].split("\n## ")[0]
    keys = set(ALBUM_SCHEMA["properties"]["album"]["properties"])
    keys |= set(ALBUM_SCHEMA["properties"]["tracks"]["items"]["properties"])
    assert not {k for k in keys if f"{k}:" not in example and f"`{k}`" not in section}
    import soundfile as sf

    (tmp_path / "mixes").mkdir()
    (tmp_path / "songs").mkdir()
    for name, level in (("mixes/01.wav", 1.0), ("mixes/02.wav", 0.5), ("songs/lights.wav", 0.7)):
        sf.write(tmp_path / name, level * music(4.0), SR, subtype="FLOAT")
    (tmp_path / "songs" / "lights.yaml").write_text("tracks: {a: {source: lights.wav}}\n")
    (tmp_path / "album.yaml").write_text(example)
    assert main(["album", str(tmp_path / "album.yaml")]) == 0, capsys.readouterr().err
    out = tmp_path / "out" / "album"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["01 Intro.flac", "02 Motorway.flac", "03 City Lights.flac",
                     "Night Drive.cue", "Night Drive.flac"]
    # 4 s + 2 s gap + 4 s, crossfaded 3 s into the last 4 s (whose own gap_s is not used)
    assert sf.info(str(out / "Night Drive.flac")).duration == pytest.approx(4 + 2 + 4 + 4 - 3, abs=0.01)
    cue = (out / "Night Drive.cue").read_text()
    assert 'PERFORMER "The Synths"' in cue and "ISRC GBAAA2600001" in cue and 'TITLE "City Lights"' in cue

