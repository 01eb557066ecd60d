"""`mixhost batch tag`: ReplayGain 2.0 / R128 tags written in place over a generated catalogue.

The catalogue (generated here): FLAC and Ogg Vorbis by libsndfile, MP3, M4A
(AAC) and Opus by ffmpeg, in nested folders (one album each), with a
corrupt, an empty and a silent file among them.  r128gain tags a copy of
the good files: its gains are the reference.  ffmpeg decodes every file
before and after to show the audio is untouched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from batch_catalogue import journal_records, kill_group, mixhost, start_mixhost, visible_files
from encoded_audio import synth, write_encoded

import host
from host import tags as tag_io
from host.loudness import replaygain as rg

assert shutil.which("ffmpeg"), "the tag tests need ffmpeg (encoders, reference): `make test` installs it"

SECONDS = 16.0  # long enough that r128gain's concatenated album and mixhost's union of blocks agree to 0.1 dB
# album folder -> (extension, rate, channels, level dB) of each track
ALBUMS = {
    "Artist One/First Album": [("flac", 44100, 2, -12.0), ("ogg", 48000, 2, -20.0), ("opus", 48000, 1, -26.0)],
    "Artist One/Second Album": [("mp3", 44100, 2, -16.0), ("m4a", 48000, 2, -24.0), ("flac", 48000, 1, -30.0)],
    "Various/Singles": [("opus", 48000, 2, -18.0), ("m4a", 44100, 2, -14.0)],
}
BAD = {"Various/Singles/corrupt.flac": "cannot read the tags", "Various/Singles/empty.mp3": "empty (0 bytes)",
       "Various/Singles/silent.flac": "silent"}
TOLERANCE_DB = 0.1  # r128gain's gains come from ffmpeg's loudness printed to 0.1 LU
GOOD = [f"{folder}/{i:02d}.{ext}" for folder, tracks in ALBUMS.items() for i, (ext, *_) in enumerate(tracks)]


def write_track(path: Path, seconds: float, rate: int, channels: int, level: float, seed: int) -> None:
    write_encoded(path, synth(seconds, level, rate, channels, seed), rate, flac_subtype="PCM_16")


def make_catalogue(root: Path) -> None:
    seed = 0
    for folder, tracks in ALBUMS.items():
        (root / folder).mkdir(parents=True)
        for i, (ext, rate, channels, level) in enumerate(tracks):
            seed += 1
            write_track(root / folder / f"{i:02d}.{ext}", SECONDS, rate, channels, level, seed)
    (root / "Various/Singles/corrupt.flac").write_bytes(b"fLaC\x00\x00\x00\x22" + b"\x17" * 60)
    (root / "Various/Singles/empty.mp3").write_bytes(b"")
    sf.write(root / "Various/Singles/silent.flac", np.zeros((48000, 2)), 48000, subtype="PCM_16")


def copy_of(source: Path, where: Path, good_only: bool = False) -> Path:
    shutil.copytree(source, where, ignore=(lambda d, names: [n for n in names if "/".join(
        Path(d, n).relative_to(source).parts) in BAD]) if good_only else None)
    return where


def gains(root: Path, relative: str) -> dict[str, float]:
    """A file's track and album gains (dB, ReplayGain 2.0's −18 LUFS reference), from its tags."""
    tags = tag_io.read_text_tags(root / relative)
    if relative.endswith(".opus"):  # RFC 7845 §5.2.1: Q7.8 dB relative to −23 LUFS
        return {key: int(tags[f"R128_{key.upper()}_GAIN"]) / 256 + 5.0 for key in ("track", "album")
                if f"R128_{key.upper()}_GAIN" in tags}
    return {key: float(tags[f"REPLAYGAIN_{key.upper()}_GAIN"].split()[0]) for key in ("track", "album")
            if f"REPLAYGAIN_{key.upper()}_GAIN" in tags}


def decoded_md5(path: Path) -> str:
    """ffmpeg's MD5 of the decoded PCM (an independent decoder's view of the audio)."""
    run = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "md5", "-"],
                         capture_output=True, text=True, check=True)
    return run.stdout.strip()


def mtimes(root: Path) -> dict[str, int]:
    return {rel: (root / rel).stat().st_mtime_ns for rel in GOOD}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tag-source") / "catalogue"
    make_catalogue(root)
    return root


@pytest.fixture(scope="module")
def reference(catalogue: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The good files, tagged by r128gain (album per folder)."""
    root = copy_of(catalogue, tmp_path_factory.mktemp("tag-r128gain") / "catalogue", good_only=True)
    subprocess.run([sys.executable, "-m", "r128gain", "-a", "-r", "-v", "warning", str(root)], check=True,
                   capture_output=True)
    return root


