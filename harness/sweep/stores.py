"""The two stores of a study, Optuna's and MLflow's: made once, repaired, kept in agreement.

    with creation_lock(plan):            # two sweeps started at once on a fresh runs/
        queue, tracker = TrialQueue(plan), Tracker(...)
    rdb_storage(url, **kwargs)           # Optuna's RDBStorage, two machines at once on a fresh DB
    repair_journal(path)                 # a journal whose last record was torn: cut it off
    disagreement(optuna_study, client, experiment_id)   # one line when their counts differ

Optuna's JournalFileBackend skips a torn last line when it reads, but its next append lands
after the torn bytes, and the two make one line that no longer parses: the study is then
unreadable for good. The repair takes the journal's own lock (so no writer is half-way
through an append), keeps the torn bytes in `<journal>.torn-<time>` and truncates the file
at its last complete record. A record that is corrupt in the middle cannot be dropped
safely (later records depend on it): that is one line naming the file and the line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import random
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileSymlinkLock
from optuna.trial import TrialState

from harness.console import console
from harness.disk import is_full
from harness.errors import HarnessError
from harness.tracking.names import (
    DUPLICATE,
    MLFLOW_RUN_ID,
    RETRY_OF,
    ROLE,
    TRIAL_NUMBER,
)
from harness.tracking.store_check import check_optuna_storage, sqlite_path

MLFLOW_STATE = {"FINISHED": "COMPLETE", "KILLED": "PRUNED", "FAILED": "FAIL",
                "RUNNING": "RUNNING", "SCHEDULED": "RUNNING"}
CREATE_TRIES = 5  # a fresh database's tables, made by another machine at the same moment


def rdb_storage(url: str, **kwargs: Any) -> RDBStorage:
    """Optuna's RDBStorage on `url`, its tables made if missing.

    Two workers started at once on a fresh database both create the tables, and the one
    that loses gets an IntegrityError or ProgrammingError from PostgreSQL's catalog
    (`duplicate key value violates unique constraint "pg_type_typname_nsp_index"`): the
    tables exist by then, so it tries again after a moment (the cluster check lost a worker
    so in two runs of three). A server that refuses the connection (a wrong password, no
    such database or user; preflight only saw its port open) is a HarnessError naming the
    URL without its password.
    """
    import sqlalchemy.exc

    from harness.sweep.preflight import without_password

    def connect() -> RDBStorage:
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, **kwargs)
        except sqlalchemy.exc.OperationalError as exc:
            raise HarnessError(f"--storage {without_password(url)}: cannot connect to the "
                               f"database ({_server_said(exc)}); check the user, password, "
                               "host and database name in the URL") from None

    for _ in range(CREATE_TRIES - 1):
        try:
            return connect()
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            time.sleep(0.2 + random.random())  # apart: both losing twice in step is unlikely
    return connect()


def _server_said(exc: Exception) -> str:
    """A database driver's error as one line: PostgreSQL's `FATAL:` part where it has one."""
    text = str(getattr(exc, "orig", None) or exc)
    text = text.rpartition("FATAL:")[2] if "FATAL:" in text else text
    return " ".join(text.split()) or type(exc).__name__


@contextlib.contextmanager
def creation_lock(storage: str, tracking_uri: str) -> Iterator[None]:
    """An exclusive flock beside the local store files while they are created or opened:
    MLflow's SQLite schema is made by whichever process comes first, and two at once fail
    with an sqlalchemy traceback. Servers need none: an MLflow server makes its schema before
it serves, and a fresh PostgreSQL database is `rdb_storage`'s concern."""
    folder = None
    if (db := sqlite_path(tracking_uri)) is not None:
        folder = db.parent
    elif "://" not in storage:
        folder = Path(storage).parent
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".harness-create.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def repair_journal(path: str | Path) -> str | None:
    """Cut a torn last record off an Optuna journal file; what was done, or None."""
    path = Path(path)
    if not path.is_file() or not path.stat().st_size:
        return None
    lock = JournalFileSymlinkLock(str(path))  # blocks; a dead holder's goes stale in 30 s
    lock.acquire()
    try:
        note = _repair(path)
    finally:
        lock.release()
    if note:
        console.print(f"[yellow]{note}[/]", soft_wrap=True)
    return note


def _repair(path: Path) -> str | None:
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    for number, line in enumerate(lines, start=1):
        try:
            json.loads(line)
        except ValueError:
            raise HarnessError(f"{path} line {number} is corrupt (not a JSON record); restore "
                               "the file from a copy, or move it away to start the study "
                               "again (MLflow keeps the finished runs)") from None
    if not tail:
        return None
    try:
        json.loads(tail)
        with open(path, "ab") as f:  # a whole record without its newline: complete it
            f.write(b"\n")
        return f"{path}: its last record lacked a newline; added"
    except ValueError:
        pass
    keep = Path(f"{path}.torn-{time.strftime('%Y%m%d-%H%M%S')}")
    keep.write_bytes(tail)
    with open(path, "r+b") as f:
        f.truncate(len(data) - len(tail))
    return (f"{path}: its last record was torn (a process killed mid-write, or a full "
            f"disk); cut off, {len(tail)} bytes kept in {keep.name}")


