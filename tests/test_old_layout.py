"""A model logged before the layout moved (tests/fixtures/old_layout_model: pickled by the
pre-move code as `harness.logged_model.Pipeline`) still loads, and `harness evaluate` and
`harness stream` score it: through the remapping unpickler, not alias modules."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import make_speech_commands
from mlflow.entities import LoggedModelOutput
from mlflow.tracking import MlflowClient
from test_sweep import new_tracking_uri

from harness.cli import main
from harness.models.classifier import Classifier
from harness.tracking.logged_model import MODEL_NAME, load_pipeline

FIXTURE = Path(__file__).parent / "fixtures" / "old_layout_model"


@pytest.fixture
def old_run(tmp_path: Path) -> dict[str, Any]:
    """The fixture's run re-created in a fresh store: its params (data root pointed at a new
    folder of the same three words), tags, and the old pickle as its LoggedModel's files."""
    record = json.loads((FIXTURE / "run.json").read_text())
    root = make_speech_commands(tmp_path / "sc", words=record["words"], speakers=5)
    uri = new_tracking_uri(tmp_path)
    client = MlflowClient(uri)
    exp = client.create_experiment("old", artifact_location=str(tmp_path / "artifacts"))
    params = {**record["params"], "data.root": str(root)}
    run = client.create_run(exp, tags=record["tags"], run_name="complex · seed 0")
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    client.log_metric(run.info.run_id, "test_acc", record["metrics"]["test_acc"])
    model = client.create_logged_model(exp, name=MODEL_NAME, source_run_id=run.info.run_id,
                                       tags=record["model_tags"], model_type="pytorch")
    client.log_model_artifacts(model.model_id, str(FIXTURE / "model"))
    client.finalize_logged_model(model.model_id, "READY")
    client.log_outputs(run.info.run_id, [LoggedModelOutput(model.model_id, 0)])
    client.set_terminated(run.info.run_id)
    return {"uri": uri, "run_id": run.info.run_id, "root": root, "client": client}


def test_the_fixture_was_pickled_under_the_old_class_path() -> None:
    """Guards the fixture itself: regenerating it with today's code would test nothing."""
    with zipfile.ZipFile(FIXTURE / "model" / "data" / "model.pth") as z:
        pickle_bytes = z.read("model/data.pkl")
    assert b"harness.logged_model" in pickle_bytes and b"Pipeline" in pickle_bytes


def test_an_old_model_loads_as_a_classifier(old_run: dict[str, Any]) -> None:
    net = load_pipeline(old_run["client"], old_run["run_id"])
    assert isinstance(net, Classifier)
    assert net.labels == ["no", "on", "yes"]
    logits = net(torch.zeros(2, 16000))
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()


def test_evaluate_and_stream_score_an_old_model(old_run: dict[str, Any],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    uri, run_id = old_run["uri"], old_run["run_id"]
    assert main(["evaluate", run_id, "--tracking-uri", uri, "--root", str(old_run["root"]),
                 "--part", "all", "--json", "--no-log"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["clips"] == 30 and 0.0 <= out["eval_acc"] <= 1.0
    assert main(["stream", run_id, "--tracking-uri", uri, "--set", "seconds=10"]) == 0
    metrics = old_run["client"].get_run(run_id).data.metrics
    assert "stream_frr_at_1fa_h" in metrics


@pytest.mark.parametrize("module", ["harness.logged_model", "harness.tracking.logged_model"])
def test_every_old_class_path_unpickles_as_the_classifier(module: str) -> None:
    """Models logged between the stage layout and the Classifier pickled the class as
    harness.tracking.logged_model.Pipeline; `harness export` of such a run raised
    AttributeError (docs/export.md's table was trained then)."""
    import io

    from harness.tracking.logged_model import _moved_pickle

    global_ref = f"c{module}\nPipeline\n.".encode()  # pickle's GLOBAL opcode, then STOP
    assert _moved_pickle.Unpickler(io.BytesIO(global_ref)).load() is Classifier
