"""A trial's life in harness/sweep/: its key, the budget of trials, a heartbeat that cannot
be written stopping the trial (a real journal storage whose folder is gone), the heartbeat's
settings, and an idle worker re-running the trial of a machine that went silent."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from test_sweep import load_study, new_tracking_uri, runs, tiny_experiment

from harness.errors import HarnessError
from harness.sweep import heartbeat
from harness.sweep.budget import Budget
from harness.sweep.experiment_file import load_experiment
from harness.sweep.faults import DIED
from harness.sweep.plan import SweepPlan
from harness.sweep.queue import TrialQueue, fill_queue
from harness.sweep.trial_key import TrialKey
from harness.sweep.worker import work
from harness.tracking.names import FAIL_REASON, HEARTBEAT, RETRY_OF, TRACEBACK, WORKER


def test_trial_keys_are_built_and_read_in_one_place() -> None:
    grid = TrialKey.of_grid("ab12", {"seed": 0, "frontend": "complex"})
    assert str(grid) == 'ab12:{"frontend": "complex", "seed": 0}'
    assert TrialKey.parse(str(grid)) == grid
    assert grid.grid_params() == {"frontend": "complex", "seed": 0}
    slot = TrialKey.of_slot("ab12", 3)
    assert str(slot.for_seed(1)) == "ab12:slot3:seed1"
    assert TrialKey.parse("ab12:slot3:seed1") == slot.for_seed(1)
    assert slot.grid_params() is None and TrialKey.parse("").fixed_id == ""


def test_budget_counts_trials_and_closes() -> None:
    budget = Budget(2)
    assert [budget.take() for _ in range(3)] == [True, True, False]
    budget.give_back()
    assert budget.take() and not budget.take()
    unlimited = Budget()
    assert all(unlimited.take() for _ in range(5))
    unlimited.close()  # what the sweep does when its first trials all fail alike
    assert not unlimited.take()


@pytest.mark.slow
def test_a_heartbeat_that_cannot_be_written_stops_the_trial(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Heartbeat errors were swallowed: a worker cut off from the storage trained on unseen
    while another host ran its trial again. Now each failed beat is logged, the trial stops,
    its MLflow run ends FAIL with the reason and traceback, and the worker says why."""
    monkeypatch.setattr(heartbeat, "HEARTBEAT_S", 0.05)
    # not shorter: on a loaded host one journal write can take a second, and a beat that
    # slow stops the trial too (before the storage's folder goes)
    monkeypatch.setattr(heartbeat, "STOP_AFTER_S", 3.0)
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=3, space='frontend = ["log_power"]', seeds="[0]")
    monkeypatch.chdir(tmp_path)
    plan = SweepPlan.create(load_experiment(exp), None, uri)
    fill_queue(plan)
    journal = Path(plan.storage).parent

    def storage_gone(epoch: int, epochs: int) -> None:
        # The storage's disk unmounted mid-trial: its folder gone at once (a rename; rmtree
        # would race the heartbeat's lock file in it)
        journal.rename(tmp_path / "unmounted")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # trains on, as far as this trial knows
            time.sleep(0.05)
        pytest.fail("the trial was not stopped")

    with pytest.raises(HarnessError, match=f"the Optuna storage {plan.storage} refused"):
        work(plan, on_epoch=storage_gone)
    err = capsys.readouterr().err
    assert "trial 0: its heartbeat could not be written" in err and "trying again" in err
    (run,) = runs(uri)[1]
    assert run.info.status == "FAILED"
    reason = run.data.tags[FAIL_REASON]
    assert reason.startswith("HeartbeatLost: trial 0: its heartbeat could not be written")
    folder = Path(MlflowClient(uri).download_artifacts(run.info.run_id, "", str(tmp_path / "a")))
    text = (folder / TRACEBACK).read_text()
    assert "Traceback" in text and "storage_gone" in text
    assert text.strip().splitlines()[-1].endswith(reason.splitlines()[-1])


def test_a_heartbeat_write_that_hangs_stops_the_trial() -> None:
    """Over a pulled cable a heartbeat's database write hangs for minutes rather than fail
    (the cluster check's partition fault): the trial trained on unseen while another machine
    ran it again. Now a watchdog stops it once no beat was written for the stop time."""
    release = threading.Event()
    calls: list[float] = []

    def beat() -> None:
        calls.append(time.monotonic())
        if len(calls) > 1:  # the first write goes through, the second never returns
            release.wait(60)

    deadline = time.monotonic() + 60
    try:
        with pytest.raises(heartbeat.HeartbeatLost,
                           match="trial 3: its heartbeat could not be written for .* "
                                 r"\(the last write has not returned\)"), \
                heartbeat.Heartbeat(beat, "trial 3", interval_s=0.05, stop_after_s=0.5):
            while time.monotonic() < deadline:  # trains on, as far as it knows
                time.sleep(0.01)
    finally:
        release.set()
    assert len(calls) == 2


def test_heartbeat_interval_and_grace_come_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert (heartbeat.interval(), heartbeat.grace()) == (20.0, 120.0)  # the defaults
    assert heartbeat.stop_after() == 60.0
    monkeypatch.setenv(heartbeat.INTERVAL_ENV, "0.5")
    monkeypatch.setenv(heartbeat.GRACE_ENV, "3")
    assert (heartbeat.interval(), heartbeat.grace(), heartbeat.stop_after()) == (0.5, 3.0, 1.5)
    monkeypatch.setenv(heartbeat.GRACE_ENV, "1")  # a live trial would look dead between beats
    with pytest.raises(HarnessError, match="above twice the heartbeat interval"):
        heartbeat.grace()
    for bad in ("soon", "0", "-5", "inf"):
        monkeypatch.setenv(heartbeat.GRACE_ENV, bad)
        with pytest.raises(HarnessError, match=f"{heartbeat.GRACE_ENV}='{bad}': give a number"):
            heartbeat.grace()


@pytest.mark.slow
def test_an_idle_worker_waits_for_a_silent_trial_of_another_host_and_runs_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine switched off mid-trial: its trial stays RUNNING with a heartbeat that ages.
    A worker with nothing else queued used to leave, and the trial waited for the next sweep
    command; now the worker waits out the grace, then fails the trial and runs it again."""
    monkeypatch.setenv(heartbeat.INTERVAL_ENV, "0.2")
    monkeypatch.setenv(heartbeat.GRACE_ENV, "2")
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=1, space='frontend = ["log_power"]', seeds="[0]")
    monkeypatch.chdir(tmp_path)
    plan = SweepPlan.create(load_experiment(exp), None, uri)
    fill_queue(plan)
    queue = TrialQueue(plan)
    dead = queue.claim()  # claimed "on another machine", which then went silent
    assert dead is not None
    queue.storage.set_trial_system_attr(dead._trial_id, WORKER,
                                        {"host": "switched-off", "pid": 1, "start": "1"})
    queue.storage.set_trial_system_attr(dead._trial_id, HEARTBEAT, time.time())
    assert work(plan) == {"COMPLETE": 1}
    trials = load_study(tmp_path).trials
    assert [(t.state.name, t.user_attrs.get(FAIL_REASON)) for t in trials] == [
        ("FAIL", DIED), ("COMPLETE", None)]
    assert trials[1].user_attrs[RETRY_OF] == 0
