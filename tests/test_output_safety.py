"""Outputs are atomic: refused over an input, and nothing partial after a failure or interrupt."""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import host
from host.atomic import HOST
from host.cli import main
from host.session.schema import session_schema
from host.stages import Stage, register_stage
from tests.conftest import tone


@register_stage
class Exploding(Stage):
    """Test stage that fails after a number of blocks."""

    type_name = "test_exploding"
    PARAMS: ClassVar[tuple] = ()
    OPTIONS: ClassVar[dict] = {"after": {"type": "integer"}}

    def _prepare(self) -> None:
        self.blocks = 0

    def _process(self, block: np.ndarray) -> np.ndarray:
        self.blocks += 1
        if self.blocks > int(self.options.get("after", 0)):
            raise ValueError("boom")
        return block


PARENT_PID = os.getpid()


@register_stage
class Quad(Stage):
    """Test stage with a four-channel output."""

    type_name = "test_quad"
    PARAMS: ClassVar[tuple] = ()

    def output_channels(self, input_channels: int) -> int:
        return 4

    def _process(self, block: np.ndarray) -> np.ndarray:
        return np.repeat(block[:1], 4, axis=0)


@register_stage
class FailsInWorkers(Stage):
    """Test stage that fails to process in a render worker process only (a bug there, not bad input)."""

    type_name = "test_fails_in_workers"
    PARAMS: ClassVar[tuple] = ()

    def _process(self, block: np.ndarray) -> np.ndarray:
        if os.getpid() != PARENT_PID:
            raise RuntimeError("worker-only failure")
        return block


session_schema.cache_clear()

SESSION = """
tracks:
  a:
    source: a.wav
    chain: {chain}
outputs: {{mixdown: {mixdown}}}
"""


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix in (".partial", ".tmp"))


