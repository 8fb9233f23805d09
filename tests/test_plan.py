"""`harness plan` on the real experiment files and on a pilot logged the sweep's way, and a
study that grows its seeds in a real Optuna journal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient
from test_sweep import new_tracking_uri, tiny_experiment

from harness.cli import main
from harness.errors import HarnessError
from harness.report.power import replicates_needed
from harness.sweep.experiment_file import load_experiment
from harness.sweep.plan import SweepPlan
from harness.sweep.queue import TrialQueue, fill_queue
from harness.tracking.runs import Tracker

QUICK_D = [0.05, 0.19, 0.08, 0.06, 0.17]  # log_power minus complex per seed, about quick's


def plan(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["plan", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_plan_with_a_given_sd_and_no_pilot(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    none = f"sqlite:///{tmp_path}/none.db"
    out = plan(capsys, "quick", "--sd", "0.0654", "--tracking-uri", none)
    need = [replicates_needed(0.0654, 0.05, 0.05, aim=a, at_least=5)
            for a in ("difference", "equivalence")]
    assert out[0].startswith("plan quick (experiments/quick.toml): margin ±0.05 accuracy; the "
                             "finding's family of 1 comparison(s)")
    assert out[1] == "complex vs log_power: sd 0.0654 (--sd)"
    assert out[2] == (f"  to detect a difference of the margin: {need[0]} replicates (no pilot "
                      "durations: run a pilot to project the wall time)")
    assert out[3].startswith(f"  to show equivalence (true difference 0): {need[1]} replicates")
    seeds = list(range(max(need)))
    assert out[4].startswith(f"extend to {max(need)} replicates: set `seeds = {seeds}` under "
                             "[search] in experiments/quick.toml, then `python -m harness sweep")
    assert not (tmp_path / "none.db").exists()


def test_a_corrected_design_can_be_unreachable(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    out = plan(capsys, "complex_vs_magnitude", "--sd", "0.01", "--tracking-uri",
               f"sqlite:///{tmp_path}/none.db")
    assert "family of 10 comparison(s), each planned at alpha 0.05/10 = 0.005" in out[0]
    assert out[0].endswith("(n_test / n_train = 1/3) the corrected resampled t-test decides")
    assert len([x for x in out if "unreachable at this margin" in x]) == 20
    assert not any(x.startswith("extend") for x in out)
    with pytest.raises(SystemExit):  # argparse: --sd takes a number
        main(["plan", "quick", "--sd", "x"])
    assert main(["plan", "quick", "--tracking-uri", f"sqlite:///{tmp_path}/none.db"]) == 2
    assert "no pilot trials of 'quick'" in capsys.readouterr().err


def test_plan_from_a_pilot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A pilot of 10 trials logged through the sweep's Tracker, each 96 s long."""
    uri = new_tracking_uri(tmp_path)
    tracker = Tracker("quick", uri, searched=["frontend", "seed"], margin=0.05)
    client = MlflowClient(uri)
    for number, (fe, seed) in enumerate((fe, s) for s in range(5)
                                        for fe in ("log_power", "complex")):
        run = tracker.trial(number, {"frontend": fe, "seed": seed, "model": "seed_cnn",
                                     "data.split": "official", "data.split_seed": 0})
        run.log_metrics({"test_acc": 0.75 - QUICK_D[seed] * (fe == "complex"),
                         "converged": 1.0})
        run.finish("COMPLETE")
        start = client.get_run(run.run_id).info.start_time
        client.set_terminated(run.run_id, "FINISHED", end_time=start + 96_000)
    tracker.close()
    out = plan(capsys, "quick", "--tracking-uri", uri)
    sd = np.std(QUICK_D, ddof=1)
    n = replicates_needed(sd, 0.05, 0.05, at_least=5)
    minutes = (n - 5) * 2 * 96 / 2 / 60  # 2 trials a seed, 2 workers
    assert out[1].startswith(f"complex vs log_power: sd {sd:.4g} (pilot, 5 pairs); the "
                             "pilot's MDD ")
    assert out[2] == (f"  to detect a difference of the margin: {n} replicates ({n - 5} more, "
                      f"about {minutes:.0f} min at 2 worker(s), 96 s a trial)")


def test_growing_seeds_extends_a_study(tmp_path: Path) -> None:
    """A grid's seed is an int param (one distribution for every seed): adding seeds to the
    file queues and runs only the new ones. No training: trials are claimed and told."""
    uri = new_tracking_uri(tmp_path)
    journal = str(tmp_path / "tiny.journal")

    def sweep(seeds: str, suggest_old: bool = False) -> list[int]:
        path = tiny_experiment(tmp_path, space='frontend = ["complex"]', seeds=seeds)
        p = SweepPlan.create(load_experiment(path), journal, uri)
        fill_queue(p)
        study, ran = TrialQueue(p), []
        while (trial := study.claim()) is not None:
            if suggest_old:  # what the harness did before: a categorical of the file's seeds
                seed = trial.suggest_categorical("seed", [0, 1])
            else:
                seed = p.experiment.suggest(trial)["seed"]
            study.study.tell(trial, 0.5)
            ran.append(seed)
        return ran

    assert sweep("[0, 1]") == [0, 1]
    assert sweep("[0, 1, 2, 3]") == [2, 3]  # before the fix: "does not support dynamic value"
    s = optuna.load_study(study_name="tiny", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(journal)))
    assert sorted(t.params["seed"] for t in s.trials) == [0, 1, 2, 3]
    assert {type(t.distributions["seed"]).__name__ for t in s.trials} == {"IntDistribution"}


def test_a_study_from_before_keeps_its_seeds(tmp_path: Path) -> None:
    uri = new_tracking_uri(tmp_path)
    journal = str(tmp_path / "old.journal")
    path = tiny_experiment(tmp_path, name="old", space='frontend = ["complex"]', seeds="[0, 1]")
    p = SweepPlan.create(load_experiment(path), journal, uri)
    fill_queue(p)
    study = TrialQueue(p)
    first = study.claim()
    assert first is not None
    first.suggest_categorical("seed", [0, 1])  # recorded the old way
    study.study.tell(first, 0.5)
    second = study.claim()
    assert second is not None and p.experiment.suggest(second)["seed"] == 1  # resumes
    study.study.tell(second, 0.5)
    grown = tiny_experiment(tmp_path, name="old", space='frontend = ["complex"]',
                            seeds="[0, 1, 2]")
    p = SweepPlan.create(load_experiment(grown), journal, uri)
    fill_queue(p)
    third = TrialQueue(p).claim()
    assert third is not None
    with pytest.raises(HarnessError, match=r"recorded the seed as one of \[0, 1\].*seed 2 is "
                                           r"not among them: run the grown file under a new"):
        p.experiment.suggest(third)


def test_the_detection_rate_has_its_own_margin(tmp_path: Path) -> None:
    text = Path("experiments/quick.toml").read_text()
    assert load_experiment("quick").detection_margin == 0.02  # the documented default
    path = tmp_path / "q.toml"
    path.write_text(text.replace("margin = 0.05\n", "margin = 0.05\ndetection_margin = 0.03\n"))
    exp = load_experiment(path)
    assert (exp.margin, exp.detection_margin) == (0.05, 0.03)
    path.write_text(text.replace("margin = 0.05\n", "margin = 0.05\ndetection_margin = 2\n"))
    with pytest.raises(HarnessError, match=r"\[report\] detection_margin: 2: a detection-rate "
                                           r"difference in \(0, 1\)"):
        load_experiment(path)
