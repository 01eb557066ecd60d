"""`mixhost batch` on a local process pool: a generated catalogue, mastered and measured by ffmpeg,
failures isolated, the output guard, the journal across a SIGKILL, analyze's CSV, render variations."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from batch_catalogue import (
    BAD,
    GOOD,
    TAGS,
    ffmpeg_ebur128,
    journal_records,
    kill_group,
    make_catalogue,
    mixhost,
    start_mixhost,
    visible_files,
    wait_for_done,
)

import host
from host.analysis.mastering import master_file
from host.analysis.report import analyze_file
from host.errors import MixhostError
from host.loudness.meter import measure_file
from host.loudness.targets import resolve_target
from host.tags import read_tags

TARGET = resolve_target("ebu-r128")
assert shutil.which("ffmpeg"), "the batch tests need ffmpeg (the independent meter): `make test` installs it"


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("batch") / "catalogue"
    return root, make_catalogue(root)


@pytest.fixture(scope="module")
def mastered(catalogue, tmp_path_factory) -> tuple[Path, list[dict], object]:
    """The whole catalogue mastered once by the CLI on 2 local workers, with --json events."""
    root, _ = catalogue
    out = tmp_path_factory.mktemp("mastered") / "out"
    run = mixhost("batch", "master", str(root), "-o", str(out), "--target", "ebu-r128", "--keep-tree",
                  "--format", "flac", "-j", "2", "--json")
    events = [json.loads(line) for line in run.stdout.splitlines()]
    return out, events, run


def expected_output(relative: str) -> str:
    return str(Path(relative).with_suffix(".flac").as_posix())


def test_catalogue_is_big_and_mixed(catalogue) -> None:
    root, good = catalogue
    assert len(good) + len(BAD) >= 50
    infos = [sf.info(str(p)) for p in good.values()]
    assert {i.samplerate for i in infos} >= {22050, 44100, 48000, 96000}
    assert {i.channels for i in infos} == {1, 2}
    assert {i.format for i in infos} >= {"WAV", "FLAC", "OGG", "MP3"}


def test_every_master_lands_on_target_by_ffmpeg(catalogue, mastered) -> None:
    root, good = catalogue
    out, events, run = mastered
    assert run.returncode == 1, run.stderr  # the three bad files failed, nothing else
    assert visible_files(out) == {expected_output(r) for r in good}
    for relative, source in good.items():
        written = out / expected_output(relative)
        integrated, true_peak = ffmpeg_ebur128(written)
        # the summary prints 0.1 LU / 0.1 dB: R128's ±0.2 LU plus the display's rounding
        assert abs(integrated - TARGET.integrated_lufs) <= 0.25, (relative, integrated)
        assert true_peak <= TARGET.ceiling_dbtp + 0.05, (relative, true_peak)
        info, original = sf.info(str(written)), sf.info(str(source))
        assert (info.samplerate, info.channels) == (original.samplerate, original.channels)
        if source.suffix in (".wav", ".flac"):  # whole: lossy decoders may pad the ends
            assert info.frames == original.frames
        if source.suffix == ".flac":
            assert {k: read_tags(written).get(k) for k in TAGS} == TAGS


def test_failures_are_isolated_with_the_single_commands_message(catalogue, mastered, tmp_path) -> None:
    root, _ = catalogue
    out, events, run = mastered
    failed = {e["key"]: e["error"] for e in events if e["event"] == "job" and e["status"] == "failed"}
    assert set(failed) == {expected_output(r) for r in BAD}
    for relative in BAD:
        with pytest.raises(MixhostError) as single:
            master_file(root / relative, tmp_path / "single.flac", TARGET)
        assert failed[expected_output(relative)] == str(single.value)
    end = events[-1]
    assert end["event"] == "end" and end["failed"] == len(BAD) and end["done"] == GOOD
    assert {f["key"] for f in end["failures"]} == set(failed)
    assert "failed" in run.stdout or end["failures"]  # the summary names them


def test_a_rerun_skips_everything_done_and_force_redoes(catalogue, mastered) -> None:
    root, good = catalogue
    out, _, _ = mastered
    run = mixhost("batch", "master", str(root), "-o", str(out), "--target", "ebu-r128", "--keep-tree",
                  "--format", "flac", "-j", "2", "--json")
    end = json.loads(run.stdout.splitlines()[-1])
    assert (end["skipped"], end["done"], end["failed"]) == (GOOD, 0, len(BAD))


@pytest.mark.parametrize("change", ["content", "touch", "option"])
def test_changed_inputs_and_options_are_redone(tmp_path, change: str) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for i in range(3):
        sf.write(source / f"t{i}.wav", host_music(i), 48000)
    out = tmp_path / "out"
    first = host.batch("master", [source], out_dir=out, target="ebu-r128", workers=1)
    assert first.counts["done"] == 3
    target = "ebu-r128"
    if change == "content":
        sf.write(source / "t1.wav", host_music(7), 48000)
    elif change == "touch":
        os.utime(source / "t1.wav", ns=(1, 1))
    else:
        target = "-24/-1"
    again = host.batch("master", [source], out_dir=out, target=target, workers=1)
    expected = {"content": {"done": 1, "unchanged": 0, "skipped": 2}, "touch": {"done": 0, "unchanged": 1, "skipped": 2},
                "option": {"done": 3, "unchanged": 0, "skipped": 0}}[change]
    assert {k: again.counts[k] for k in expected} == expected
    assert abs(measure_file(out / "t1.wav").integrated_lufs - resolve_target(target).integrated_lufs) <= 0.2


def host_music(seed: int):
    from host.analysis.signals import music

    return music(1.0, 48000, seed=seed, level_db=-20).T


def test_sigkill_part_way_then_rerun_does_every_file_exactly_once(catalogue, tmp_path) -> None:
    root, good = catalogue
    out = tmp_path / "out"
    args = ("batch", "master", str(root), "-o", str(out), "--target", "ebu-r128", "--keep-tree", "-j", "2",
            "--no-progress")
    process = start_mixhost(*args)
    journal = out / ".mixhost-batch-master.jsonl"
    first = wait_for_done(journal, 12)
    kill_group(process)  # SIGKILL: the planner and its workers, no clean-up at all
    assert first < GOOD, "the batch finished before the kill"
    done_before = {r["key"] for r in journal_records(journal) if r["status"] == "done"}
    rerun = mixhost(*args, "--json")
    assert rerun.returncode == 1, rerun.stderr
    records = journal_records(journal)
    done = [r["key"] for r in records if r["status"] == "done"]
    assert sorted(done) == sorted(set(done)), "a file was mastered twice"
    assert len(done) == GOOD and done_before < set(done)
    end = json.loads(rerun.stdout.splitlines()[-1])
    assert end["skipped"] == len(done_before) and end["done"] == GOOD - len(done_before)
    # nothing partial under a final name: every visible file is a whole, on-target master
    visible = visible_files(out)
    assert len(visible) == GOOD
    for name in visible:
        result = measure_file(out / name)
        assert abs(result.integrated_lufs - TARGET.integrated_lufs) <= 0.2
        assert result.true_peak_dbtp <= TARGET.ceiling_dbtp


@pytest.mark.parametrize("case", ["over-input", "two-to-one", "flac-float", "unknown-target", "no-inputs"])
def test_bad_arguments_exit_2_before_anything_runs(tmp_path, case: str) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "x.wav", host_music(1), 48000)
    args = {"over-input": [str(tmp_path / "a"), "-o", str(tmp_path / "a")],
            "two-to-one": [str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "out")],
            "flac-float": [str(tmp_path / "a"), "-o", str(tmp_path / "out"), "--format", "flac",
                           "--bit-depth", "float"],
            "unknown-target": [str(tmp_path / "a"), "-o", str(tmp_path / "out"), "--target", "spotfy"],
            "no-inputs": [str(tmp_path / "nothing-here"), "-o", str(tmp_path / "out")]}[case]
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.wav")}
    run = mixhost("batch", "master", *args)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "error:" in run.stderr
    if case == "two-to-one":
        assert str(tmp_path / "a" / "x.wav") in run.stderr and str(tmp_path / "b" / "x.wav") in run.stderr
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.wav")} == before
    assert not (tmp_path / "out").exists() or not visible_files(tmp_path / "out")


def test_analyze_writes_one_row_per_file_as_analyze_measures_it(catalogue, tmp_path) -> None:
    root, good = catalogue
    table, rows_json = tmp_path / "report.csv", tmp_path / "report.json"
    run = mixhost("batch", "analyze", str(root), "--csv", str(table), "--json", str(rows_json),
                  "--target", "ebu-r128", "-j", "2")
    assert run.returncode == 1, run.stderr
    with table.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == GOOD + len(BAD)
    by_file = {Path(r["file"]).relative_to(root).as_posix(): r for r in rows}
    assert {k for k, r in by_file.items() if r["status"] == "failed"} == set(BAD)
    assert all(by_file[k]["error"] for k in BAD)
    for relative in list(good)[:: len(good) // 6]:
        single = analyze_file(good[relative])
        row = by_file[relative]
        assert float(row["integrated_lufs"]) == pytest.approx(single.integrated_lufs, abs=1e-3)
        assert float(row["true_peak_dbtp"]) == pytest.approx(single.true_peak_dbtp, abs=1e-3)
        assert int(row["sample_rate"]) == single.sample_rate and int(row["channels"]) == single.channels
        assert float(row["duration_s"]) == pytest.approx(single.duration_s, abs=1e-3)
        ok = abs(single.integrated_lufs - TARGET.integrated_lufs) <= 1.0 and single.true_peak_dbtp <= -1.0
        assert row["pass"] == ("yes" if ok else "no")
    assert len(json.loads(rows_json.read_text())) == GOOD + len(BAD)
    for relative in BAD:
        assert relative in run.stdout.replace("\n", "") or Path(relative).name in run.stdout
    assert "loudest" in run.stdout and "quietest" in run.stdout


SESSION = """
tracks:
  vocals: {source: vocals.wav}
  band: {source: band.wav}