@pytest.fixture(scope="module")
def tagged(catalogue: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], object]:
    """The whole catalogue tagged by the CLI on 2 local workers, with --json events."""
    root = copy_of(catalogue, tmp_path_factory.mktemp("tag-cli") / "catalogue")
    run = mixhost("batch", "tag", str(root), "-j", "2", "--json")
    return root, [json.loads(line) for line in run.stdout.splitlines()], run


def test_catalogue_holds_every_container(catalogue: Path) -> None:
    assert {tag_io.container(catalogue / rel) for rel in GOOD} == {"flac", "ogg-vorbis", "ogg-opus", "mp3", "mp4"}


def test_bad_files_fail_alone_and_their_album_is_tagged_without_them(tagged, catalogue: Path) -> None:
    root, events, run = tagged
    assert run.returncode == 1, run.stderr
    end = events[-1]
    assert end["event"] == "end" and end["done"] == len(GOOD) and end["failed"] == len(BAD)
    failures = {Path(f["key"]).relative_to(root).as_posix(): f["error"] for f in end["failures"]}
    assert failures.keys() == BAD.keys()
    for relative, reason in BAD.items():
        assert reason in failures[relative] and relative in failures[relative]
    singles = next(e for e in events if e["event"] == "album" and e["album"].endswith("Various/Singles"))
    assert singles["tracks"] == 5 and singles["written"] == 2 and len(singles["missing"]) == 3
    assert end["albums"] == len(ALBUMS) and end["written"] == len(GOOD)
    assert (root / ".mixhost-batch-tag.jsonl").is_file()  # the journal: in the folder holding the inputs
    for relative in BAD:  # left as they were
        assert (root / relative).read_bytes() == (catalogue / relative).read_bytes()


@pytest.mark.parametrize("relative", GOOD)
def test_gains_match_r128gain(tagged, reference: Path, relative: str) -> None:
    root, _, _ = tagged
    ours, theirs = gains(root, relative), gains(reference, relative)
    assert ours.keys() == theirs.keys() == {"track", "album"}
    assert abs(ours["track"] - theirs["track"]) <= TOLERANCE_DB, (ours, theirs)
    assert abs(ours["album"] - theirs["album"]) <= TOLERANCE_DB, (ours, theirs)
    tags = tag_io.read_text_tags(root / relative)
    if relative.endswith(".opus"):  # RFC 7845 §5.2.1: no REPLAYGAIN_* in Opus
        assert not any(key.startswith("REPLAYGAIN_") for key in tags)
    else:
        assert tags["REPLAYGAIN_REFERENCE_LOUDNESS"] == "-18.00 LUFS"


@pytest.mark.parametrize("folder", list(ALBUMS))
def test_one_album_gain_per_folder_gated_over_its_tracks(tagged, catalogue: Path, folder: str) -> None:
    root, _, _ = tagged
    members = [rel for rel in GOOD if rel.startswith(folder + "/")]
    album_gains = {round(gains(root, rel)["album"], 2) for rel in members}
    assert len(album_gains) == 1, album_gains
    expected = rg.album(rg.measure(catalogue / rel) for rel in members).gain_db
    step = 1 / 256 if any(m.endswith(".opus") for m in members) else 0.0  # Opus: Q7.8 steps
    assert abs(album_gains.pop() - expected) <= 0.006 + step


@pytest.mark.parametrize("relative", GOOD)
def test_audio_is_untouched(tagged, catalogue: Path, relative: str) -> None:
    root, _, _ = tagged
    assert decoded_md5(root / relative) == decoded_md5(catalogue / relative)
    assert tag_io.audio_digest(root / relative) == tag_io.audio_digest(catalogue / relative)


