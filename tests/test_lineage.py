"""Lineage and the MLflow view of a real tiny sweep: dataset inputs, experiment file, git
state, system metrics, the trained pipeline loaded back, and the report on the parent run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pytorch
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from harness.data import cache_dataset, load_splits
from harness.tracking import lineage, ui_view
from harness.tracking.logged_model import load_pipeline, model_id_of
from harness.tracking.runs import Tracker


def test_run_names_read_as_the_configuration() -> None:
    params = {"frontend": "complex", "model": "seed_cnn", "seed": 1, "lr": 0.0031234}
    assert ui_view.run_name(params, ["frontend", "seed"]) == "complex · seed 1"
    assert ui_view.run_name(params, ["model", "lr", "seed"]) == \
        "complex · seed_cnn · lr 0.003123 · seed 1"
    assert ui_view.run_name(params, []) == "complex · seed_cnn · seed 1"


def test_summary_metric_keys_are_mlflow_keys() -> None:
    assert ui_view.metric_key("complex", "test_acc_mean") == "test_acc_mean complex"
    assert ui_view.metric_key("complex · lr=0.01 · a/b", "x") == "x complex - lr_0.01 - a_b"


def test_content_digest_is_of_the_content_and_kept(tmp_path: Path) -> None:
    from conftest import make_speech_commands

    a = cache_dataset(None, make_speech_commands(tmp_path / "a", speakers=2))
    b = cache_dataset(None, make_speech_commands(tmp_path / "b", speakers=2))  # same, elsewhere
    digest = lineage.content_digest(a.folder)
    assert len(digest) == 20 and digest == lineage.content_digest(b.folder)
    assert (a.folder / lineage.DIGEST_FILE).read_text().strip() == digest


@pytest.fixture
def swept(tiny_study: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The session's tiny study, with its data folder (and so its decoded cache)."""
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tiny_study["data_dir"]))
    return {**tiny_study, "cache": cache_dataset(None, tiny_study["root"])}


@pytest.mark.slow
def test_each_trial_logs_its_data_file_code_and_machine(swept: dict[str, Any]) -> None:
    client = MlflowClient(tracking_uri=swept["uri"])
    digest = lineage.content_digest(swept["cache"].folder)
    seen: dict[str, set[str]] = {}
    assert {r.info.run_name for r in swept["children"]} == {"magnitude · seed 0",
                                                              "complex · seed 0"}
    for run in swept["children"]:
        inputs = run.inputs.dataset_inputs
        by_context = {next(t.value for t in d.tags if t.key == "mlflow.data.context"): d
                      for d in inputs}
        assert set(by_context) == {"train", "valid", "test"}
        for context, d in by_context.items():
            profile = json.loads(d.dataset.profile)
            assert d.dataset.name == "sc" and profile["cache_digest"] == digest
            assert profile["split"] == "official" and profile["task"]
            assert json.loads(d.dataset.source)["uri"] == str(swept["folder"] / "sc")
            seen.setdefault(context, set()).add(d.dataset.digest)
        tags, metrics = run.data.tags, run.data.metrics
        assert tags["git_dirty"] in ("true", "false")
        assert metrics["system/cpu_utilization_percentage"] >= 0
        assert metrics["system/system_memory_usage_megabytes"] > 0
        out = Path(client.download_artifacts(run.info.run_id, "experiment",
                                             str(swept["folder"] / run.info.run_id)))
        assert (out / "tiny.toml").read_text() == swept["exp"].read_text()
        resolved = json.loads((out / "resolved.json").read_text())
        assert resolved["fixed"]["model.width"] == 0.125 and resolved["name"] == "tiny"
        assert set(resolved["space"]["frontend"]) == {"magnitude", "complex"}
    # both trials saw the same clips; the three parts are different clips
    assert all(len(d) == 1 for d in seen.values()) and len(set.union(*seen.values())) == 3


@pytest.mark.slow
def test_the_logged_model_predicts_what_the_trial_predicted(
        swept: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client = MlflowClient(tracking_uri=swept["uri"])
    data = load_splits(None, swept["folder"] / "sc", "official")
    x = torch.from_numpy(np.asarray(data.test.audio)).float() / 32768
    monkeypatch.setenv("MLFLOW_TRACKING_URI", swept["uri"])  # for the models:/ URI below
    for run in swept["children"]:
        rid = run.info.run_id
        pipeline = load_pipeline(client, rid)
        assert pipeline.labels == data.labels
        logits = pipeline(x)
        folder = Path(client.download_artifacts(rid, "test_predictions.csv",
                                                str(swept["folder"] / f"p-{rid}")))
        logged = pd.read_csv(folder)
        assert logged["pred"].tolist() == logits.argmax(1).tolist()
        assert logged["label"].tolist() == data.test.labels.tolist()
        by_uri = mlflow.pytorch.load_model(f"models:/{model_id_of(client, rid)}")
        assert torch.equal(by_uri.eval()(x), logits)  # the UI's "Logged models" entry
        assert client.get_logged_model(model_id_of(client, rid)).source_run_id == rid


@pytest.mark.slow
def test_the_report_lands_on_the_parent_run(swept: dict[str, Any]) -> None:
    from harness import report as rp

    client = MlflowClient(tracking_uri=swept["uri"])
    parent = client.get_run(swept["parent"].info.run_id)
    note = parent.data.tags[ui_view.NOTE_TAG]
    verdicts = rp.verdict_lines(rp.load("tiny", swept["uri"]))
    assert verdicts and note.splitlines()[:len(verdicts)] == [f"{v}  " for v in verdicts]
    assert {"test_acc_mean complex", "test_acc_mean magnitude"} <= set(parent.data.metrics)
    table = rp.comparison_table(rp.load("tiny", swept["uri"]))
    row = table.set_index("config").loc["complex"]
    assert parent.data.metrics["test_acc_mean complex"] == pytest.approx(row["test_acc_mean"])
    names = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.html", "report/report.md", "report/figures"} <= names
    figures = {a.path for a in client.list_artifacts(parent.info.run_id, "report/figures")}
    assert "report/figures/test_accuracy.png" in figures
    exp = client.get_experiment(parent.info.experiment_id)
    assert exp.tags[ui_view.KIND_TAG] == "custom_model_development"
    view = json.loads(exp.tags[ui_view.VIEW_TAG])
    assert view["runsExpanded"] == {parent.info.run_id: True}
    assert "metrics.`test_acc_mean complex`" in view["selectedColumns"]
    assert "params.`frontend`" in view["selectedColumns"]
    Tracker("tiny", swept["uri"], searched=["frontend"]).close()  # a resumed sweep
    view = json.loads(client.get_experiment(parent.info.experiment_id).tags[ui_view.VIEW_TAG])
    assert "metrics.`test_acc_mean complex`" in view["selectedColumns"]  # kept