def test_output_equal_to_an_input_is_refused(write_audio, write_session, capsys):
    source = write_audio("a.wav", tone(seconds=0.5))
    before = source.read_bytes()
    path = write_session(SESSION.format(chain="[]", mixdown="a.wav"))
    assert main(["render", str(path)]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert source.read_bytes() == before


@pytest.mark.parametrize("source,outputs,expected", [
    ("a.wav", "{mixdown: a.wav}", "is also an input"),
    ("a.wav", "{mixdown: out/mix.wav, stems: .}", "is also an input"),
    ("stems/a.wav", "{mixdown: mix.wav, stems: stems}", "is also an input"),
    ("a.wav", "{mixdown: stems/a.wav, stems: stems}", "two outputs would both be written"),
])
def test_outputs_never_overwrite_an_input_or_each_other(write_audio, write_session, capsys, source, outputs,
                                                         expected):
    written = write_audio(source, tone(seconds=0.5))
    before = written.read_bytes()
    path = write_session(f"tracks:\n  a: {{source: {source}}}\noutputs: {outputs}\n")
    assert main(["render", str(path)]) == 2
    message = capsys.readouterr().err
    assert expected in message and "hint:" in message and "Traceback" not in message
    assert written.read_bytes() == before
    assert leftovers(written.parent) == []


def test_failed_render_leaves_no_file_and_names_the_stage(write_audio, write_session, capsys):
    write_audio("a.wav", tone(seconds=3.0))
    path = write_session(SESSION.format(chain="[{type: test_exploding, id: bomb, after: 3}]", mixdown="mix.wav"))
    assert main(["render", str(path)]) == 1
    assert "tracks/a/bomb" in capsys.readouterr().err
    assert not (path.parent / "mix.wav").exists()
    assert leftovers(path.parent) == []


def test_existing_output_survives_a_failed_render(write_audio, write_session):
    write_audio("a.wav", tone(seconds=3.0))
    old = write_audio("mix.wav", tone(seconds=0.1))
    before = old.read_bytes()
    path = write_session(SESSION.format(chain="[{type: test_exploding, after: 2}]", mixdown="mix.wav"))
    with pytest.raises(host.MixhostError):
        host.load_session(path).render()
    assert old.read_bytes() == before


def test_interrupted_render_leaves_nothing(write_audio, write_session):
    write_audio("a.wav", tone(seconds=5.0))
    path = write_session(SESSION.format(chain="[]", mixdown="mix.wav"))
    session = host.load_session(path)

    def interrupt(done: int, total: int) -> None:
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        session.render(progress=interrupt)
    assert not (path.parent / "mix.wav").exists()
    assert leftovers(path.parent) == []


def test_signal_to_a_rendering_process_leaves_nothing(write_audio, write_session):
    """A real `mixhost render` process, stopped by SIGTERM part-way."""
    write_audio("a.wav", tone(seconds=600.0, amp=0.1), subtype="PCM_16")
    path = write_session(SESSION.format(chain="[]", mixdown="mix.wav").replace("tracks:", "session: {block_size: 256}\ntracks:"))
    proc = subprocess.Popen([sys.executable, "-m", "host", "render", str(path), "--no-progress", "-j", "1"],
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    # wait until audio is being written (past start-up and any first-use compilation)
    while not any(p.suffix == ".partial" and p.stat().st_size > 1 << 20 for p in path.parent.iterdir()):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the render never started writing"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    assert not (path.parent / "mix.wav").exists()
    assert leftovers(path.parent) == []


def test_outputs_and_saved_sessions_are_not_private(write_audio, write_session, tmp_path):
    write_audio("a.wav", tone(seconds=0.2))
    path = write_session(SESSION.format(chain="[]", mixdown="mix.wav"))
    old = os.umask(0o022)
    try:
        session = host.load_session(path)
        mix = session.render().outputs[0]
        saved = session.save(tmp_path / "copy.yaml")
    finally:
        os.umask(old)
    assert mix.stat().st_mode & 0o777 == 0o644
    assert saved.stat().st_mode & 0o777 == 0o644


# -- failures a user can cause, or meet, end in a message and an exit code, never a traceback -----------
def test_unwritable_output_folder_is_an_output_error(write_audio, write_session, tmp_path, capsys, monkeypatch):
    write_audio("a.wav", tone(seconds=0.5))
    path = write_session(SESSION.format(chain="[]", mixdown="mix.wav"))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root may write anywhere: refuse as the OS refuses everyone else
        real = tempfile.mkstemp

        def mkstemp(*args, **kwargs):
            if Path(kwargs["dir"]) == locked:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(locked))
            return real(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    assert main(["render", str(path), "-o", str(locked)]) == 2
    message = capsys.readouterr().err
    assert f"cannot write into the folder {locked}" in message and "hint:" in message
    assert "Traceback" not in message
    assert list(locked.iterdir()) == []


def test_chain_ending_with_four_channels_names_the_stage(write_audio, write_session, capsys):
    write_audio("a.wav", tone(seconds=0.5))
    path = write_session(SESSION.format(chain="[{type: gain}, {type: test_quad, id: quad}]", mixdown="mix.wav"))
    assert main(["render", str(path)]) == 2
    message = capsys.readouterr().err
    assert "Traceback" not in message
    assert "session.yaml:4" in message and "tracks/a/quad" in message and "4 channels" in message, message
    assert not (path.parent / "mix.wav").exists()


def _chunk_fails_in_workers(graph, start, length, out, posts):
    raise RuntimeError("worker-only failure")


@pytest.mark.parametrize("where, expected", [
    ("stage", r"tracks/[ab]/test_fails_in_workers: the stage failed: worker-only failure"),
    ("engine", r"a render worker failed: RuntimeError: worker-only failure"),
])
def test_failed_render_worker_gives_a_clean_message(write_audio, write_session, capsys, caplog, monkeypatch,
                                                    where, expected):
    """A stage that raises in a worker reads as it would in one process; an engine bug there says so.

    Either way the user sees one line and ``-vv`` logs the worker's traceback.
    """
    write_audio("a.wav", tone(seconds=1.0))
    write_audio("b.wav", tone(seconds=1.0))
    chain = "[{type: test_fails_in_workers}]" if where == "stage" else "[]"
    path = write_session(f"tracks:\n  a: {{source: a.wav, chain: {chain}}}\n"
                         f"  b: {{source: b.wav, chain: {chain}}}\n"
                         "outputs: {mixdown: mix.wav}\n")  # whichever track the worker runs fails there
    if where == "engine":
        import host.engine.parallel as parallel

        monkeypatch.setattr(parallel, "_render_chunk", _chunk_fails_in_workers)  # forked workers inherit it
    with caplog.at_level(logging.DEBUG, logger="host.engine.parallel"):
        assert main(["render", str(path), "-j", "2", "--no-progress"]) == 1
    message = capsys.readouterr().err
    assert re.search(expected, message), message
    assert "Traceback" not in message
    assert any("Traceback" in r.getMessage() and "worker-only failure" in r.getMessage() for r in caplog.records)
    assert not (path.parent / "mix.wav").exists() and leftovers(path.parent) == []


@pytest.mark.parametrize("commit", [True, False])
def test_a_long_write_lands_whole_and_leaves_no_descriptor_open(tmp_path, commit):
    """Past the writeback interval the file still holds every frame; commit and abort close every descriptor."""
    import soundfile as sf

    from host.atomic import Writeback
    from host.audio_io import AtomicWriter

    frames = Writeback.WRITEBACK_FRAMES * 3 // 2
    x = np.random.default_rng(5).uniform(-0.5, 0.5, (2, frames)).astype(np.float32).astype(np.float64)
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    writer = AtomicWriter(tmp_path / "long.wav", 48000, 2, "wav", "float")
    for start in range(0, frames, 100_000):
        writer.write(x[:, start : start + 100_000])
    if commit:
        writer.commit()
        y, rate = sf.read(tmp_path / "long.wav", dtype="float64", always_2d=True)
        assert rate == 48000
        np.testing.assert_array_equal(y.T, x)
    else:
        writer.abort()
        assert list(tmp_path.iterdir()) == []
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before


# -- issue 18 §1: one guard for every command's every output ------------------------------------------
def digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.lru_cache(maxsize=16)
def _music(seconds: float, seed: int, level_db: float) -> np.ndarray:
    from host.analysis.signals import music

    return music(seconds, 48000, seed=seed, level_db=level_db).T


def write_music(path: Path, seconds: float = 3.0, seed: int = 1, level_db: float = -20.0) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _music(seconds, seed, level_db), 48000, subtype="PCM_24")
    return path


@pytest.fixture
def mix_folder(tmp_path: Path) -> Path:
    """A mix, a second version of it and the session that made it, in one folder."""
    write_music(tmp_path / "mix.wav", seed=1)
    write_music(tmp_path / "mix-v2.wav", seed=2)
    write_music(tmp_path / "a.wav", seed=3)
    (tmp_path / "session.yaml").write_text(
        "session: {notes: warm and wide}\ntracks:\n  a: {source: a.wav}\noutputs: {mixdown: mix.wav}\n")
    return tmp_path


# (argv with {mix}, {v2}, {session}, {out} placeholders, the input the output lands on)
REPORT_CASES = [
    (["feedback", "{mix}", "--session", "{session}", "--html", "{out}"], "session.yaml"),
    (["feedback", "{mix}", "--session", "{session}", "--md", "{out}"], "session.yaml"),
    (["feedback", "{mix}", "--html", "{out}"], "mix.wav"),
    (["feedback", "{mix}", "--md", "{out}"], "mix.wav"),
    (["feedback", "{mix}", "--reference", "{v2}", "--md", "{out}"], "mix-v2.wav"),
    (["feedback", "{mix}", "--session", "{session}", "--md", "{out}"], "a.wav"),  # a file the session names
    (["analyze", "{mix}", "--html", "{out}"], "mix.wav"),
    (["analyze", "{mix}", "{v2}", "--json", "--html", "{out}"], "mix-v2.wav"),
    (["analyze", "{mix}", "--session", "{session}", "--html", "{out}"], "session.yaml"),
    (["compare", "{mix}", "{v2}", "--html", "{out}"], "mix.wav"),
    (["compare", "{mix}", "{v2}", "--html", "{out}"], "mix-v2.wav"),
]


def _argv(template: list[str], folder: Path, out: Path) -> list[str]:
    names = {"mix": folder / "mix.wav", "v2": folder / "mix-v2.wav", "session": folder / "session.yaml", "out": out}
    return [part.format(**{k: str(v) for k, v in names.items()}) for part in template]


@pytest.mark.parametrize("how", ["same path", "another spelling", "symlink", "hard link"])
@pytest.mark.parametrize("template, victim", REPORT_CASES)
def test_a_report_never_replaces_an_input(mix_folder, capsys, template, victim, how):
    """Each report option, pointed at a file the command reads, is refused: exit 2, both paths
    named, the input's bytes unchanged, no report written anywhere."""
    target = mix_folder / victim
    out = {"same path": target,
           "another spelling": mix_folder / "sub" / ".." / victim,
           "symlink": mix_folder / "link.out",
           "hard link": mix_folder / "hard.out"}[how]
    if how == "another spelling":
        (mix_folder / "sub").mkdir()
    elif how == "symlink":
        out.symlink_to(target)
    elif how == "hard link":
        os.link(target, out)
    before = {p.name: digest(p) for p in mix_folder.iterdir() if p.is_file()}
    assert main(_argv(template, mix_folder, out)) == 2
    message = capsys.readouterr().err
    assert str(out) in message and str(target) in message, message
    assert "is also an input" in message and "hint:" in message and "Traceback" not in message
    assert {p.name: digest(p) for p in mix_folder.iterdir() if p.is_file()} == before
    assert leftovers(mix_folder) == []


def test_two_reports_on_one_file_are_refused(mix_folder, capsys):
    out = mix_folder / "report.txt"
    assert main(["feedback", str(mix_folder / "mix.wav"), "--md", str(out), "--html", str(out)]) == 2
    message = capsys.readouterr().err
    assert "two outputs would both be written to" in message and str(out) in message
    assert not out.exists()


@pytest.mark.parametrize("link", ["symlink", "hard link"])
@pytest.mark.parametrize("victim", ["a.wav", "session.yaml", "my-chain.yaml"])
def test_a_render_never_replaces_a_file_the_session_reads(tmp_path, capsys, link, victim):
    """The mixdown is another name for the source, the session file or its chain file."""
    write_music(tmp_path / "a.wav")
    (tmp_path / "my-chain.yaml").write_text("chain:\n  - {type: gain, params: {gain_db: -1}}\n")
    session = tmp_path / "session.yaml"
    session.write_text("tracks:\n  a: {source: a.wav, chain: my-chain.yaml}\noutputs: {mixdown: mix.wav}\n")
    if link == "symlink":
        (tmp_path / "mix.wav").symlink_to(tmp_path / victim)
    else:
        os.link(tmp_path / victim, tmp_path / "mix.wav")
    before = {p.name: digest(p) for p in tmp_path.iterdir() if p.is_file()}
    assert main(["render", str(session), "--no-progress"]) == 2
    message = capsys.readouterr().err
    assert "is also an input" in message and str(tmp_path / victim) in message, message
    assert str(tmp_path / "mix.wav") in message and "outputs.mixdown" in message, message
    assert {p.name: digest(p) for p in tmp_path.iterdir() if p.is_file()} == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("victim", ["input", "reference", "chain"])
def test_master_never_replaces_its_input_reference_or_chain(tmp_path, capsys, victim):
    write_music(tmp_path / "mix.wav", seed=1)
    write_music(tmp_path / "ref.wav", seed=2, level_db=-14)
    (tmp_path / "chain.yaml").write_text("chain:\n  - {type: gain, params: {gain_db: -1}}\n")
    target = {"input": "mix.wav", "reference": "ref.wav", "chain": "chain.yaml"}[victim]
    os.link(tmp_path / target, tmp_path / "out.wav")  # a hard link: another name, the same file
    before = {p.name: digest(p) for p in tmp_path.iterdir()}
    argv = ["master", str(tmp_path / "mix.wav"), "-o", str(tmp_path / "out.wav"), "--target", "spotify"]
    argv += {"reference": ["--reference", str(tmp_path / "ref.wav")],
             "chain": ["--chain", str(tmp_path / "chain.yaml")]}.get(victim, [])
    assert main(argv) == 2
    message = capsys.readouterr().err
    assert "a hard link to it" in message and str(tmp_path / "out.wav") in message and target in message
    assert {p.name: digest(p) for p in tmp_path.iterdir()} == before


ALBUM = """\
album: {{title: Night Drive, target: spotify, gap_s: 0.5, output: {output}, format: wav}}
tracks:
{tracks}"""


def _album(folder: Path, output: str, tracks: list[str], seconds: float = 3.0) -> Path:
    for i, line in enumerate(tracks, start=1):
        name = re.search(r"file: ([^,}]+)", line)
        if name and not (folder / name[1]).exists():
            write_music(folder / name[1], seconds=seconds, seed=i, level_db=-20 - i)
    path = folder / "album.yaml"
    path.write_text(ALBUM.format(output=output, tracks="".join(f"  - {t}\n" for t in tracks)))
    return path


@pytest.mark.parametrize("output, tracks, victim", [
    # the album's output folder holds its mixes, one named as the album names its master
    ("mixes", ["{file: mixes/01 One.wav, title: One}", "{file: mixes/2.wav, title: Two}"], "mixes/01 One.wav"),
    # the album file (named after the album's title) would replace a mix
    ("mixes", ["{file: mixes/Night Drive.wav, title: One}", "{file: mixes/2.wav, title: Two}"],
     "mixes/Night Drive.wav"),
    # the CUE sheet's name in the output folder is a symlink to the album YAML the album reads
    ("out", ["{file: 1.wav, title: One}", "{file: 2.wav, title: Two}"], "out/Night Drive.cue"),
])
def test_an_album_never_replaces_its_mixes(tmp_path, capsys, output, tracks, victim):
    album = _album(tmp_path, output, tracks)
    if victim.endswith(".cue"):
        (tmp_path / "out").mkdir()
        (tmp_path / victim).symlink_to(album)
    before = {p.relative_to(tmp_path): digest(p) for p in tmp_path.rglob("*") if p.is_file()}
    assert main(["album", str(album)]) == 2
    message = capsys.readouterr().err
    assert "is also an input" in message and str(tmp_path / victim) in message and "album.output" in message, message
    assert {p.relative_to(tmp_path): digest(p) for p in tmp_path.rglob("*") if p.is_file()} == before


def test_an_album_masters_into_the_folder_of_its_mixes_when_no_name_collides(tmp_path, capsys):
    album = _album(tmp_path, ".", ["{file: 1.wav, title: One}", "{file: 2.wav, title: Two}"])
    before = {name: digest(tmp_path / name) for name in ("1.wav", "2.wav", "album.yaml")}
    assert main(["album", str(album)]) == 0, capsys.readouterr().err
    assert {name: digest(tmp_path / name) for name in before} == before
    assert {"01 One.wav", "02 Two.wav", "Night Drive.wav", "Night Drive.cue"} <= {p.name for p in tmp_path.iterdir()}
    assert _hidden(tmp_path) == []


def test_an_album_never_replaces_a_file_its_session_track_reads(tmp_path, capsys):
    """A session track's stems are inputs too: a master landing on one is refused."""
    write_music(tmp_path / "out" / "02 Two.wav", seed=5)  # the stem, in the album's output folder
    (tmp_path / "song.yaml").write_text("tracks:\n  a: {source: out/02 Two.wav}\noutputs: {mixdown: song.wav}\n")
    album = _album(tmp_path, "out", ["{file: 1.wav, title: One}", "{session: song.yaml, title: Two}"])
    before = digest(tmp_path / "out" / "02 Two.wav")
    assert main(["album", str(album)]) == 2
    message = capsys.readouterr().err
    assert "is also an input" in message and str(tmp_path / "out" / "02 Two.wav") in message
    assert digest(tmp_path / "out" / "02 Two.wav") == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["02 Two.wav"]


def test_two_album_tracks_of_one_name_are_refused(tmp_path, capsys):
    album = _album(tmp_path, "out", ["{file: 1.wav, title: Same}", "{file: 2.wav, title: Same}",
                                     "{file: 3.wav, title: Night Drive}"])
    (tmp_path / "album.yaml").write_text((tmp_path / "album.yaml").read_text().replace("title: Night Drive,",
                                                                                       "title: 03 Night Drive,"))
    assert main(["album", str(album)]) == 2
    message = capsys.readouterr().err
    assert "two outputs would both be written to" in message and "03 Night Drive.wav" in message, message
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


# -- a file's extension and its format agree, or the command refuses ---------------------------------
@pytest.mark.parametrize("outputs, expected", [
    ("{mixdown: mix.wav, format: flac}", "name it mix.flac, or set format: wav"),
    ("{mixdown: mix.flac, format: wav}", "name it mix.wav, or set format: flac"),
    ("{mixdown: mix.mp3}", "write mix.wav and encode the MP3 file from it"),
    ("{mixdown: mix.mp3, format: flac}", "encode the MP3 file from it"),
    ("{mixdown: mix.ogg}", "encode the Ogg Vorbis file from it"),
    ("{mixdown: mix.aup}", "end the name with one of .wav, .flac"),
])
def test_a_render_refuses_a_format_its_name_contradicts(write_audio, write_session, capsys, outputs, expected):
    write_audio("a.wav", tone(seconds=0.5))
    path = write_session(f"tracks:\n  a: {{source: a.wav}}\noutputs: {outputs}\n")
    assert main(["render", str(path), "--no-progress"]) == 2
    message = capsys.readouterr().err
    assert expected in message and "Traceback" not in message, message
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.wav", "session.yaml"]


@pytest.mark.parametrize("outputs, written, container", [
    ("{mixdown: mix, format: flac}", "mix.flac", "FLAC"),   # only a format: the name gets its extension
    ("{format: flac}", "out/mix.flac", "FLAC"),              # the default name follows the format
    ("{mixdown: mix.flac}", "mix.flac", "FLAC"),             # only an extension: it sets the format
    ("{mixdown: mix.WAV}", "mix.WAV", "WAV"),
    ("{mixdown: mix.wav, format: wav, stems: stems}", "stems/a.wav", "WAV"),
    ("{mixdown: mix.flac, stems: stems}", "stems/a.flac", "FLAC"),
])
def test_a_render_writes_the_format_its_name_says(write_audio, write_session, outputs, written, container):
    import soundfile as sf

    write_audio("a.wav", tone(seconds=0.5))
    path = write_session(f"tracks:\n  a: {{source: a.wav}}\noutputs: {outputs}\n")
    assert main(["render", str(path), "--no-progress"]) == 0
    assert sf.info(str(path.parent / written)).format == container


@pytest.mark.parametrize("name, expected, container", [
    ("master.flac", None, "FLAC"),
    ("master.aif", None, "AIFF"),
    ("master", "master.wav", "WAV"),
    ("master.mp3", "write master.wav and encode the MP3 file from it", None),
    ("master.txt", "end the name with one of .wav, .flac, .aiff", None),
])
def test_master_writes_the_format_its_name_says_or_refuses(tmp_path, capsys, name, expected, container):
    import soundfile as sf

    write_music(tmp_path / "mix.wav")
    code = main(["master", str(tmp_path / "mix.wav"), "-o", str(tmp_path / name), "--target", "spotify", "--json"])
    message = capsys.readouterr()
    if container is None:
        assert code == 2 and expected in message.err, message.err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav"]
        return
    assert code == 0, message.err
    written = tmp_path / (expected or name)
    assert sf.info(str(written)).format == container
    assert json.loads(message.out)["output"] == str(written)  # the report names the file written


# -- several outputs land together, or none does -------------------------------------------------------
def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _hidden(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM", "error"])
def test_an_album_stopped_part_way_leaves_the_previous_set_whole(tmp_path, capsys, monkeypatch, stop):
    """Stopped after two of three tracks, every old file (tracks, album file, CUE) stays as it was."""
    import host.analysis.album as album_module

    album = _album(tmp_path, "out", ["{file: 1.wav, title: One}", "{file: 2.wav, title: Two}",
                                     "{file: 3.wav, title: Three}"])
    assert main(["album", str(album)]) == 0
    before = _snapshot(tmp_path / "out")
    assert len(before) == 5
    album.write_text(album.read_text().replace("target: spotify", "target: ebu-r128"))  # other masters
    real, done = album_module._master_track, []

    def master_track(*args, **kwargs):
        if len(done) == 2:  # tracks 01 and 02 are done: stop before 03
            if stop == "error":
                raise host.MixhostError("the disk went away")
            os.kill(os.getpid(), getattr(signal, stop))
        done.append(real(*args, **kwargs))
        return done[-1]

    monkeypatch.setattr(album_module, "_master_track", master_track)
    code = main(["album", str(album)])
    message = capsys.readouterr().err
    if stop == "error":
        assert code == 1 and "the disk went away" in message
    else:
        assert code == 130
        assert "interrupted: nothing was written; the previous files are unchanged" in message, message
    assert len(done) == 2
    assert _snapshot(tmp_path / "out") == before
    assert _hidden(tmp_path / "out") == []


def test_a_render_with_stems_interrupted_keeps_the_previous_mix_and_stems(write_audio, write_session):
    write_audio("a.wav", tone(seconds=4.0))
    write_audio("b.wav", tone(freq=300.0, seconds=4.0))
    path = write_session("tracks:\n  a: {source: a.wav}\n  b: {source: b.wav, gain_db: -6}\n"
                         "outputs: {mixdown: out/mix.wav, stems: out/stems}\n")
    host.load_session(path).render()
    before = _snapshot(path.parent / "out")
    assert len(before) == 3
    session = host.load_session(path)
    session.set("tracks/a/gain_db", -3.0)

    def interrupt(done: int, total: int) -> None:
        if done > total // 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match="nothing was written; the previous files are unchanged"):
        session.render(progress=interrupt)
    assert _snapshot(path.parent / "out") == before
    assert _hidden(path.parent / "out") == []


def test_outputs_land_together_even_when_a_signal_comes_between_two_renames(tmp_path, monkeypatch):
    """SIGINT during the renames waits until every file is in place, then acts."""
    import host.atomic as atomic

    targets = [tmp_path / f"{n}.txt" for n in range(3)]
    for target in targets:
        target.write_text("old")
    real, renamed = os.replace, []

    def replace(src, dst):
        real(src, dst)
        renamed.append(dst)
        if len(renamed) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt) as raised, atomic.OutputSet() as staged:
        for target in targets:
            temp = atomic.temp_beside(target)
            temp.write_text("new")
            staged.add(temp, target)
        monkeypatch.setattr(atomic.os, "replace", replace)
        staged.land()
    assert not isinstance(raised.value, host.errors.Interrupted)  # the files were written: it says nothing
    assert [t.read_text() for t in targets] == ["new"] * 3
    assert leftovers(tmp_path) == []


# -- a killed run's leftovers are removed by the next run; a live run's never are ----------------------
def _long_render(folder: Path, seconds: float = 600.0) -> Path:
    import soundfile as sf

    sf.write(folder / "a.wav", tone(seconds=seconds, amp=0.1), 48000, subtype="PCM_16")
    path = folder / "long.yaml"
    path.write_text("session: {block_size: 256}\ntracks:\n  a: {source: a.wav}\n"
                    "outputs: {mixdown: out/mix.wav, stems: out/stems}\n")
    return path


def _wait_for_partial(folder: Path, proc: subprocess.Popen, size: int = 1 << 20) -> Path:
    deadline = time.monotonic() + 120
    while True:
        found = [p for p in folder.rglob(".*.partial") if p.is_file() and p.stat().st_size > size]
        if found:
            return found[0]
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.02)


