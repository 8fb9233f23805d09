"""Bad store locations, unwritable output folders and a full disk: one line, within seconds.

Read-only and full folders are real tmpfs mounts where the tests may mount (root in a
container); elsewhere a read-only folder is made with chmod and the full disk is skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sweep import new_tracking_uri, tiny_experiment

from harness.cli import main


def one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()  # MLflow's own log lines from making a store for the test
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nobody listens once it is closed


def mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A read-only folder: a tmpfs mounted ro, else mode 0555 (not read-only to root)."""
    path = tmp_path / "ro"
    mounted = mount_tmpfs(path, "ro,size=1m")
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("root cannot mount here, and ignores file modes")
        path.chmod(0o555)
    yield path
    if mounted:
        subprocess.run(["umount", str(path)], check=False)
    else:
        path.chmod(0o755)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KB tmpfs: smaller than the test data's cache (1.5 MB)."""
    path = tmp_path / "full"
    if not mount_tmpfs(path, "size=256k"):
        pytest.skip("cannot mount a small tmpfs here")
    yield path
    subprocess.run(["umount", str(path)], check=False)


@pytest.fixture
def exp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tiny_experiment(tmp_path, epochs=1)


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("--storage", "redis://localhost/0", "unknown scheme 'redis'"),
    ("--tracking-uri", "ftp://host/x", "unknown scheme 'ftp'"),
    ("--storage", "sqlite:///{tmp}/LICENSE/optuna.db", "cannot make the folder"),
    ("--storage", "{tmp}/LICENSE/x.journal", "cannot make the folder"),
    ("--tracking-uri", "sqlite:///{tmp}/LICENSE/mlflow.db", "cannot make the folder"),
    # an unreachable server: MLflow's client retried for about 4 minutes before
    ("--tracking-uri", "http://127.0.0.1:{port}", "cannot reach 127.0.0.1"),
    ("--storage", "postgresql://harness:secret@127.0.0.1:{port}/optuna", "cannot reach"),
])
def test_bad_store_locations_fail_fast(flag: str, value: str, expected: str, exp: Path,
                                       tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "LICENSE").write_text("a file where a folder is expected\n")
    value = value.format(tmp=tmp_path, port=closed_port())
    argv = ["sweep", str(exp), flag, value]
    if flag == "--storage":
        argv += ["--tracking-uri", new_tracking_uri(tmp_path)]
    err = one_line(argv, capsys)
    assert expected in err and flag.split()[0] in err
    assert "secret" not in err  # a password is never printed
    assert not (tmp_path / "runs" / "optuna" / "tiny.journal").exists() or \
        flag == "--tracking-uri"


def test_read_only_store_folders(read_only: Path, exp: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line(["sweep", str(exp), "--storage", str(read_only / "x.journal"),
                    "--tracking-uri", new_tracking_uri(tmp_path)], capsys)
    assert "--storage" in err and str(read_only) in err
    err = one_line(["sweep", str(exp), "--tracking-uri", f"sqlite:///{read_only}/m.db"],
                   capsys)
    assert "--tracking-uri" in err


def test_unwritable_output_folders(read_only: Path, speech_commands: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a traceback, for --checkpoint only after the whole training."""
    data = ["--root", str(speech_commands), "--model-opt", "width=0.0625", "--epochs", "1"]
    err = one_line(["train", *data, "--checkpoint", str(read_only / "x" / "m.pt")], capsys)
    assert "--checkpoint" in err
    err = one_line(["lr-find", "--root", str(speech_commands), "--out",
                    str(read_only / "lr")], capsys)
    assert "--out" in err and "LR-finder folder" in err
    err = one_line(["report", "tiny", "--out", str(read_only / "r")], capsys)
    assert "--out" in err and "report folder" in err


def test_read_only_data_folder(read_only: Path, speech_commands: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HARNESS_DATA_DIR", str(read_only))
    err = one_line(["data", "prepare", "--root", str(speech_commands)], capsys)
    assert "HARNESS_DATA_DIR" in err


def test_full_disk_while_decoding(full_disk: Path, speech_commands: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The cache is a memmap: on a full tmpfs its writes killed the process (SIGBUS)."""
    monkeypatch.setenv("HARNESS_DATA_DIR", str(full_disk))
    err = one_line(["data", "prepare", "--root", str(speech_commands)], capsys)
    assert "no space left for the decoded cache" in err and "free space" in err
    assert not list((full_disk / "cache").rglob(".tmp-*"))  # nothing half-made left