outputs: {mixdown: mix.wav, bit_depth: float}
"""

VARIATIONS = """
def variations(session):
    yield "vocal-up", {"tracks/vocals/gain_db": 6.0}
    yield "vocal-down", {"tracks/vocals/gain_db": -6.0}
    yield "instrumental", {"tracks/vocals/mute": True}
"""


def test_render_variations_into_one_tree(tmp_path) -> None:
    from host.analysis.signals import music

    sf.write(tmp_path / "vocals.wav", music(1.0, 48000, seed=1, level_db=-24).T, 48000, subtype="FLOAT")
    sf.write(tmp_path / "band.wav", music(1.0, 48000, seed=2, level_db=-24).T, 48000, subtype="FLOAT")
    (tmp_path / "song.yaml").write_text(SESSION)
    (tmp_path / "vary.py").write_text(VARIATIONS)
    out = tmp_path / "renders"
    result = host.batch("render", [tmp_path / "song.yaml"], out_dir=out, variations=tmp_path / "vary.py", workers=2)
    assert result.ok and result.counts["done"] == 3
    assert visible_files(out) == {f"song/{v}/mix.wav" for v in ("vocal-up", "vocal-down", "instrumental")}
    mix = {v: sf.read(out / "song" / v / "mix.wav")[0] for v in ("vocal-up", "vocal-down", "instrumental")}
    vocals = sf.read(tmp_path / "vocals.wav")[0]
    import numpy as np

    # the mix is band + k·g·vocals (k: the pan law): differences of variations are the vocal alone
    gain_up, gain_down = 10 ** (6 / 20), 10 ** (-6 / 20)

    def vocal_gain(a: str, b: str) -> float:
        difference = mix[a] - mix[b]
        return float(np.sum(difference * vocals) / np.sum(vocals * vocals))

    assert vocal_gain("vocal-up", "vocal-down") / vocal_gain("vocal-up", "instrumental") == \
        pytest.approx((gain_up - gain_down) / gain_up, rel=1e-4)
