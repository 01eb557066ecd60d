"""Outputs are atomic: refused over an input, and nothing partial after a failure or interrupt."""

from __future__ import annotations

import errno
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
