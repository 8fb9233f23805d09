"""An ExportResult into a trial's MLflow run: metrics, tags, and the .onnx files.

    log_export(client, run_id, result)                           # `harness export RUN_ID`
    export_trial(client, run_id, pipeline, data, settings, names)  # a sweep, after the test

Layout: metrics at step 0 (`torch_acc`, `onnx_acc`, `onnx_delta`, `onnx_max_abs_diff`,
`onnx_bytes`, `onnx_latency_ms`, and with int8 `int8_acc`, `int8_delta`, `int8_bytes`,
`int8_latency_ms`); tags `harness.export.isa` (the instruction set every int8 figure belongs
to), `harness.export.cpu`, `harness.export.latency` (the protocol) and, with int8,
`harness.export.int8` (the quantisation plan as JSON: per-channel, reduce_range, ops, and
whether the front-end stayed float and why); artifacts under `export/`: model.onnx,
model.int8.onnx and calibration.json (the calibration clips' indices). A second export of the
same run replaces them.
"""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient
from torch import nn

from harness.export.measure import ExportResult, measure
from harness.export.settings import ExportSettings

ARTIFACTS = "export"


def log_export(client: MlflowClient, run_id: str, result: ExportResult) -> None:
    """Log `result` to run `run_id` (module docstring's layout)."""
    now = int(time.time() * 1000)
    tags = {"harness.export.isa": result.isa, "harness.export.cpu": result.cpu,
            "harness.export.latency": result.protocol}
    if result.plan is not None:
        tags["harness.export.int8"] = json.dumps(result.plan.describe(), sort_keys=True)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0)
                                      for k, v in result.metrics().items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    for path in result.files:
        client.log_artifact(run_id, str(path), ARTIFACTS)


def export_trial(client: MlflowClient, run_id: str, pipeline: nn.Module, data: Any,
                 settings: ExportSettings, names: tuple[str, str]) -> None:
    """`[export]` in a sweep: export and measure a trial's trained pipeline (a
    harness.models.classifier.Classifier) on its own data (`data.test`, `data.train`: the
    splits it trained and was tested on), and log it to its run. The files pass through a
    temporary folder; the run keeps them."""
    with tempfile.TemporaryDirectory(prefix="harness-export-") as tmp:
        result = measure(pipeline, data.test, data.train, tmp, int8=settings.int8,
                         float_frontend=settings.float_frontend, names=names)
        log_export(client, run_id, result)
