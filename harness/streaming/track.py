"""A streaming evaluation into a trial's MLflow run: metrics, tables, the DET figure.

    stream_trial(run, frontend, model, data, settings, device)   # the sweep's call site
    log_stream(client, run_id, result)                            # any run, e.g. `harness stream`

Layout (docs/architecture.md, "Streaming"): metrics at step 0 named `stream_*`
(`stream_frr_at_1fa_h`, `stream_frr_at_0.5fa_h`, `stream_det_auc`, `stream_hours`,
`stream_occurrences`, `stream_audio_s_per_s`, `stream_clip_macs`,
`stream_macs_per_audio_s`, `stream_cpu_s_per_audio_s`, ...); tag `harness.stream`, the
settings as JSON; artifacts `stream_det.csv` (metrics.DET_COLUMNS), `stream_keywords.csv`
(metrics.per_keyword) and `stream_det.png`. A second evaluation of the same run (other
settings) overwrites them: metrics are re-logged, artifacts replaced.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient
from torch import nn

from harness.models.classifier import Classifier
from harness.streaming.evaluate import StreamResult, evaluate_stream
from harness.streaming.figures import det_curves
from harness.streaming.settings import StreamSettings

DET_CSV, KEYWORDS_CSV, DET_PNG = "stream_det.csv", "stream_keywords.csv", "stream_det.png"


def log_stream(client: MlflowClient, run_id: str, result: StreamResult) -> None:
    """Log `result` to run `run_id` (module docstring's layout)."""
    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, 0) for k, v in result.summary.items()]
    client.log_batch(run_id, metrics=metrics, tags=[
        RunTag("harness.stream", json.dumps(result.settings.as_dict(), sort_keys=True))])
    s = result.settings
    title = (f"Streaming DET: {result.hours * 60:.0f} min, hop {s.hop_ms:g} ms, "
             f"{result.occurrences} keyword clips, SNR {s.snr_db} dB")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result.det.to_csv(folder / DET_CSV, index=False, lineterminator="\n")
        result.keywords.to_csv(folder / KEYWORDS_CSV, index=False, lineterminator="\n")
        (folder / DET_PNG).write_bytes(det_curves(result.det, title))
        for name in (DET_CSV, KEYWORDS_CSV, DET_PNG):
            client.log_artifact(run_id, str(folder / name))


def stream_trial(run: Any, frontend: nn.Module, model: nn.Module, data: Any,
                 settings: StreamSettings, device: str) -> StreamResult:
    """Evaluate a trial's trained pipeline on a stream of its test split and log it to its
    run (`run`: a harness.tracking.runs.TrialRun)."""
    from harness.training.device import resolve_device

    result = evaluate_stream(Classifier(frontend, model), data, settings, resolve_device(device))
    log_stream(run.client, run.run_id, result)
    return result