def test_rerun_skips_and_a_changed_file_retags_its_album(catalogue: Path, tmp_path: Path) -> None:
    root = copy_of(catalogue, tmp_path / "catalogue")
    first = host.batch("tag", [root], album_by="folder", workers=2)
    assert first.counts["done"] == len(GOOD) and len(first.failed) == len(BAD)
    before, tags_before = mtimes(root), {rel: tag_io.read_text_tags(root / rel) for rel in GOOD}

    again = host.batch("tag", [root], album_by="folder", workers=2)
    assert again.counts["skipped"] == len(GOOD) and again.counts["done"] == 0
    assert again.summary()["written"] == 0 and mtimes(root) == before  # nothing rewritten
    assert {rel: tag_io.read_text_tags(root / rel) for rel in GOOD} == tags_before

    changed = "Artist One/Second Album/01.m4a"  # new audio, 10 dB louder
    write_track(root / changed, SECONDS, 48000, 2, -14.0, seed=77)
    third = host.batch("tag", [root], album_by="folder", workers=2)
    status = {Path(r.key).relative_to(root).as_posix(): r.status for r in third.results}
    assert status[changed] == "done" and third.counts["done"] == 1
    after = mtimes(root)
    for rel in GOOD:
        rewritten = after[rel] != before[rel]
        assert rewritten == rel.startswith("Artist One/Second Album/"), rel  # the whole album, nothing else
    album_now = {round(gains(root, rel)["album"], 2) for rel in GOOD if rel.startswith("Artist One/Second")}
    expected = rg.album(rg.measure(root / rel) for rel in GOOD if rel.startswith("Artist One/Second")).gain_db
    assert len(album_now) == 1 and abs(album_now.pop() - expected) <= 0.006
    assert abs(gains(root, "Artist One/Second Album/00.mp3")["album"]
               - float(tags_before["Artist One/Second Album/00.mp3"]["REPLAYGAIN_ALBUM_GAIN"].split()[0])) > 1.0

    edited = "Artist One/First Album/00.flac"  # another tool rewrote a tag: audio the same
    tag_io.update_text_tags(root / edited, {"REPLAYGAIN_TRACK_GAIN": "+9.99 dB"})
    fourth = host.batch("tag", [root], album_by="folder", workers=2)
    status = {Path(r.key).relative_to(root).as_posix(): r.status for r in fourth.results}
    assert status[edited] == "unchanged" and fourth.counts["done"] == 0  # not measured again
    assert fourth.summary()["written"] == 1
    assert tag_io.read_text_tags(root / edited) == tags_before[edited]
    last = {r["key"]: r for r in journal_records(root / ".mixhost-batch-tag.jsonl")}
    for rel in GOOD:  # the journal holds each file as it is now: written tags, size and time after the write
        record, st = last[str(root / rel)], (root / rel).stat()
        assert record["status"] in ("done", "unchanged") and record["stat"] == [[st.st_size, st.st_mtime_ns]]
        assert {k: v for k, v in tag_io.read_text_tags(root / rel).items() if k in record["data"]["tags"]} \
            == record["data"]["tags"]


