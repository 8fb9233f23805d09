"""A trial's trained weights as an MLflow model: front-end and network in one module.

    model_id = log_pipeline(client, run_id, Classifier(frontend, model, labels), labels)
    net = load_pipeline(client, run_id)             # the trial's Classifier, on the CPU
    logits = net(x)                                 # x (B, 16000) float32 in [-1, 1)
    keep_best(client, study_trials)                 # [tracking] models = "best"

The model is saved with `mlflow.pytorch.save_model` (so `mlflow.pytorch.load_model` and
`mlflow.pyfunc.load_model` both load it) and logged as an MLflow 3 LoggedModel of the trial's
run through the explicit client: `mlflow.pytorch.log_model` would need the fluent API's
process-wide active run and tracking URI (see harness/tracking.py). It is found again by
the run's outputs, and at `models:/<model_id>` (the UI's "Logged models").

Models logged before the layout moved (the class `harness.logged_model.Pipeline`, now
`harness.models.classifier.Classifier`) load through `_MovedUnpickler`, which maps the old
class paths to the new ones: the old module paths stay free for the import contract.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import pickle
import tempfile
from collections.abc import Iterator, Sequence
from importlib import metadata
from typing import Any

import torch
from mlflow.entities import LoggedModelOutput
from mlflow.tracking import MlflowClient
from torch import nn

from harness.signals import release_frames

MODEL_NAME = "model"  # the LoggedModel's name, as mlflow.pytorch.log_model(name=...) would
DROPPED = "harness.model_dropped"  # run tag: why its model's files are gone


def log_pipeline(client: MlflowClient, run_id: str, net: nn.Module, labels: Sequence[str],
                 step: int = 0) -> str:
    """Save a CPU copy of `net` (a harness.models.classifier.Classifier: (B, 16000) float32
    -> (B, len(labels)) logits) as the run's MLflow model; returns its model id.

    Cheap by design: pip requirements are given (no import scan), no input example is run.
    """
    import mlflow.pytorch
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    pipeline = copy.deepcopy(net).cpu().eval()
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
    except BaseException as exc:
        release_frames(exc)  # an interruption's cut-off query would keep SQLite locked
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


def load_pipeline(client: MlflowClient, run_id: str) -> nn.Module:
    """The Classifier (harness.models.classifier) trial run `run_id` logged, on the CPU, in
    eval mode; models logged before the layout moved too."""
    from mlflow.artifacts import download_artifacts

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
    with tempfile.TemporaryDirectory(prefix="harness-model-") as tmp:
        local = download_artifacts(artifact_uri=location, dst_path=tmp)
        # mlflow.pytorch.load_model would pickle-load with mlflow's own module; the same file
        # through torch.load with ours maps the pre-move class paths (it is cloudpickle's
        # format, which plain pickle reads).
        net = torch.load(f"{local}/data/model.pth", map_location="cpu", weights_only=False,
                         pickle_module=_moved_pickle)
    return net.eval()


# Class paths of models pickled before the class settled -> where it lives now: Pipeline was
# in harness.logged_model, then, for the commits between the stage layout (5efc8dd) and the
# Classifier (8d2ea5c), in harness.tracking.logged_model.
MOVED_CLASSES = {(module, "Pipeline"): ("harness.models.classifier", "Classifier")
                 for module in ("harness.logged_model", "harness.tracking.logged_model")}


class _MovedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(*MOVED_CLASSES.get((module, name), (module, name)))


class _moved_pickle:  # torch.load takes a module-like object
    """The pickle module torch.load is given: pickle's own, with `_MovedUnpickler`."""

    Unpickler = _MovedUnpickler
    load = staticmethod(pickle.load)
    __name__ = "harness.tracking.logged_model._moved_pickle"


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
