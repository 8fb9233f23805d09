"""Trials that fail: how often one whose worker died runs again, re-queueing failed ones,
and stopping a sweep whose first trials all fail alike.

    requeue(study, trial)                # run it again (the cap: MAX_RETRY retries)
    recover(queue, tracker)              # RUNNING trials whose worker died: FAIL, queued again
    retry_failed(TrialQueue(plan))       # `harness sweep --retry-failed`: FAIL -> WAITING
    streak = FirstFailures(todo)
    if (why := streak.add("FAIL", reason)): stop the sweep, raise HarnessError(why)
    raise store_full(exc, "trial 3's MLflow run", plan)   # a full disk: one line

Optuna has the mechanism for dead workers on RDB storages: a heartbeat and
`RetryFailedTrialCallback(max_retry)`, which re-adds a stale trial with its parameters and
a `retry_history`. It falls short here in three ways: journal files (the default storage)
have no heartbeat, so `fail_stale_trials` never fires; a worker on the same host that is
gone is known at once from its PID, without waiting a grace period; and the callback copies
every user attribute (`mlflow_run_id`, `fail_reason`) into the retry. So the harness keeps
its own re-queue (`requeue`, also the heartbeat callback on RDB storages) and counts
attempts the way the callback counts its history: an attempt number on each trial.
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import RDBStorage, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from harness.disk import full_message, is_sqlite_full, written_path
from harness.errors import HarnessError
from harness.processes import alive
from harness.sweep.heartbeat import grace
from harness.tracking.names import (
    ATTEMPT,
    FAIL_REASON,
    FIXED,
    HEARTBEAT,
    KEY,
    RETRY_OF,
    SLOT,
    WORKER,
)
from harness.tracking.store_check import sqlite_path

if TYPE_CHECKING:
    from harness.tracking.runs import Tracker

MAX_RETRY = 2          # a trial whose worker died runs at most 1 + MAX_RETRY times
STOP_AFTER = 3         # the first this many trials of a sweep all failing alike stop it
DIED = "its worker process died"
FULL_FIX = ("free space there, then run the sweep again: the finished trials are kept, the "
            "unfinished ones run then")


def gave_up(attempts: int) -> str:
    """The fail reason of a trial whose worker died on every attempt."""
    return (f"{DIED} on each of its {attempts} attempts (killed by the system: out of "
            f"memory?); not retried again (`harness sweep --retry-failed` runs it once more)")


def may_retry(trial: FrozenTrial) -> bool:
    """Whether a trial whose worker died gets another attempt."""
    return int(trial.user_attrs.get(ATTEMPT, 1)) <= MAX_RETRY


def requeue(study: optuna.Study, trial: FrozenTrial, *, died: bool = True) -> bool:
    """Queue a failed trial's parameters again (also Optuna's heartbeat callback).

    `died`: its worker died, which counts towards the cap; an interruption or
    `--retry-failed` does not. False (nothing queued) once the cap is reached.
    """
    attempt = int(trial.user_attrs.get(ATTEMPT, 1))
    if died and attempt > MAX_RETRY:
        return False
    params = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
    keep = {k: v for k, v in trial.user_attrs.items() if k in (FIXED, KEY, SLOT)}
    study.enqueue_trial(params, user_attrs={
        **keep, RETRY_OF: trial.number, ATTEMPT: attempt + 1 if died else 1})
    return True


def recover(queue: Any, tracker: Tracker | None = None) -> None:
    """Fail and re-queue the RUNNING trials of `queue` (a harness.sweep.queue.TrialQueue) whose
    process is gone; close their MLflow runs."""
    rdb = isinstance(queue.storage, RDBStorage)
    if rdb:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            fail_stale_trials(queue.study)  # Optuna's heartbeat; re-queues via `requeue`
    now = time.time()
    for t in queue.trials(TrialState.RUNNING):
        if not _abandoned(t, now, rdb):
            continue
        retry = may_retry(t)  # else the cap: it killed its worker every time (OOM?)
        if queue.fail(t.number, DIED if retry else gave_up(t.user_attrs.get(ATTEMPT, 1))):
            requeue(queue.study, queue.frozen(t.number))
    if tracker is not None:  # MLflow runs of trials that failed while RUNNING there
        tracker.fail_orphans({t.number: t.user_attrs.get(FAIL_REASON) or DIED
                              for t in queue.study.get_trials(
                                  deepcopy=False, states=(TrialState.FAIL,))}, DIED)
        tracker.close_finished({t.number: (t.state.name, t.user_attrs.get(FAIL_REASON, ""))
                                for t in queue.study.get_trials(deepcopy=False)
                                if t.state.is_finished()})  # killed after telling Optuna


def _abandoned(t: FrozenTrial, now: float, rdb: bool) -> bool:
    """Is this RUNNING trial's process gone (same host), or silent for too long (journal)?"""
    worker = t.system_attrs.get(WORKER)
    if worker and alive(worker) is False:
        return True  # gone, a zombie, or its PID now another process's
    if rdb:
        return False  # Optuna's heartbeat decides for the other hosts
    started = t.datetime_start.timestamp() if t.datetime_start else now
    return now - float(t.system_attrs.get(HEARTBEAT, started)) > grace()


