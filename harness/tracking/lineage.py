"""Lineage of a trial: the data it saw, the experiment file it ran, the code, the machine.

    git_tags()                                   # {"git_dirty": "true" | "false" | "unknown"}
    log_data(client, run_id, params, data)       # train/valid/test as MLflow dataset inputs
    log_experiment(client, run_id, exp)          # experiment/<file>.toml + experiment/resolved.json
    monitor = start_system_metrics(tracking_uri, run_id)   # system/* metrics while it trains
    stop_system_metrics(monitor)

Everything goes through an explicit `MlflowClient` (see harness/tracking.py for why). A
split's dataset digest is a hash of the decoded cache's content (audio.npy and index.csv,
hashed once per cache and kept beside them as `content_digest`), the split's name and seed,
and the part (train | valid | test): two trials with the same digest saw the same clips.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

DIGEST_FILE = "content_digest"
# seconds between system-metric steps (MLflow's default: 10); its environment variable
# MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL overrides this
SYSTEM_METRICS_INTERVAL_S = 5.0
PARTS = {"train": "train", "valid": "valid", "test": "test"}  # SplitData field -> context tag


def git_tags() -> dict[str, str]:
    """`git_dirty`: "true" when the harness's checkout has uncommitted changes (untracked
    files included, ignored ones not), so `git_commit` alone does not name the code."""
    try:
        out = subprocess.run(["git", "status", "--porcelain"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"git_dirty": "unknown"}
    return {"git_dirty": "true" if out.strip() else "false"}


def content_digest(cache_folder: Path) -> str:
    """sha256 (20 hex digits) of a decoded cache's audio.npy and index.csv, computed once.

    The cache folder is named by a fingerprint of file sizes and times; this one is of the
    decoded content itself, so a copy of the same clips elsewhere has the same digest.
    """
    kept = cache_folder / DIGEST_FILE
    if kept.is_file():
        return kept.read_text().strip()
    digest = hashlib.sha256()
    for name in ("audio.npy", "index.csv"):
        with open(cache_folder / name, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    value = digest.hexdigest()[:20]
    tmp = kept.with_name(f".{DIGEST_FILE}.{os.getpid()}")
    tmp.write_text(value + "\n")
    tmp.replace(kept)  # atomic: workers hashing the same cache at once write the same value
    return value


def dataset_inputs(params: Mapping[str, Any], data: Any, cache_digest: str,
                   parts: Mapping[str, str] = PARTS) -> list[DatasetInput]:
    """One MLflow dataset input per part of `data` (a harness.data.SplitData) in `parts`.

    Name: the data set; digest: of the part's clips (see the module docstring); source: the
    folder; schema: (N, 16000) int16 audio and (N,) int64 labels; profile: clips, classes,
    split, split seed, task, test set, the cache's content digest, whether the split is
    speaker-disjoint, and the folder's attribution (licence) if it has one. Tags: the context
    (train | valid | test), split and task, which the UI shows beside the name.
    """
    import numpy as np
    from mlflow.types import Schema, TensorSpec

    from harness.data import attribution

    split, seed = str(params.get("data.split")), str(params.get("data.split_seed"))
    task = str(getattr(data, "task", ""))
    credit = attribution(data.root)  # the folder's ATTRIBUTION.md: source and licence
    schema = json.dumps({"mlflow_tensorspec": {
        "features": Schema([TensorSpec(np.dtype(np.int16), (-1, 16000), "audio")]).to_json(),
        "targets": Schema([TensorSpec(np.dtype(np.int64), (-1,), "label")]).to_json()}})
    out = []
    for field, context in parts.items():
        clips = getattr(data, field)
        digest = hashlib.sha256(f"{cache_digest}\n{split}\n{seed}\n{field}".encode())
        profile = {"clips": len(clips.labels), "classes": len(data.labels), "split": split,
                   "split_seed": seed, "task": task, "cache_digest": cache_digest,
                   "test_set": str(getattr(data, "test_set", "")),
                   "speaker_disjoint": getattr(data, "speaker_disjoint", None)}
        if credit:
            profile["attribution"] = credit
        dataset = Dataset(name=str(data.dataset), digest=digest.hexdigest()[:20],
                          source_type="local", source=json.dumps({"uri": str(data.root)}),
                          schema=schema, profile=json.dumps(profile))
        tags = [InputTag("mlflow.data.context", context), InputTag("split", split),
                InputTag("task", task)]
        out.append(DatasetInput(dataset, tags))
    return out


def log_data(client: MlflowClient, run_id: str, params: Mapping[str, Any], data: Any,
             parts: Mapping[str, str] = PARTS) -> None:
    """Log the trial's train/valid/test parts (or those in `parts`: SplitData field ->
    context tag) as dataset inputs (`dataset_inputs`)."""
    from harness.data import cache_dataset

    cache = cache_dataset(params.get("data.dataset"), params.get("data.root"))  # decoded already
    inputs = dataset_inputs(params, data, content_digest(cache.folder), parts)
    try:
        client.log_inputs(run_id, datasets=inputs)
    except MlflowException:
        # MLflow's SQL store looks a data set up, then inserts it: two workers logging the
        # same one at once collide on its unique key; the second try finds the first's row
        time.sleep(0.5)
        client.log_inputs(run_id, datasets=inputs)


def log_experiment(client: MlflowClient, run_id: str, exp: Any) -> None:
    """The experiment file as read (`experiment/<name>.toml`) and as resolved, overrides
    and defaults in (`experiment/resolved.json`: fixed values, space, seeds, sampler...)."""
    resolved = {f.name: getattr(exp, f.name) for f in dataclasses.fields(exp)}
    resolved["space"] = {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else list(v))
                         for k, v in exp.space.items()}
    text = json.dumps(resolved, indent=2, default=str, sort_keys=False)
    client.log_text(run_id, text + "\n", "experiment/resolved.json")
    path = Path(exp.path)
    with contextlib.suppress(OSError, UnicodeDecodeError):  # a file moved since: resolved only
        client.log_text(run_id, path.read_text(), f"experiment/{path.name}")


def start_system_metrics(tracking_uri: str, run_id: str) -> Any:
    """MLflow's own system-metrics thread on `run_id`: `system/cpu_utilization_percentage`,
    `system/system_memory_usage_megabytes`, disk, network, and `system/gpu_*` where
    nvidia-ml-py finds a GPU, one step every SYSTEM_METRICS_INTERVAL_S seconds."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # no line per trial
    monitor = SystemMetricsMonitor(run_id, sampling_interval=SYSTEM_METRICS_INTERVAL_S,
                                   tracking_uri=tracking_uri)
    monitor.start()
    return monitor


def stop_system_metrics(monitor: Any) -> None:
    """Stop the thread and log what it sampled since its last step.

    MLflow's thread samples at once and logs a step after each interval; when the run ends
    first (a trial shorter than the interval) it drops the pending sample, so it is logged
    here: every trial has at least one step of system metrics.
    """
    monitor.finish()
    pending = monitor.aggregate_metrics()
    if pending:
        monitor.publish_metrics(pending)
        monitor.mlflow_logger.flush()