def test_dask_local_cluster_gives_the_local_pools_tags(tagged, catalogue: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    pool_root, _, _ = tagged
    root = copy_of(catalogue, tmp_path / "catalogue")
    events: list[dict] = []
    result = host.batch("tag", [root], album_by="folder", dask="local:2", on_event=events.append)
    assert events[0]["runner"] == "a local Dask cluster of 2 worker processes"
    assert len({r.worker for r in result.results if r.status == "done"}) == 2
    assert len(result.failed) == len(BAD) and result.summary()["written"] == len(GOOD)
    for rel in GOOD:
        assert tag_io.read_text_tags(root / rel) == tag_io.read_text_tags(pool_root / rel), rel


def set_album_tags(path: Path, artist: str, album: str) -> None:
    import mutagen

    media = mutagen.File(str(path), easy=True)
    if media.tags is None:
        media.add_tags()
    media["albumartist"], media["album"] = [artist], [album]
    media.save()


@pytest.mark.parametrize("album_by", ["tag", None])
def test_album_by_tag_and_no_album(catalogue: Path, tmp_path: Path, album_by: str | None) -> None:
    root = copy_of(catalogue, tmp_path / "catalogue", good_only=True)
    artist_one = [rel for rel in GOOD if rel.startswith("Artist One/")]
    for rel in artist_one:  # two folders, one album by their tags
        set_album_tags(root / rel, "Artist One", "Collected")
    host.batch("tag", [root], album_by="folder", workers=2)  # album tags per folder first
    result = host.batch("tag", [root], album_by=album_by, workers=2)
    assert result.ok and result.counts["skipped"] == len(GOOD)  # measured once, re-tagged from the journal
    for rel in GOOD:
        found = gains(root, rel)
        if album_by is None:
            assert found.keys() == {"track"}, rel  # album tags removed
            assert not {"REPLAYGAIN_ALBUM_PEAK"} & set(tag_io.read_text_tags(root / rel))
        elif rel in artist_one:
            expected = rg.album(rg.measure(root / r) for r in artist_one).gain_db
            assert abs(found["album"] - expected) <= 1 / 256 + 0.006, rel
        else:  # no album tag: an album of its own
            assert abs(found["album"] - found["track"]) <= 1 / 256 + 0.006, rel


@pytest.mark.parametrize("args", [
    ["--album-by", "genre"],
    ["-j", "0"],
    ["--dask", "local:none"],
    ["--journal", "."],
], ids=["album-by", "jobs", "dask", "journal-folder"])
def test_bad_arguments_exit_2_and_write_nothing(catalogue: Path, tmp_path: Path, args: list[str]) -> None:
    root = copy_of(catalogue, tmp_path / "catalogue", good_only=True)
    run = mixhost("batch", "tag", str(root), *args, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert all(gains(root, rel) == {} for rel in GOOD)
    assert not (root / ".mixhost-batch-tag.jsonl").exists()


def test_journal_path_option(catalogue: Path, tmp_path: Path) -> None:
    root = copy_of(catalogue, tmp_path / "catalogue", good_only=True)
    journal = tmp_path / "state" / "tags.jsonl"
    files = [str(root / rel) for rel in GOOD[:2]]
    run = mixhost("batch", "tag", *files, "--journal", str(journal), "-j", "1", "--no-album")
    assert run.returncode == 0, run.stderr
    assert sorted({r["key"] for r in journal_records(journal)}) == sorted(files)
    assert not (root / ".mixhost-batch-tag.jsonl").exists()
    assert f"journal: {journal}" in " ".join(run.stdout.split())


def test_a_killed_run_loses_nothing_and_the_rerun_finishes(tagged, catalogue: Path, tmp_path: Path) -> None:
    complete, _, _ = tagged
    root = copy_of(catalogue, tmp_path / "catalogue")
    process = start_mixhost("batch", "tag", str(root), "-j", "2", "--json")
    assert process.stdout is not None
    for line in process.stdout:  # SIGKILL (no clean-up at all) once the first album is tagged
        if json.loads(line)["event"] == "album":
            break
    kill_group(process)
    journal = root / ".mixhost-batch-tag.jsonl"
    measured_before = {r["key"] for r in journal_records(journal) if r["status"] == "done"}
    assert len(measured_before) < len(GOOD), "the batch finished before the kill"
    rerun = mixhost("batch", "tag", str(root), "-j", "2", "--json")
    assert rerun.returncode == 1, rerun.stderr
    end = json.loads(rerun.stdout.splitlines()[-1])
    assert end["skipped"] == len(measured_before) and end["done"] == len(GOOD) - len(measured_before)
    records = journal_records(journal)
    good = {str(root / rel) for rel in GOOD}
    measurements = {(r["key"], r["worker"], r["seconds"]) for r in records if r["status"] == "done" and r["key"] in good}
    assert len(measurements) == len(GOOD)  # each good file measured once, across the kill
    assert visible_files(root) == set(GOOD) | set(BAD)  # no file lost, none added (a staged write is hidden)
    for rel in GOOD:
        assert tag_io.read_text_tags(root / rel) == tag_io.read_text_tags(complete / rel), rel
        assert tag_io.audio_digest(root / rel) == tag_io.audio_digest(catalogue / rel), rel


@pytest.mark.parametrize(("locations", "expected"), [
    (["/music/a/x.flac", "/music/b/c/y.mp3"], "/music/.mixhost-batch-tag.jsonl"),
    (["/music/a/x.flac"], "/music/a/.mixhost-batch-tag.jsonl"),
    (["/music/a/x.flac", "/srv/y.mp3"], "STATE"),
])
def test_default_journal_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, locations: list[str],
                               expected: str) -> None:
    from host.analysis.batch.albums import default_journal

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    found = default_journal(locations)
    if expected == "STATE":  # nothing in common but /: the user's state folder, named after the inputs
        assert found.parent == tmp_path / "mixhost" and found.name.startswith("batch-tag-")
        assert default_journal(list(reversed(locations))) == found != default_journal(["/x/a.flac", "/srv/y.mp3"])
    else:
        assert found == Path(expected)
