"""A setting wrong for every trial fails once, before any trial exists, or stops the sweep;
failed trials can be queued again; a trial that kills its worker every time ends FAIL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from test_sweep import load_study, new_tracking_uri, runs, tiny_experiment
from test_sweep_processes import env

from harness import report as rp
from harness.cli import main
from harness.sweep.experiment_file import load_experiment
from harness.sweep.faults import MAX_RETRY, FirstFailures
from harness.sweep.plan import SweepPlan
from harness.sweep.queue import TrialQueue, fill_queue
from harness.tracking.runs import Tracker

pytestmark = pytest.mark.slow


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return new_tracking_uri(tmp_path)


def sweep(exp: Path, uri: str, capsys: pytest.CaptureFixture[str], *extra: str,
          ) -> tuple[int, str]:
    code = main(["sweep", str(exp), "--tracking-uri", uri, *extra])
    return code, capsys.readouterr().err


def no_trials(folder: Path) -> bool:
    journal = folder / "runs" / "optuna" / "tiny.journal"
    return not journal.exists() or not journal.stat().st_size


@pytest.mark.parametrize("device", ["tpu", "cuda:7"])
def test_bad_device_fails_before_any_trial(device: str, tmp_path: Path, tracking_uri: str,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`--device cuda` without CUDA created every trial and failed each, exit 0."""
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    exp = tiny_experiment(tmp_path, epochs=1)
    monkeypatch.chdir(tmp_path)
    code, err = sweep(exp, tracking_uri, capsys, "--device", device)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: device")
    assert "--device" in err and no_trials(tmp_path)


def _missing_root(folder: Path, exp: Path) -> str:
    exp.write_text(exp.read_text().replace(str(folder / "sc"), str(folder / "gone")))
    return "gone does not exist"


def _broken_clip(folder: Path, exp: Path) -> str:
    (folder / "sc" / "yes" / "bad_nohash_0.wav").write_bytes(b"RIFF not really")
    return "bad_nohash_0.wav"


