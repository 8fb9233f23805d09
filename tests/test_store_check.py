"""Broken store files are found before MLflow or Optuna open them, and kept as they are:
real stores (an MLflow SQLite store, an Optuna SQLite storage) broken the ways copies and
disks break them."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from test_sweep import new_tracking_uri

from harness.errors import HarnessError
from harness.tracking.store_check import (
    check_mlflow_store,
    check_optuna_storage,
    sqlite_path,
    sqlite_problem,
)


# Module-wide: the checks only read, and each broken copy has a name of its own.
@pytest.fixture(scope="module")
def mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MLflow SQLite store (its tables made), alone in its folder."""
    return Path(new_tracking_uri(tmp_path_factory.mktemp("m")).removeprefix("sqlite:///"))


@pytest.fixture(scope="module")
def optuna_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Optuna SQLite storage holding one study with one finished trial."""
    path = tmp_path_factory.mktemp("o") / "optuna.db"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{path}")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    return path


def _broken(path: Path, how: str) -> Path:
    """A copy of the database at `path`, broken `how`; beside it."""
    data = path.read_bytes()
    out = path.with_name(f"{how}-{path.name}")
    if how == "junk":
        out.write_bytes(b"not a database, a file of another kind\n" * 200)
    elif how == "truncated":  # a copy cut off half-way
        out.write_bytes(data[:len(data) // 2])
    elif how == "stub":  # cut off inside the header
        out.write_bytes(data[:60])
    elif how == "scribbled":  # its first page (the schema) overwritten after the header
        out.write_bytes(data[:100] + b"\xff" * 900 + data[1000:])
    return out


@pytest.mark.parametrize(("how", "why"), [
    ("junk", "not an SQLite database (junk, or a file of another kind)"),
    ("truncated", "truncated: "),
    ("stub", "truncated: 60 bytes, not even SQLite's 100-byte header"),
    ("scribbled", "damaged (SQLite: "),
])
def test_a_broken_mlflow_store_is_one_line_and_kept(mlflow_db: Path, how: str,
                                                    why: str) -> None:
    broken = _broken(mlflow_db, how)
    before = broken.read_bytes()
    with pytest.raises(HarnessError) as caught:
        check_mlflow_store(f"sqlite:///{broken}")
    message = str(caught.value)
    assert message.startswith(f"{broken} is not a usable MLflow store: {why}"), message
    assert message.endswith(f"It is left as it is: move it aside (mv {broken} {broken}.broken)"
                            " to start a new store there, or pass --tracking-uri to another "
                            "store")
    assert "\n" not in message and broken.read_bytes() == before


@pytest.mark.parametrize("how", ["junk", "truncated", "scribbled"])
def test_a_broken_optuna_storage_is_one_line_and_kept(optuna_db: Path, how: str) -> None:
    broken = _broken(optuna_db, how)
    before = broken.read_bytes()
    with pytest.raises(HarnessError) as caught:
        check_optuna_storage(f"sqlite:///{broken}")
    message = str(caught.value)
    assert message.startswith(f"{broken} is not a usable Optuna storage: ")
    assert f"move it aside (mv {broken} {broken}.broken) and run again" in message
    assert "--storage" in message and broken.read_bytes() == before


def test_each_store_refuses_the_other_ones_file(mlflow_db: Path, optuna_db: Path) -> None:
    """Opened, each would have added its tables to the other's file."""
    before = optuna_db.read_bytes(), mlflow_db.read_bytes()
    with pytest.raises(HarnessError, match=r"an SQLite database with an Optuna storage's "
                                           r"tables \(alembic_version, studies, "):
        check_mlflow_store(f"sqlite:///{optuna_db}")
    with pytest.raises(HarnessError, match=r"an SQLite database with an MLflow store's tables"):
        check_optuna_storage(f"sqlite:///{mlflow_db}")
    assert (optuna_db.read_bytes(), mlflow_db.read_bytes()) == before


def test_sound_new_and_remote_stores_pass(mlflow_db: Path, optuna_db: Path,
                                         tmp_path: Path) -> None:
    check_mlflow_store(f"sqlite:///{mlflow_db}")
    check_optuna_storage(f"sqlite:///{optuna_db}")
    (tmp_path / "empty.db").touch()  # what `touch` or an interrupted first open leaves
    for store in (f"sqlite:///{tmp_path / 'absent.db'}", f"sqlite:///{tmp_path / 'empty.db'}",
                  "http://127.0.0.1:5000", "postgresql://u@host/db", "sqlite:///:memory:"):
        check_mlflow_store(store)
        check_optuna_storage(store)
    assert sqlite_problem(tmp_path / "absent.db") is None
    assert sqlite_path("sqlite:///runs/mlflow.db") == Path("runs/mlflow.db")
    assert sqlite_path("sqlite:////abs/o.db?timeout=5") == Path("/abs/o.db")


def test_a_copy_of_a_sound_store_is_sound(mlflow_db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    shutil.copy(mlflow_db, copy)
    assert sqlite_problem(copy) is None


@pytest.mark.parametrize("command", ["sweep", "report", "ui", "evaluate", "stream"])
def test_every_command_on_a_junk_mlflow_store_is_one_line(
        command: str, mlflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Before: SQLAlchemy's `(sqlite3.DatabaseError) file is not a database` traceback."""
    from test_sweep import tiny_experiment

    from harness.cli import main

    junk = _broken(mlflow_db, "junk")
    before = junk.read_bytes()
    monkeypatch.chdir(tmp_path)
    uri = ["--tracking-uri", f"sqlite:///{junk}"]
    argv = {"sweep": ["sweep", str(tiny_experiment(tmp_path)), *uri],
            "report": ["report", "tiny", *uri], "ui": ["ui", "--port", "1", *uri],
            "evaluate": ["evaluate", "0" * 32, *uri], "stream": ["stream", "0" * 32, *uri]}
    assert main(argv[command]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {junk} is not a usable MLflow store: not an SQLite database " \
        "(junk, or a file of another kind). It is left as it is: move it aside (mv " \
        f"{junk} {junk}.broken) to start a new store there, or pass --tracking-uri to " \
        "another store\n"
    assert junk.read_bytes() == before
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*"))


@pytest.mark.parametrize("command", ["sweep", "report"])
def test_a_junk_optuna_storage_is_one_line(command: str, optuna_db: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from test_sweep import tiny_experiment

    from harness.cli import main

    broken = _broken(optuna_db, "truncated")
    before = broken.read_bytes()
    monkeypatch.chdir(tmp_path)
    flags = ["--storage", f"sqlite:///{broken}", "--tracking-uri", new_tracking_uri(tmp_path)]
    argv = {"sweep": ["sweep", str(tiny_experiment(tmp_path)), *flags],
            "report": ["report", "tiny", *flags]}
    assert main(argv[command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {broken} is not a usable Optuna storage: truncated: ")
    assert err.count("\n") == 1 and broken.read_bytes() == before
