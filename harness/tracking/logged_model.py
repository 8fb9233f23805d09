"""A trial's trained weights as an MLflow model: front-end and network in one module.

    model_id = log_pipeline(client, run_id, frontend, model, labels)
    pipeline = load_pipeline(client, run_id)        # the trial's Pipeline, on the CPU
    logits = pipeline(x)                            # x (B, 16000) float32 in [-1, 1)
    keep_best(client, study_trials)                 # [tracking] models = "best"

The model is saved with `mlflow.pytorch.save_model` (so `mlflow.pytorch.load_model` and
`mlflow.pyfunc.load_model` both load it) and logged as an MLflow 3 LoggedModel of the trial's
run through the explicit client: `mlflow.pytorch.log_model` would need the fluent API's
process-wide active run and tracking URI (see harness/tracking.py). It is found again by
the run's outputs, and at `models:/<model_id>` (the UI's "Logged models").
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from importlib import metadata
from typing import Any

import torch
from mlflow.entities import LoggedModelOutput
from mlflow.tracking import MlflowClient
from torch import Tensor, nn

MODEL_NAME = "model"  # the LoggedModel's name, as mlflow.pytorch.log_model(name=...) would
DROPPED = "harness.model_dropped"  # run tag: why its model's files are gone


class Pipeline(nn.Module):
    """(B, T) float32 waveform in [-1, 1) -> (B, n_classes) logits: front-end, then network.

    `labels[i]` is the word of logit i. The front-end runs without gradients, as in training
    (harness.training.loop.forward); batches of int16 clips are `audio / 32768`.
    """

    def __init__(self, frontend: nn.Module, model: nn.Module, labels: Sequence[str]) -> None:
        super().__init__()
        self.frontend = frontend
        self.model = model
        self.labels = list(labels)

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            features = self.frontend(x)
        return self.model(features).float()


def log_pipeline(client: MlflowClient, run_id: str, frontend: nn.Module, model: nn.Module,
                 labels: Sequence[str], step: int = 0) -> str:
    """Save a CPU copy of frontend + model as the run's MLflow model; returns its model id.

    Cheap by design: pip requirements are given (no import scan), no input example is run.
    """
    import mlflow.pytorch
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    pipeline = Pipeline(copy.deepcopy(frontend), copy.deepcopy(model), labels).cpu().eval()
    samples = 16000
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, samples), "waveform")]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, len(labels)), "logits")]))
    logged = client.create_logged_model(
        client.get_run(run_id).info.experiment_id, name=MODEL_NAME, source_run_id=run_id,
        tags={"labels": json.dumps(list(labels))}, model_type="pytorch")
    try:
        with tempfile.TemporaryDirectory(prefix="harness-model-") as tmp, \
                _quiet("mlflow.pytorch", "mlflow.utils.environment"):
            mlflow.pytorch.save_model(pipeline, f"{tmp}/model", signature=signature,
                                      pip_requirements=_requirements(),
                                      metadata={"labels": list(labels)},
                                      serialization_format="pickle")  # pt2 needs torch.export
            client.log_model_artifacts(logged.model_id, f"{tmp}/model")
    except BaseException:
        client.finalize_logged_model(logged.model_id, "FAILED")
        raise
    client.finalize_logged_model(logged.model_id, "READY")
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step)])
    return logged.model_id


def model_id_of(client: MlflowClient, run_id: str) -> str | None:
    """The id of the MLflow model a trial's run logged, or None."""
    outputs = client.get_run(run_id).outputs
    models = outputs.model_outputs if outputs is not None else []
    return models[-1].model_id if models else None


def load_pipeline(client: MlflowClient, run_id: str) -> Pipeline:
    """The Pipeline trial run `run_id` logged, on the CPU, in eval mode."""
    import mlflow.pytorch

    from harness.errors import HarnessError

    model_id = model_id_of(client, run_id)
    dropped = client.get_run(run_id).data.tags.get(DROPPED)
    if dropped:
        raise HarnessError(f"run {run_id}'s model was deleted ({dropped}); pick the study's "
                           "best trial, or sweep with [tracking] models = \"all\"")
    if model_id is None:
        raise HarnessError(f"run {run_id} logged no model: it failed, was pruned, ran with "
                           "[tracking] models = \"none\", or before models were logged; pick "
                           "a finished trial's run")
    location = client.get_logged_model(model_id).artifact_location
    return mlflow.pytorch.load_model(location, map_location="cpu").eval()


def keep_best(client: MlflowClient, trials: Sequence[Any]) -> str | None:
    """[tracking] models = "best": delete the model of every finished trial but the best.

    `trials`: the study's Optuna FrozenTrials (harness.sweep.queue.Study.trials()); the best is
    the COMPLETE one with the highest objective (the tested epoch's validation accuracy;
    ties: the lower number). Only finished trials are touched, so a worker that calls this
    before another's trial is told never deletes a model that may yet be the best: each
    trial's end calls it after its own tell, and the last call sees every trial. Returns the
    kept run id. The files go (the artifact folder) and the LoggedModel is marked deleted.
    """
    finished = [t for t in trials if t.state.is_finished()]
    complete = [t for t in finished if t.state.name == "COMPLETE" and t.value is not None]
    best = max(complete, key=lambda t: (t.value, -t.number)) if complete else None
    keep = best.user_attrs.get("mlflow_run_id") if best is not None else None
    for t in finished:
        run_id = t.user_attrs.get("mlflow_run_id")
        if run_id and run_id != keep:
            drop_model(client, run_id, "[tracking] models = best: trial "
                       f"{best.number} validated best" if best is not None else
                       "[tracking] models = best: no trial completed")
    return keep


def drop_model(client: MlflowClient, run_id: str, reason: str) -> bool:
    """Delete the model a run logged (files and LoggedModel); False if it had none left."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    model_id = model_id_of(client, run_id)
    if model_id is None or client.get_run(run_id).data.tags.get(DROPPED):
        return False
    location = client.get_logged_model(model_id).artifact_location
    get_artifact_repository(location).delete_artifacts()  # what `mlflow gc` would remove
    client.delete_logged_model(model_id)
    client.set_tag(run_id, DROPPED, reason)
    return True


def _requirements() -> list[str]:
    """What loading the pickled pipeline needs: torch, torchaudio and this harness."""
    out = []
    for dist in ("torch", "torchaudio", "harness"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out.append(f"{dist}=={metadata.version(dist)}")
    return out


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Hold library loggers at ERROR: on every save mlflow.pytorch warns that pickles run
    code when loaded, and mlflow.utils.environment that the venv has no pip."""
    logs = [logging.getLogger(name) for name in names]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(logs, levels, strict=True):
            log.setLevel(level)