@pytest.mark.parametrize("spoil", [_missing_root, _broken_clip])
def test_bad_data_fails_before_any_trial(spoil: Callable[[Path, Path], str], tmp_path: Path,
                                         tracking_uri: str, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing [data] root or a broken clip: checked once in the parent, not per trial."""
    exp = tiny_experiment(tmp_path, epochs=1)
    expected = spoil(tmp_path, exp)
    monkeypatch.chdir(tmp_path)
    code, err = sweep(exp, tracking_uri, capsys)
    assert code == 2 and err.count("\n") == 1 and expected in err
    assert no_trials(tmp_path)


def test_first_trials_failing_alike_stop_the_sweep(tmp_path: Path, tracking_uri: str,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """lr 1e30: every trial's loss is NaN within steps, which nothing can check before it
    runs. The sweep stops after 3 (not 4) with one error line, exit 2."""
    exp = tiny_experiment(tmp_path, epochs=1)
    exp.write_text(exp.read_text().replace("batch_size = 8", "batch_size = 8\nlr = 1e30"))
    monkeypatch.chdir(tmp_path)
    code, err = sweep(exp, tracking_uri, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and lines[-1].startswith("error: the first 3 trial(s) all failed with: ")
    assert "--retry-failed" in lines[-1] and "Traceback" not in err
    states = sorted(t.state.name for t in load_study(tmp_path).trials)
    assert states == ["FAIL", "FAIL", "FAIL", "WAITING"]
    _, children = runs(tracking_uri)  # a NaN loss (DivergedError, matched by type): tagged
    assert [r.data.tags["diverged"].startswith("DivergedError") for r in children] == [True] * 3


def test_first_failures_rule() -> None:
    streak = FirstFailures(todo=10)
    assert streak.add("FAIL", "RuntimeError: x\nmore") is None
    assert streak.add("FAIL", "RuntimeError: x") is None
    assert "RuntimeError: x" in (streak.add("FAIL", "RuntimeError: x") or "")
    assert streak.add("FAIL", "RuntimeError: x") is None  # said once
    mixed = FirstFailures(todo=10)
    assert [mixed.add("FAIL", r) for r in ("a", "b", "a")] == [None] * 3
    ok_first = FirstFailures(todo=10)
    assert [ok_first.add(s, "a") for s in ("COMPLETE", "FAIL", "FAIL", "FAIL")] == [None] * 4
    assert FirstFailures(todo=1).add("FAIL", "a")  # a sweep of one trial that fails


def test_retry_failed_requeues_fail_trials(tmp_path: Path, tracking_uri: str,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial failed by a cause since fixed (CUDA out of memory, a full disk) is never
    run again by a plain re-run; --retry-failed runs it, and the report counts the retry."""
    exp = tiny_experiment(tmp_path, epochs=1, seeds="[0]")
    monkeypatch.chdir(tmp_path)
    plan = SweepPlan.create(load_experiment(exp), None, tracking_uri)
    fill_queue(plan)
    queue = TrialQueue(plan)
    trial = queue.claim()
    assert trial is not None
    point = queue.frozen(trial.number).system_attrs["fixed_params"]
    run = Tracker("tiny", tracking_uri).trial(trial.number, plan.experiment.params(point),
                                              tags={"harness.key": trial.user_attrs[
                                                  "harness.key"]})
    run.finish("FAIL", "OutOfMemoryError: CUDA")
    assert queue.fail(trial.number, "OutOfMemoryError: CUDA")
    code, err = sweep(exp, tracking_uri, capsys)
    assert code == 0 and "1 complete, 1 fail" in err
    code, err = sweep(exp, tracking_uri, capsys)
    assert code == 0 and "2 trials finished, 0 to run" in err  # FAIL is not re-run
    code, err = sweep(exp, tracking_uri, capsys, "--retry-failed")
    assert code == 0 and "1 to run" in err and "2 complete" in err
    states = sorted(t.state.name for t in TrialQueue(plan).trials())
    assert states == ["COMPLETE", "COMPLETE"]
    retry = [t for t in load_study(tmp_path).trials if "harness.retry_of" in t.user_attrs]
    assert [t.user_attrs["harness.retry_of"] for t in retry] == [trial.number]
    table = rp.comparison_table(rp.load("tiny", tracking_uri))  # the retry, not the attempt
    assert (table["complete"].sum(), table["failed"].sum()) == (2, 0)


KILL_ME = """
import os, signal, sys
from harness.sweep.experiment_file import load_experiment
from harness.sweep.faults import recover
from harness.sweep.plan import SweepPlan
from harness.sweep.queue import TrialQueue
from harness.tracking.runs import Tracker
plan = SweepPlan.create(load_experiment(sys.argv[1]), None, sys.argv[2])
queue = TrialQueue(plan)
tracker = Tracker("tiny", sys.argv[2])
recover(queue, tracker)
trial = queue.claim()
if trial is None:
    sys.exit(3)
tracker.trial(trial.number, {"frontend": "complex", "model": "seed_cnn"})
os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would, mid-trial
"""


def test_a_trial_that_kills_its_worker_every_time_ends_fail(tmp_path: Path,
                                                            tracking_uri: str) -> None:
    """Re-queued for ever before: now 1 + MAX_RETRY attempts, then FAIL with its reason
    in both stores."""
    exp = tiny_experiment(tmp_path, epochs=1, space='frontend = ["complex"]', seeds="[0]")
    os.chdir(tmp_path)  # the journal goes under runs/ here
    try:
        fill_queue(SweepPlan.create(load_experiment(exp), None, tracking_uri))
        for _ in range(1 + MAX_RETRY):
            out = subprocess.run([sys.executable, "-c", KILL_ME, str(exp), tracking_uri],
                                 cwd=tmp_path, env=env(), capture_output=True, timeout=120)
            assert out.returncode == -9, out.stderr.decode()
        out = subprocess.run([sys.executable, "-c", KILL_ME, str(exp), tracking_uri],
                             cwd=tmp_path, env=env(), capture_output=True, timeout=120)
        assert out.returncode == 3, out.stderr.decode()  # nothing left to claim
    finally:
        os.chdir(Path(__file__).parents[1])
    trials = load_study(tmp_path).trials
    assert [t.state.name for t in trials] == ["FAIL"] * (1 + MAX_RETRY)
    assert f"each of its {1 + MAX_RETRY} attempts" in trials[-1].user_attrs["fail_reason"]
    _, children = runs(tracking_uri)
    assert len(children) == 1 + MAX_RETRY
    assert {r.info.status for r in children} == {"FAILED"}
    last = max(children, key=lambda r: int(r.data.tags["trial_number"]))
    assert "attempts" in last.data.tags["fail_reason"]

