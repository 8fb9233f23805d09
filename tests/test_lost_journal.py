"""A lost Optuna journal restores the finished trials from MLflow into a study that can
finish: each grid point once, every sampled trial counted and learned from. And a sweep
refused before it starts writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from test_sweep import load_study, new_tracking_uri, runs, tiny_experiment

from harness.cli import main

pytestmark = pytest.mark.slow


RANGE = 'frontend = ["magnitude"]\nlr = {low = 1e-3, high = 3e-2, log = true}'


def journal(folder: Path) -> Path:
    return folder / "runs" / "optuna" / "tiny.journal"


def sweep(exp: Path, uri: str, *more: str) -> None:
    assert main(["sweep", str(exp), "--tracking-uri", uri, *more]) == 0


def finished_once(folder: Path, uri: str, n: int, keys: tuple[str, ...]) -> None:
    """The study holds `n` COMPLETE trials, one per point of `keys`, and MLflow exactly
    `n` FINISHED trial runs, one per trial."""
    trials = load_study(folder).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * n, [t.state for t in trials]
    points = {json.dumps({k: t.params[k] for k in keys}, sort_keys=True) for t in trials}
    _, children = runs(uri)
    assert len(points) == n and len(children) == n
    assert {r.info.status for r in children} == {"FINISHED"}
    assert {t.user_attrs["mlflow_run_id"] for t in trials} == {r.info.run_id for r in children}


def test_a_grid_whose_journal_is_lost_twice_finishes(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """2 front-ends x 2 seeds. Before: the 2 trials left failed with `CategoricalDistribution
    does not support dynamic value space` (the restored ones had one-value distributions),
    and no retry could finish the study."""
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=1)
    monkeypatch.chdir(tmp_path)
    sweep(exp, uri, "--trials", "2")
    journal(tmp_path).unlink()
    capsys.readouterr()
    sweep(exp, uri, "--trials", "1")  # 2 restored, 1 run
    err = " ".join(capsys.readouterr().err.split())
    assert "2 finished trial(s) found in MLflow" in err and "1 to run" in err, err
    journal(tmp_path).unlink()  # lost again: 3 restored, the last one run
    sweep(exp, uri)
    finished_once(tmp_path, uri, 4, ("frontend", "seed"))


def test_a_numeric_grid_whose_journal_is_lost_finishes(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=1, seeds="[0]",
                          space='frontend = ["magnitude"]\nlr = [0.01, 0.02]')
    monkeypatch.chdir(tmp_path)
    sweep(exp, uri, "--trials", "1")
    journal(tmp_path).unlink()
    sweep(exp, uri)
    finished_once(tmp_path, uri, 2, ("lr", "seed"))


def test_a_random_study_whose_journal_is_lost_counts_and_learns_from_its_trials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished sampled trial comes back COMPLETE with the distributions a new trial
    draws from and counts against n_trials. Before: both trials ran again (3 runs)."""
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=1, seeds="[0]", space=RANGE,
                          search='sampler = "random"\nn_trials = 2')
    monkeypatch.chdir(tmp_path)
    sweep(exp, uri, "--trials", "1")
    journal(tmp_path).unlink()
    sweep(exp, uri)  # n_trials = 2: the restored one and one more
    finished_once(tmp_path, uri, 2, ("lr", "seed"))
    restored, new = load_study(tmp_path).trials
    assert restored.user_attrs.get("harness.restored") and restored.distributions == \
        new.distributions


def test_a_tpe_study_restores_a_configuration_and_runs_its_missing_seed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Configuration 0 ran on seeds 0 and 1; the journal is lost and so is seed 1's run (a
    store copied mid-way). Seed 0 comes back, seed 1 is queued for it, and configuration
    1 (n_trials = 4: 2 configurations x 2 seeds) runs on both: 4 COMPLETE, 4 runs."""
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=1, seeds="[0, 1]", space=RANGE,
                          search='sampler = "tpe"\nn_trials = 4')
    monkeypatch.chdir(tmp_path)
    sweep(exp, uri, "--trials", "2")  # configuration 0, both seeds
    _, children = runs(uri)
    seed1 = next(r for r in children if r.data.params["seed"] == "1")
    MlflowClient(tracking_uri=uri).delete_run(seed1.info.run_id)
    journal(tmp_path).unlink()
    sweep(exp, uri)
    finished_once(tmp_path, uri, 4, ("lr", "seed"))
    trials = load_study(tmp_path).trials
    assert [bool(t.user_attrs.get("harness.restored")) for t in trials] == [True] + [False] * 3
    assert trials[0].params["lr"] == trials[1].params["lr"]  # its seed 1, run now
    assert {t.params["lr"] for t in trials} != {trials[0].params["lr"]}  # a 2nd one sampled
    assert all(t.distributions == trials[0].distributions for t in trials)


def test_a_refused_sweep_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A missing [data] root is one line; before, it left an empty journal (no study in it)
    under runs/optuna/ and an empty MLflow database."""
    exp = tiny_experiment(tmp_path)
    exp.write_text(exp.read_text().replace(str(tmp_path / "sc"), str(tmp_path / "nowhere")))
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp)]) == 2  # the default stores, under runs/
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*"))
    uri = new_tracking_uri(tmp_path)  # an existing store gets no experiment
    assert main(["sweep", str(exp), "--tracking-uri", uri]) == 2
    assert MlflowClient(tracking_uri=uri).get_experiment_by_name("tiny") is None
    assert not journal(tmp_path).exists()