def close_run(run: Any, state: str, reason: str) -> None:
    """`run.finish`, and when the store refuses it (a full disk, a lost server), at least
    the run's status, so it is not RUNNING for good; the sweep goes on either way, and
    `disagreement` reports a run whose state differs from its trial's. A full disk is
    raised (harness.disk.is_full): the next sweep closes the run."""
    try:
        run.finish(state, reason)
    except Exception as exc:  # MlflowException, OSError, sqlalchemy errors
        if is_full(exc):
            raise  # the caller says it in one line and stops: every next write would fail
        console.print(f"[red]MLflow run {run.run_id} could not be finished "
                      f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})[/]")
        with contextlib.suppress(Exception):
            run.client.set_terminated(run.run_id, "FAILED")


def disagreement(study: optuna.Study, client: Any, experiment_id: str) -> str | None:
    """One line when Optuna's trials and MLflow's child runs disagree, else None.

    A trial's run is the one named by its `mlflow_run_id` (else by its number); retried
    and duplicate trials are left out on both sides, as the report leaves them out.
    """
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_OF) for t in trials}
    current = [t for t in trials if t.number not in retried
               and not t.user_attrs.get(DUPLICATE) and t.state != TrialState.WAITING]
    runs = client.search_runs([experiment_id], f"tags.`{ROLE}` = 'trial'",
                              max_results=50_000)
    by_id = {r.info.run_id: r for r in runs}
    by_number: dict[int, list[Any]] = {}
    for r in runs:
        by_number.setdefault(int(r.data.tags.get(TRIAL_NUMBER, -1)), []).append(r)
    claimed = {t.user_attrs.get(MLFLOW_RUN_ID) for t in trials} | {
        r.info.run_id for t in trials if MLFLOW_RUN_ID not in t.user_attrs
        for r in by_number.get(t.number, [])}
    optuna_states = Counter(t.state.name for t in current)
    mlflow_states: Counter[str] = Counter()
    missing, differ = [], []
    for t in current:
        run = by_id.get(t.user_attrs.get(MLFLOW_RUN_ID, "")) or next(
            iter(by_number.get(t.number, [])), None)
        if run is None:
            if t.state != TrialState.FAIL:  # a trial may fail before its run exists
                missing.append(t.number)
            continue
        state = MLFLOW_STATE.get(run.info.status, run.info.status)
        mlflow_states[state] += 1
        if state != t.state.name:
            differ.append(t.number)
    extra = [r for r in runs if r.info.run_id not in claimed]
    for r in extra:
        mlflow_states[MLFLOW_STATE.get(r.info.status, r.info.status)] += 1
    if not (missing or differ or extra):
        return None
    parts = [f"{len(missing)} Optuna trial(s) without an MLflow run ({_few(missing)})"
             if missing else "",
             f"{len(differ)} in another state there ({_few(differ)})" if differ else "",
             f"{len(extra)} MLflow run(s) without an Optuna trial" if extra else ""]
    return (f"Optuna and MLflow disagree: Optuna {_counts(optuna_states)}; MLflow "
            f"{_counts(mlflow_states)}: {'; '.join(p for p in parts if p)}")


def plan_disagreement(storage: Any, study_name: str, tracking_uri: str) -> str | None:
    """`disagreement` for a study by name (a journal path or an RDB URL): None when
    either store does not hold it."""
    from mlflow.tracking import MlflowClient

    if "://" not in str(storage):
        if not Path(storage).is_file():
            return None
        repair_journal(storage)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        storage = JournalStorage(JournalFileBackend(str(storage)))
    elif isinstance(storage, str):
        path = sqlite_path(storage)
        if path is not None and not path.is_file():
            return None  # opened, Optuna would make an empty database there
        check_optuna_storage(storage)  # junk, cut off, another program's: one line
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return None
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(study_name)
    if found is None:
        return (f"Optuna and MLflow disagree: Optuna holds {len(study.trials)} trial(s) of "
                f"{study_name}; MLflow at {tracking_uri} has no such experiment")
    return disagreement(study, client, found.experiment_id)


def _counts(states: Counter[str]) -> str:
    return ", ".join(f"{states[s]} {s.lower()}" for s in ("COMPLETE", "PRUNED", "FAIL",
                                                          "RUNNING") if states[s]) or "none"


def _few(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:5]))
    return f"trials {shown}" + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")
