"""Faults in the data folder end in one line, never in a silently smaller data set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.cli import main
from harness.data import cache_dataset, load_splits
from harness.errors import HarnessError


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_empty_word_folder_is_named_not_dropped(speech_commands: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's example: an empty word folder lost a class and prepare exited 0."""
    (speech_commands / "stop").mkdir()
    with pytest.raises(HarnessError, match=r"word folder .*stop holds no clips.*'stop'"):
        load_splits(None, root=speech_commands)
    err = one_line_error(["data", "prepare", "--root", str(speech_commands)], capsys)
    assert "stop" in err and "remove the folder" in err


def test_word_folder_without_clip_names_is_named(speech_commands: Path) -> None:
    """A folder whose WAVs do not follow SPEAKER_nohash_N.wav is as good as empty."""
    (speech_commands / "up").mkdir()
    sf.write(speech_commands / "up" / "take1.wav", np.zeros(16_000, np.float32), 16_000)
    with pytest.raises(HarnessError, match=r"up holds no clips.*SPEAKER_nohash_N"):
        cache_dataset(None, root=speech_commands)


def test_broken_link_as_word_folder(speech_commands: Path) -> None:
    (speech_commands / "go").symlink_to(speech_commands.parent / "gone")
    with pytest.raises(HarnessError, match=r"go is a broken link"):
        cache_dataset(None, root=speech_commands)


def test_named_data_set_with_an_empty_word_folder(speech_commands: Path) -> None:
    """With a dataset name too, the error names the folder rather than a word list diff."""
    (speech_commands / "zero").mkdir()
    with pytest.raises(HarnessError, match="zero holds no clips"):
        cache_dataset(None, root=speech_commands)


def test_noise_and_hidden_folders_are_not_words(speech_commands: Path) -> None:
    (speech_commands / ".cache").mkdir()
    (speech_commands / "_unknown_").mkdir()
    assert cache_dataset(None, root=speech_commands).labels == ["no", "off", "on", "yes"]


def test_unreadable_word_folder(speech_commands: Path) -> None:
    """chmod 000 on a word folder: the walk skipped it. Root reads anything, so the check
    runs as `nobody` in a subprocess when the tests run as root."""
    folder = speech_commands / "yes"
    folder.chmod(0)
    code = ("import sys; from harness.data.speech_commands import list_clips\n"
            "from harness.errors import HarnessError\n"
            "try: list_clips(sys.argv[1])\n"
            "except HarnessError as e: print(e); sys.exit(2)\n")
    cmd = [sys.executable, "-c", code, str(speech_commands)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot drop the permission")
        for parent in [speech_commands, *speech_commands.parents]:  # let nobody reach it
            if parent == Path("/tmp") or parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o005)
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
        if subprocess.run([*cmd[:5], sys.executable, "-c", "import harness"],
                          capture_output=True, cwd=Path(__file__).parents[1]).returncode:
            folder.chmod(0o755)
            pytest.skip("running as root, and `nobody` cannot run this Python")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                             cwd=Path(__file__).parents[1])
    finally:
        folder.chmod(0o755)
    assert out.returncode == 2, out.stderr
    assert "yes cannot be read" in out.stdout


def test_unreadable_list_file(speech_commands: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    (speech_commands / "testing_list.txt").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(HarnessError, match=r"testing_list.txt cannot be read.*not UTF-8"):
        load_splits(None, root=speech_commands)


def test_stale_generation_folders_are_removed(tmp_path: Path) -> None:
    """A generation killed half-way left `.NAME.tmp-*` (49 MB) that no later run removed."""
    from harness.data.staging import remove_stale, stale_marker

    out = tmp_path / "synth_commands_small"
    dead = tmp_path / ".synth_commands_small.tmp-dead"
    dead.mkdir()
    (dead / "yes").mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a PID that is gone
    stale_marker(dead, pid=proc.pid)
    old = tmp_path / ".synth_commands_small.tmp-old"  # no marker: older than a day
    old.mkdir()
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    live = tmp_path / ".synth_commands_small.tmp-live"  # this process: still writing
    live.mkdir()
    stale_marker(live)
    other = tmp_path / ".other.tmp-x"
    other.mkdir()
    assert sorted(p.name for p in remove_stale(out)) == [dead.name, old.name]
    assert not dead.exists() and not old.exists() and live.exists() and other.exists()
