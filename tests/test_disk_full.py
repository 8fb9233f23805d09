"""A full disk is one line, leaves nothing a later run would trust, and the re-run after
space is freed completes: on real small tmpfs mounts (tests/disks.py; skipped where this
process may not mount)."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import pytest
from disks import grow, tmpfs

from harness.cli import main
from harness.data.synth import generate
from harness.data.synth_config import SynthConfig
from harness.disk import is_full
from harness.errors import HarnessError

SMALL = SynthConfig(speakers=3, noise_seconds=1.0, babble_streams=1)  # 90 clips, ~3.2 MB


def _files(folder: Path) -> list[str]:
    """Every file under `folder` (folders left out), relative."""
    return sorted(str(Path(d, f).relative_to(folder)) for d, _, fs in os.walk(folder) for f in fs)


def test_preparing_synth_commands_on_a_small_disk_is_one_line_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Before: `OSError: [Errno 28] No space left on device` and a traceback, minutes in."""
    with tmpfs(tmp_path / "disk", "1m") as disk:
        monkeypatch.setenv("HARNESS_DATA_DIR", str(disk))
        assert main(["data", "prepare", "synth_commands"]) == 2
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert errors == [
            f"error: no space left for the synth_commands set (400 speakers) in {disk} "
            "(1.0 MB free, about 398.1 MB needed): free space there, or generate it elsewhere "
            "(HARNESS_DATA_DIR for the named sets); then run again: nothing of this attempt "
            "is left"], err
        assert "Traceback" not in err and os.listdir(disk) == []


def test_generation_that_fills_the_disk_midway_leaves_nothing_and_the_rerun_completes(
        tmp_path: Path) -> None:
    """The bytes are there (so it starts) but the file entries run out at the 5th clip: the
    write fails midway, for real. Growing the mount stands for freeing space."""
    with tmpfs(tmp_path / "disk", "16m", inodes=45) as disk:
        with pytest.raises(HarnessError) as caught:
            generate(disk / "small", config=SMALL)
        message = str(caught.value)
        assert message.startswith(f"no space left for the small set (3 speakers) in {disk} "
                                  "(no file entries (inodes) left): free space there")
        assert "\n" not in message
        assert os.listdir(disk) == []  # the staging folder went with the error
        grow(disk, "16m", inodes=1000)
        out = generate(disk / "small", config=SMALL)
        assert (out / ".complete").is_file() and len(list(out.glob("*/*_nohash_*.wav"))) == 90


def test_decoding_onto_a_full_disk_is_one_line_and_the_rerun_completes(
        tmp_path: Path, speech_commands: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """48 clips need 1.5 MB of cache; 512 kB are there."""
    with tmpfs(tmp_path / "disk", "512k") as disk:
        monkeypatch.setenv("HARNESS_DATA_DIR", str(disk))
        assert main(["data", "prepare", "--root", str(speech_commands)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: no space left for the decoded cache of {speech_commands}"
                              f" (48 clips) in {disk}/cache/sc-"), err
        assert re.search(r"\(5\d\d\.\d kB free, about 1\.5 MB needed\): free space there, "
                         "or set HARNESS_DATA_DIR to a folder with room", err), err
        assert err.count("\n") == 1
        assert _files(disk) == []  # no half-written cache (nor its temp folder)
        grow(disk, "8m")
        assert main(["data", "prepare", "--root", str(speech_commands)]) == 0
        assert [Path(f).name for f in _files(disk)] == ["audio.npy", "index.csv", "meta.json"]


def test_a_full_sqlite_database_is_seen_through_its_wrappers(tmp_path: Path) -> None:
    """SQLite's own "database or disk is full" (as MLflow's and Optuna's stores meet it),
    also when another exception was raised from it."""
    with tmpfs(tmp_path / "disk", "64k") as disk:
        db = sqlite3.connect(disk / "full.db")
        db.execute("CREATE TABLE t (x BLOB)")
        with pytest.raises(sqlite3.OperationalError) as caught:
            for _ in range(1000):
                db.execute("INSERT INTO t VALUES (?)", (b"\0" * 4096,))
                db.commit()
        db.close()
    assert is_full(caught.value)
    try:
        raise RuntimeError("the store's own wrapper") from caught.value
    except RuntimeError as wrapped:
        assert is_full(wrapped)
    assert not is_full(sqlite3.OperationalError("no such table: t"))
