"""Trials that fail: how often one whose worker died runs again, re-queueing failed ones,
and stopping a sweep whose first trials all fail alike.

    requeue(study, trial)                # run it again (the cap: MAX_RETRY retries)
    retry_failed(TrialQueue(plan))       # `harness sweep --retry-failed`: FAIL -> WAITING
    streak = FirstFailures(todo)
    if (why := streak.add("FAIL", reason)): stop the sweep, raise HarnessError(why)

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
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from harness.tracking.names import ATTEMPT, FIXED, KEY, RETRY_OF, SLOT

MAX_RETRY = 2          # a trial whose worker died runs at most 1 + MAX_RETRY times
STOP_AFTER = 3         # the first this many trials of a sweep all failing alike stop it
DIED = "its worker process died"


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
