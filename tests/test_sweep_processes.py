"""Real processes on one study: a sweep killed with SIGKILL and re-run, and two workers.

Each test starts fresh Python processes (torch and MLflow imports included), so they
are the slowest of the sweep tests; the trials themselves are tiny.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from test_sweep import REPO, complete_params, load_study, new_tracking_uri, runs, tiny_experiment

from harness.cli import main
from harness.training.gpu_stats import GPU_METRICS

pytestmark = pytest.mark.slow


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return new_tracking_uri(tmp_path)


def sweep_command(exp: Path, uri: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "harness", "sweep", str(exp), "--tracking-uri", uri, *extra]


def env() -> dict[str, str]:
    """This environment with the checkout importable (it may not be pip-installed)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def as_a_terminal_job() -> None:
    """Popen's preexec_fn: SIGINT handled as a shell's foreground job has it. A suite started
    in the background of a non-interactive shell (`nox -s tests &`) passes SIGINT down
    ignored, and a child that inherits SIG_IGN never turns Ctrl-C into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped by whoever adopted it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float,
             proc: subprocess.Popen[bytes]) -> None:
    """Poll `predicate` until true; fail if `proc` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline, "timed out waiting for the sweep"
        time.sleep(0.2)


def test_killed_sweep_resumes_without_duplicates(tmp_path: Path, tracking_uri: str) -> None:
    """SIGKILL a two-worker sweep mid-trial: its workers die with it, and a re-run
    re-does the killed trials and ends with exactly the grid, each point once."""
    exp = tiny_experiment(tmp_path, epochs=6)  # 2 front-ends x 2 seeds
    proc = subprocess.Popen(sweep_command(exp, tracking_uri, "--workers", "2"), cwd=tmp_path,
                            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = tmp_path / "runs" / "optuna" / "tiny.journal"

    def trials() -> list[optuna.trial.FrozenTrial]:
        try:
            return load_study(tmp_path).trials if journal.exists() else []
        except KeyError:  # the study is not created yet
            return []

    def mid_way() -> bool:  # one trial done, another past its first epoch but not its last
        states = [(t.state.name, len(t.intermediate_values)) for t in trials()]
        return any(s == "COMPLETE" for s, _ in states) and any(
            s == "RUNNING" and 0 < n < 5 for s, n in states)

    try:
        wait_for(mid_way, 600, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        stderr = proc.communicate()[1].decode()
    assert proc.returncode == -signal.SIGKILL, stderr
    running = [t for t in trials() if t.state.name == "RUNNING"]
    assert running  # nobody could mark them
    pids = {t.system_attrs["harness.worker"]["pid"] for t in running}
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"workers {pids} outlived their parent"
        time.sleep(0.5)

    done = subprocess.run(sweep_command(exp, tracking_uri), cwd=tmp_path, env=env(),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr

    study = load_study(tmp_path)
    params = complete_params(study)
    assert len(params) == 4 and len(set(params)) == 4  # exactly the grid, once each
    killed = {t.number: t for t in study.trials if t.number in {r.number for r in running}}
    assert all(t.state.name == "FAIL" and "died" in t.user_attrs["fail_reason"]
               for t in killed.values())
    retries = {t.user_attrs["harness.retry_of"]: t for t in study.trials
               if "harness.retry_of" in t.user_attrs}
    assert set(retries) == set(killed)
    for n, t in killed.items():  # the same point again (fixed_params: killed before suggest)
        assert retries[n].params == {**t.system_attrs.get("fixed_params", {}), **t.params}
    assert {t.state.name for t in retries.values()} == {"COMPLETE"}

    _, children = runs(tracking_uri)
    dead = [r for r in children if int(r.data.tags["trial_number"]) in killed]
    assert all(r.info.status == "FAILED" and r.data.tags["state"] == "FAIL"
               and "died" in r.data.tags["fail_reason"] for r in dead)
    states = sorted((r.data.tags["state"], r.info.status) for r in children)
    assert states == [("COMPLETE", "FINISHED")] * 4 + [("FAIL", "FAILED")] * len(dead)


def test_two_workers_run_exactly_the_grid(tmp_path: Path, tracking_uri: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    exp = tiny_experiment(tmp_path, epochs=1)  # 2 front-ends x 2 seeds
    monkeypatch.chdir(tmp_path)  # this process is the parent; the workers are spawned
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri, "--workers", "2",
                 "--device", "cpu"]) == 0

    study = load_study(tmp_path)
    params = complete_params(study)
    assert len(params) == 4 and len(set(params)) == 4
    assert len(study.trials) == 4  # nothing failed, nothing ran twice
    workers = {t.system_attrs["harness.worker"]["pid"] for t in study.trials}
    assert len(workers) == 2 and os.getpid() not in workers
    _, children = runs(tracking_uri)
    assert sorted(r.data.tags["trial_number"] for r in children) == list("0123")
    assert {r.data.tags["state"] for r in children} == {"COMPLETE"}
    # Each run has its own throughput, measured in its own process, and no GPU figure.
    for r in children:
        assert r.data.tags["device"] == "cpu"
        assert {"train_step_ms", "train_samples_per_s_median", "eval_samples_per_s_median",
                "peak_memory_mb"} <= set(r.data.metrics)
        assert not set(GPU_METRICS) & set(r.data.metrics)
    assert len({r.data.metrics["train_step_ms"] for r in children}) == 4
