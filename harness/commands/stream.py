"""`harness stream RUN_ID`: score a trained trial on a long test stream, without retraining.

    python -m harness stream 3f2a... --tracking-uri sqlite:///runs/mlflow.db \
        --set seconds=3600 --set hop_ms=50 --json

The pipeline (front-end and network as one module) is the MLflow model the trial's run
logged (harness/logged_model.py `load_pipeline`); that is the one way in.
The data set is the run's own (its `data.*` params, read by harness.data.spec.DataSpec),
so the stream is cut from the same test split the trial was tested on. The result goes
into the same run (harness/streaming/track.py; `--no-log` to only print it); `--set
KEY=VALUE` sets any StreamSettings field (docs/streaming.md).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from harness.cli import parse_options
from harness.console import console
from harness.data.spec import DataSpec
from harness.errors import HarnessError
from harness.streaming.settings import StreamSettings
from harness.tracking.logged_model import load_pipeline
from harness.tracking.runs import resolve_tracking_uri


def find_run(tracking_uri: str | None, run_id: str) -> tuple[Any, Any]:
    """(MlflowClient, the run) of `run_id`; HarnessError, one line, if the store or run is not
    there (a missing SQLite file is never created)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith("sqlite:///") and not os.path.isfile(uri[10:]):
        raise HarnessError(f"no MLflow store at {uri[10:]} ({uri}); pass --tracking-uri")
    client = MlflowClient(uri)
    try:
        return client, client.get_run(run_id)
    except MlflowException:
        raise HarnessError(f"no run {run_id!r} in {uri}; run ids are in `harness ui` or "
                           "the report's tables") from None


def stream(args: argparse.Namespace) -> int:
    """`harness stream RUN_ID`: evaluate, log into the run (unless --no-log), print."""
    from harness.streaming.evaluate import evaluate_stream
    from harness.streaming.track import log_stream
    from harness.training.device import resolve_device

    settings = StreamSettings.from_table({**parse_options(args.set), "enabled": True}, "--set")
    assert settings is not None
    client, run = find_run(args.tracking_uri, args.run_id)
    device = resolve_device(args.device)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep stderr clean
    net = load_pipeline(client, args.run_id).to(device)
    console.print(f"stream: {settings.seconds:g} s from the test split of run {args.run_id}")
    data = DataSpec.from_params(run.data.params).load()  # the trial's own test split
    result = evaluate_stream(net, data, settings, device)
    if not args.no_log:
        log_stream(client, args.run_id, result)
    summary = result.summary
    if args.json:
        print(json.dumps({"run_id": args.run_id, "settings": settings.as_dict(), **summary},
                         sort_keys=True))
    else:
        for key, v in summary.items():
            console.print(f"  {key:28s} {v:.6g}")
    return 0
