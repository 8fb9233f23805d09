"""`harness evaluate`: a trial of the session's tiny sweep tested on a second folder the test
writes, logged as a run linked to the trial, shown in the report; its errors in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import make_speech_commands
from mlflow.tracking import MlflowClient

from harness import report as rp
from harness.cli import main

WORDS = ("no", "on", "yes")  # the tiny study's words (tests/test_sweep.py tiny_experiment)


@pytest.fixture
def store(tiny_study: dict[str, Any], tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A copy of the tiny study's store (runs added here stay here), its data folder."""
    shutil.copy(tiny_study["uri"].removeprefix("sqlite:///"), tmp_path / "mlflow.db")
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tiny_study["data_dir"]))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    trial = min(tiny_study["children"], key=lambda r: r.info.run_name)  # complex · seed 0
    return {**tiny_study, "uri": uri, "trial": trial, "client": MlflowClient(uri)}


def evaluate(store: dict[str, Any], capsys: pytest.CaptureFixture[str], *args: str,
             run_id: str | None = None) -> tuple[int, str, str]:
    rc = main(["evaluate", run_id or store["trial"].info.run_id, "--tracking-uri",
               store["uri"], "--device", "cpu", *args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.slow
def test_evaluate_logs_a_linked_run_and_the_report_shows_it(
        store: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial, client = store["trial"], store["client"]
    # its own test split again: the logged model predicts what the trial predicted
    rc, out, _ = evaluate(store, capsys, "--json", "--no-log")
    assert rc == 0
    again = json.loads(out)
    assert again["run_id"] is None and again["clips"] > 0
    assert again["eval_acc"] == pytest.approx(trial.data.metrics["test_acc"], abs=1e-9)

    # a second folder: other speakers, the same words, in another order of folders
    mine = make_speech_commands(tmp_path / "mine", words=WORDS[::-1], speakers=3, seed=7)
    for lists in ("validation_list.txt", "testing_list.txt"):  # one's own recordings: none
        (mine / lists).unlink()
    rc, out, _ = evaluate(store, capsys, "--root", str(mine), "--part", "all", "--json")
    assert rc == 0
    summary = json.loads(out)
    assert summary["clips"] == 3 * 3 * 2 and summary["dataset"] == "mine"
    assert set(summary["per_word"]) == set(WORDS)
    run = client.get_run(summary["run_id"])
    tags, metrics = run.data.tags, run.data.metrics
    assert run.info.experiment_id == trial.info.experiment_id
    assert run.info.status == "FINISHED"
    assert tags["harness.role"] == "evaluation"
    assert tags["harness.evaluates"] == trial.info.run_id
    assert tags["mlflow.parentRunId"] == trial.data.tags["mlflow.parentRunId"]
    assert metrics["eval_acc"] == pytest.approx(summary["eval_acc"])
    assert metrics["eval_loss"] == pytest.approx(summary["eval_loss"])
    assert metrics["trial_test_acc"] == trial.data.metrics["test_acc"]
    for word in WORDS:
        assert metrics[f"eval_acc {word}"] == pytest.approx(summary["per_word"][word])
    assert run.data.params["data.root"] == str(mine) and run.data.params["eval.part"] == "all"
    inputs = run.inputs.dataset_inputs
    assert {d.dataset.name for d in inputs} == {"mine"} and len(inputs) == 3
    path = client.download_artifacts(run.info.run_id, "confusion_matrix.csv", str(tmp_path))
    confusion = pd.read_csv(path, index_col=0)
    assert list(confusion.index) == sorted(WORDS) and list(confusion.columns) == sorted(WORDS)
    assert int(confusion.to_numpy().sum()) == summary["clips"]
    hits = sum(confusion.at[w, w] for w in WORDS)
    assert hits / summary["clips"] == pytest.approx(summary["eval_acc"])

    # the human summary, on one screen
    rc, _, err = evaluate(store, capsys, "--root", str(mine), "--part", "all", "--no-log")
    assert rc == 0 and "accuracy" in err and "own test accuracy" in err
    assert len(err.strip().splitlines()) <= 6

    # the report: evaluation runs are not trials, and are shown beside the trial's score
    study = rp.load("tiny", store["uri"])
    assert len(study.runs) == len(store["children"])
    out_dir = tmp_path / "rep"
    assert main(["report", "tiny", "--tracking-uri", store["uri"], "--out", str(out_dir)]) == 0
    table = pd.read_csv(out_dir / "evaluations.csv")
    assert list(table["run_id"]) == [summary["run_id"]]
    assert table["trial_test_acc"][0] == pytest.approx(trial.data.metrics["test_acc"])
    assert table["eval_acc"][0] == pytest.approx(summary["eval_acc"])
    assert "Evaluations on other data" in (out_dir / "report.md").read_text()


@pytest.mark.slow
def test_evaluate_errors_are_one_line(store: dict[str, Any], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    def one_line(*args: str, run_id: str | None = None) -> str:
        rc, out, err = evaluate(store, capsys, *args, run_id=run_id)
        assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert err.startswith("error: ")
        return err

    assert "no run 'nope'" in one_line(run_id="nope")
    # a trial's run that logged no model (one a crash ended before)
    bare = store["client"].create_run(store["trial"].info.experiment_id,
                                      tags={"harness.role": "trial"}).info.run_id
    assert "logged no model" in one_line(run_id=bare)
    assert "not a trial" in one_line(run_id=store["parent"].info.run_id)
    other = make_speech_commands(tmp_path / "other", words=("no", "on", "up"), speakers=2)
    err = one_line("--root", str(other), "--part", "all")
    assert "does not know the word(s) up" in err and "no, on, yes" in err
    few = make_speech_commands(tmp_path / "few", words=("no", "on"), speakers=2)
    assert "--part all" in one_line("--root", str(few))  # no speaker in testing_list.txt
