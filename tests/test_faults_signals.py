"""Real signals to real sweep processes: SIGTERM and Ctrl-C leave no trial RUNNING in
either store and print one line; two sweeps started at once on a fresh runs/ both work."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import optuna
import pytest
from test_sweep import complete_params, load_study, new_tracking_uri, runs, tiny_experiment
from test_sweep_processes import alive, as_a_terminal_job, env, sweep_command, wait_for

pytestmark = pytest.mark.slow


def start(exp: Path, uri: str, folder: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(sweep_command(exp, uri, *extra), cwd=folder, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True,  # its own group, as a terminal's job
                            preexec_fn=as_a_terminal_job)


def trials(folder: Path) -> list[optuna.trial.FrozenTrial]:
    try:
        return load_study(folder).trials
    except (KeyError, FileNotFoundError):  # not created yet
        return []


def training(folder: Path) -> bool:
    """A trial past its first epoch (an MLflow run open, mid-way)."""
    return any(t.state.name == "RUNNING" and t.intermediate_values for t in trials(folder))


def assert_nothing_running(folder: Path, uri: str, reason: str) -> None:
    """No trial RUNNING in Optuna or MLflow; each stopped one FAIL with `reason` there and
    in MLflow, and queued again."""
    study = trials(folder)
    assert "RUNNING" not in {t.state.name for t in study}
    stopped = [t for t in study if t.user_attrs.get("fail_reason", "").startswith(reason)]
    assert stopped
    retried = {t.user_attrs.get("harness.retry_of") for t in study}
    assert all(t.number in retried for t in stopped)
    _, children = runs(uri)
    assert "RUNNING" not in {r.info.status for r in children}
    by_number = {int(r.data.tags["trial_number"]): r for r in children}
    for t in stopped:
        if t.number in by_number:
            run = by_number[t.number]
            assert run.info.status == "FAILED" and run.data.tags["fail_reason"].startswith(
                reason)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_fails_running_trials_in_both_stores(workers: str, tmp_path: Path) -> None:
    """What a batch scheduler or `docker stop` sends: before, trials stayed RUNNING."""
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=6)
    proc = start(exp, uri, tmp_path, "--workers", workers)
    try:
        wait_for(lambda: training(tmp_path), 600, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        stderr = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("terminated (SIGTERM)")
    pids = {t.system_attrs["harness.worker"]["pid"] for t in trials(tmp_path)
            if "harness.worker" in t.system_attrs}
    assert not any(alive(pid) for pid in pids)
    assert_nothing_running(tmp_path, uri, "terminated (SIGTERM)")


def test_ctrl_c_on_two_workers_is_one_line(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: before, each worker printed a traceback."""
    uri = new_tracking_uri(tmp_path)
    # 40 epochs: on a busy machine 6 could all end before the signal; Ctrl-C stops them
    exp = tiny_experiment(tmp_path, epochs=40)
    proc = start(exp, uri, tmp_path, "--workers", "2")
    try:
        wait_for(lambda: training(tmp_path), 600, proc)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        stderr = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted: "), stderr
    # the workers leave Ctrl-C to the sweep process, which stops them with SIGTERM
    assert_nothing_running(tmp_path, uri, "terminated (SIGTERM)")


def test_two_sweeps_started_at_once_on_a_fresh_runs_folder(tmp_path: Path) -> None:
    """Before: one died with an sqlalchemy traceback creating MLflow's SQLite tables."""
    exp = tiny_experiment(tmp_path, epochs=1)  # 4 grid points
    default = "sqlite:///runs/mlflow.db"  # fresh: nobody has made its tables yet
    procs = [subprocess.Popen(sweep_command(exp, default), cwd=tmp_path, env=env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(2)]
    errors = [p.communicate(timeout=900)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert not any("Traceback" in e for e in errors)
    params = complete_params(load_study(tmp_path))
    assert len(params) == 4 and len(set(params)) == 4
    _, children = runs(f"sqlite:///{tmp_path}/runs/mlflow.db")
    assert sorted(r.info.status for r in children) == ["FINISHED"] * 4


def test_terminated_is_a_keyboard_interrupt() -> None:
    """Terminated is a KeyboardInterrupt: every clean-up path that catches one catches it."""
    from harness.signals import Terminated, exit_status

    exc = Terminated(signal.SIGTERM)
    assert isinstance(exc, KeyboardInterrupt)
    assert exit_status(exc) == (143, "terminated (SIGTERM)")
    assert exit_status(KeyboardInterrupt()) == (130, "interrupted")


def test_a_signal_inside_a_query_leaves_the_store_writable(tmp_path: Path) -> None:
    """A real SIGTERM delivered while an MLflow query's cursor is open on SQLite. Before
    `release_frames`, the cursor lived on in the traceback's frames with SQLite's lock, and
    the stop's own write (the run FAILED) died "database is locked" after 20 s: the Ctrl-C
    test above failed so about one run in 20."""
    from mlflow.tracking import MlflowClient
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from harness.signals import Terminated, release_frames, stop_on_sigterm
    from harness.tracking.runs import Tracker

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run = Tracker("tiny", uri).trial(0, {"frontend": "complex"})
    fired: list[str] = []

    def mid_query(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not fired and statement.lstrip().upper().startswith("SELECT"):
            fired.append(statement)  # executed, rows unread: its cursor holds the lock
            os.kill(os.getpid(), signal.SIGTERM)

    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    stop_on_sigterm()
    event.listen(Engine, "after_cursor_execute", mid_query)
    try:
        try:
            run.client.get_run(run.run_id)
        except Terminated as exc:
            release_frames(exc)
            Tracker("tiny", uri).client.set_terminated(run.run_id, "FAILED")  # the clean-up
        else:
            pytest.fail("the signal did not interrupt the query")
    finally:
        event.remove(Engine, "after_cursor_execute", mid_query)
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    assert fired
    assert MlflowClient(uri).get_run(run.run_id).info.status == "FAILED"