def test_the_next_run_removes_what_a_killed_render_left(tmp_path, write_audio):
    path = _long_render(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "host", "render", str(path), "--no-progress", "-j", "1"],
                            stderr=subprocess.PIPE)
    _wait_for_partial(out, proc)
    proc.kill()  # SIGKILL: nothing runs in the process after it
    proc.wait(timeout=30)
    left = _hidden(out)
    assert left and all(f"mixhost-{HOST}-{proc.pid}-" in name for name in left), left  # the mix and the stem
    # a live run's partial (this process) and one whose pid now belongs to a younger process (reused)
    live = out / f".mix.wav.mixhost-{HOST}-{os.getpid()}-livexxxx.partial"
    live.write_bytes(b"live")
    younger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        reused = out / f".mix.wav.mixhost-{HOST}-{younger.pid}-reusedxx.partial"
        reused.write_bytes(b"old")
        an_hour_ago = time.time() - 3600
        os.utime(reused, (an_hour_ago, an_hour_ago))
        write_audio("b.wav", tone(seconds=0.5))
        quick = tmp_path / "quick.yaml"
        quick.write_text("tracks:\n  b: {source: b.wav}\noutputs: {mixdown: out/quick.wav, stems: out/stems}\n")
        assert main(["render", str(quick), "--no-progress"]) == 0
    finally:
        younger.kill()
        younger.wait()
    assert _hidden(out) == [live.name]
    live.unlink()