def retry_failed(queue: Any) -> int:
    """Queue every FAIL trial of the plan (a harness.sweep.queue.TrialQueue) again; how many."""
    failed = [t for t in queue.trials(TrialState.FAIL)]
    for t in failed:
        requeue(queue.study, t, died=False)
    return len(failed)


def gist(reason: str) -> str:
    """A fail reason's first line, numbers left out: what two failures of one cause share
    ("loss is nan at epoch 1, step 3" and "... step 5")."""
    line = (reason or "no reason recorded").strip().splitlines()[0][:300]
    return re.sub(r"\d+(\.\d*)?(e[-+]?\d+)?", "#", line)


class FirstFailures:
    """Watches a sweep's first trials: when the first `n` all FAIL with one reason, that
    reason is wrong for every trial (a bad device, a broken data set) and the sweep stops.

    n is STOP_AFTER, or fewer when the sweep has fewer to run; any trial that does not
    fail disarms it.
    """

    def __init__(self, todo: int, n: int = STOP_AFTER) -> None:
        self.n = max(1, min(n, todo))
        self.reasons: list[str] = []
        self.armed = todo > 0

    def add(self, state: str, reason: str = "") -> str | None:
        """The message to stop with, once; None otherwise."""
        if not self.armed:
            return None
        if state != "FAIL":
            self.armed = False
            return None
        self.reasons.append(reason)
        if len(self.reasons) < self.n:
            return None
        self.armed = False
        if len({gist(r) for r in self.reasons}) > 1:
            return None
        first = (self.reasons[0] or "no reason recorded").strip().splitlines()[0][:300]
        return (f"the first {self.n} trial(s) all failed with: {first}; stopped "
                "before the rest. Fix the cause, then re-run with --retry-failed")


def store_full(exc: BaseException, what: str, plan: Any) -> HarnessError:
    """The one line for a full disk under a sweep's stores (`plan`: a SweepPlan): `what`
    was being written, in the folder of the file that was (an artifact), else of the store
    the error comes from: an OSError naming no file is the journal's append, SQLite's
    SQLITE_FULL the SQLite store's (MLflow's, unless only Optuna's is SQLite). The sweep
    stops; its re-run recovers (FULL_FIX)."""
    path = written_path(exc)
    if path is None:
        journal = "://" not in plan.storage
        sqlite = is_sqlite_full(exc)
        mlflow_db = sqlite_path(plan.tracking_uri)
        store = (Path(plan.storage) if journal and not sqlite
                 else mlflow_db or sqlite_path(plan.storage) or Path(plan.storage))
        what = f"{what} ({'the Optuna journal' if journal and not sqlite else 'SQLite'})"
        path = store
    return HarnessError(full_message(what, path.parent, FULL_FIX))