def test_a_killed_album_leaves_nothing_in_the_temp_folder_and_the_next_run_cleans_up(tmp_path):
    for i in (1, 2):
        write_music(tmp_path / f"{i}.wav", seconds=20.0, seed=i)
    album = tmp_path / "album.yaml"
    album.write_text("album: {title: Night Drive, output: out, format: wav}\n"
                     "tracks:\n  - {file: 1.wav}\n  - {file: 2.wav}\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen([sys.executable, "-m", "host", "album", str(album)], stderr=subprocess.PIPE, env=env)
    _wait_for_partial(tmp_path / "out", proc)
    proc.kill()
    proc.wait(timeout=30)
    assert list(scratch.iterdir()) == []  # the system temp folder holds nothing of it
    left = _hidden(tmp_path / "out")
    assert left and all(f"mixhost-{HOST}-{proc.pid}-" in name for name in left), left
    done = subprocess.run([sys.executable, "-m", "host", "album", str(album)], capture_output=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert _hidden(tmp_path / "out") == []
    assert list(scratch.iterdir()) == []


def test_an_album_that_fails_leaves_no_temp_folder(tmp_path, capsys, monkeypatch):
    """A session track that fails to render: the error, and no folder left in the temp folder or the output."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    write_music(tmp_path / "1.wav")
    write_music(tmp_path / "s.wav", seed=4)
    (tmp_path / "song.yaml").write_text(
        "tracks:\n  s: {source: s.wav, chain: [{type: test_exploding, id: bomb, after: 3}]}\n")
    album = _album(tmp_path, "out", ["{file: 1.wav, title: One}", "{session: song.yaml, title: Two}"])
    assert main(["album", str(album)]) == 1
    assert "tracks/s/bomb" in capsys.readouterr().err
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "out").exists() or _hidden(tmp_path / "out") == []


@pytest.mark.parametrize("victim", ["a.wav", "my-chain.yaml"])
def test_a_session_is_never_saved_over_a_file_it_names(tmp_path, victim):
    write_music(tmp_path / "a.wav")
    (tmp_path / "my-chain.yaml").write_text("chain:\n  - {type: gain, params: {gain_db: -1}}\n")
    path = tmp_path / "session.yaml"
    path.write_text("tracks:\n  a: {source: a.wav, chain: my-chain.yaml}\n")
    session = host.load_session(path)
    before = _snapshot(tmp_path)
    with pytest.raises(host.MixhostError, match=f"output .*{victim} is also an input"):
        session.save(tmp_path / victim)
    assert _snapshot(tmp_path) == before
    assert session.save() == path  # its own file it replaces


@pytest.mark.parametrize("outputs, expected", [
    ("{mixdown: a.wav}", "is also an input"),
    ("{mixdown: mix.wav, format: flac}", "name it mix.flac"),
])
def test_validate_refuses_the_outputs_render_would_refuse(write_audio, write_session, capsys, outputs, expected):
    write_audio("a.wav", tone(seconds=0.5))
    path = write_session(f"tracks:\n  a: {{source: a.wav}}\noutputs: {outputs}\n")
    assert main(["validate", str(path)]) == 2
    assert expected in capsys.readouterr().err
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.wav", "session.yaml"]


@pytest.mark.parametrize("chain", [False, True])
def test_an_interrupted_master_keeps_the_previous_file_and_leaves_no_scratch(tmp_path, capsys, monkeypatch, chain):
    import host.analysis.mastering as mastering

    write_music(tmp_path / "mix.wav")
    def argv(target: str) -> list[str]:
        return ["master", str(tmp_path / "mix.wav"), "-o", str(tmp_path / "out" / "master.wav"),
                "--target", target, *(["--chain", "master-streaming"] if chain else [])]

    assert main(argv("spotify")) == 0
    capsys.readouterr()
    before = _snapshot(tmp_path)
    assert _hidden(tmp_path) == []  # the scratch folder is gone after a run that succeeds
    real = mastering._render

    def render(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # during the first loudness pass
        return real(*args, **kwargs)

    monkeypatch.setattr(mastering, "_render", render)
    assert main(argv("ebu-r128")) == 130
    assert "interrupted: nothing was written; the previous files are unchanged" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before
    assert _hidden(tmp_path) == []


def test_a_run_beside_a_live_render_leaves_its_partials_alone(tmp_path, write_audio):
    """Two renders into one folder at once: the second reaps nothing of the first, which completes."""
    import soundfile as sf

    path = _long_render(tmp_path, seconds=120.0)
    proc = subprocess.Popen([sys.executable, "-m", "host", "render", str(path), "--no-progress", "-j", "1"],
                            stderr=subprocess.PIPE)
    _wait_for_partial(tmp_path / "out", proc)
    write_audio("b.wav", tone(seconds=0.5))
    quick = tmp_path / "quick.yaml"
    quick.write_text("tracks:\n  b: {source: b.wav}\noutputs: {mixdown: out/quick.wav, stems: out/stems}\n")
    assert main(["render", str(quick), "--no-progress"]) == 0
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert sf.info(str(tmp_path / "out" / "mix.wav")).frames == 120 * 48000
    assert sf.info(str(tmp_path / "out" / "stems" / "a.wav")).frames == 120 * 48000
    assert _hidden(tmp_path / "out") == []


@pytest.mark.parametrize("name", [
    ".mix.wav.k3j_x9az.partial",                            # named before the pid was in the name
    f".mix.wav.mixhost-otherbox-{os.getpid()}-ab_cd123.partial",  # another machine's (this pid means nothing)
])
@pytest.mark.parametrize("age_s, reaped", [(2 * 86400.0, True), (60.0, False)])
def test_partials_of_an_owner_that_cannot_be_asked_go_only_when_old(tmp_path, name, age_s, reaped):
    """Whose a partial is cannot be told: only a day without a write marks it as left over."""
    from host.atomic import reap_stale

    partial = tmp_path / name
    partial.write_bytes(b"x")
    when = time.time() - age_s
    os.utime(partial, (when, when))
    mine = tmp_path / ".notes.txt"  # a hidden file of the user's own is never touched
    mine.write_text("mine")
    os.utime(mine, (when, when))
    assert reap_stale(tmp_path) == ([partial] if reaped else [])
    assert partial.exists() is not reaped and mine.exists()


def test_feedback_reports_land_together_or_not_at_all(mix_folder, capsys, monkeypatch):
    """Interrupted while the HTML is being written, the Markdown written before it does not land either."""
    import host.analysis.feedback as feedback

    md, page = mix_folder / "notes.md", mix_folder / "notes.html"
    md.write_text("the previous notes\n")
    real = feedback.write_feedback_html

    def write_then_stop(fb, path):
        real(fb, path)
        assert Path(path).stat().st_size > 0 and Path(path).parent == page.parent
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(feedback, "write_feedback_html", write_then_stop)
    assert main(["feedback", str(mix_folder / "mix.wav"), "--md", str(md), "--html", str(page)]) == 130
    assert "interrupted: nothing was written; the previous files are unchanged" in capsys.readouterr().err
    assert md.read_text() == "the previous notes\n" and not page.exists()
    assert leftovers(mix_folder) == []
    monkeypatch.setattr(feedback, "write_feedback_html", real)
    assert main(["feedback", str(mix_folder / "mix.wav"), "--md", str(md), "--html", str(page)]) == 0
    assert md.read_text().startswith("#") and page.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("argv, expected", [
    (["master", "{mix}", "-o", "{folder}", "--target", "spotify"], "is a folder"),
    (["analyze", "{mix}", "--html", "{folder}"], "is a folder; a file was expected there"),
])
def test_an_output_that_is_a_folder_is_refused(tmp_path, capsys, argv, expected):
    write_music(tmp_path / "mix.wav")
    (tmp_path / "reports").mkdir()
    names = {"mix": str(tmp_path / "mix.wav"), "folder": str(tmp_path / "reports")}
    assert main([part.format(**names) for part in argv]) == 2
    assert expected in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["mix.wav", "reports"]


def test_a_rename_that_fails_says_which_outputs_were_written(tmp_path):
    """A target that turned into a folder after the checks: an OutputError naming it and what landed."""
    import host.atomic as atomic

    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    expected = r"cannot put .*b\.txt in place: .*written before it: .*a\.txt"
    with pytest.raises(host.errors.OutputError, match=expected), atomic.OutputSet() as staged:
        staged.write_text(first, "A")
        staged.write_text(second, "B")
        second.mkdir()
        staged.land()
    assert first.read_text() == "A" and second.is_dir()
    assert leftovers(tmp_path) == []


# a report pointed at an existing file of another kind that the command does not read
OTHER_KIND_CASES = [
    (["analyze", "{mix}", "--html", "{out}"], "session.yaml"),
    (["analyze", "{mix}", "--html", "{out}"], "a.wav"),
    (["compare", "{mix}", "{v2}", "--html", "{out}"], "session.yaml"),
    (["feedback", "{mix}", "--md", "{out}"], "session.yaml"),
    (["feedback", "{mix}", "--html", "{out}"], "a.wav"),
]


@pytest.mark.parametrize("template, victim", OTHER_KIND_CASES)
def test_a_report_never_replaces_a_file_of_another_kind(mix_folder, capsys, template, victim):
    """`analyze mix.wav --html session.yaml` names no input, yet the session is the user's: a report
    only replaces a file of its own kind (an earlier report)."""
    out = mix_folder / victim
    before = {p.name: digest(p) for p in mix_folder.iterdir() if p.is_file()}
    assert main(_argv(template, mix_folder, out)) == 2
    message = capsys.readouterr().err
    assert str(out) in message and "is not a" in message and "hint:" in message, message
    assert {p.name: digest(p) for p in mix_folder.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("option, name", [("--html", "report.html"), ("--md", "notes.md")])
def test_a_report_replaces_an_earlier_report(mix_folder, option, name):
    out = mix_folder / name
    out.write_text("an earlier report\n")
    assert main(["feedback", str(mix_folder / "mix.wav"), option, str(out)]) == 0
    assert "an earlier report" not in out.read_text() and out.stat().st_size > 100
