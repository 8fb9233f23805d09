"""`harness stream RUN_ID`: score a trained trial on a long test stream, without retraining.

    python -m harness stream 3f2a... --tracking-uri sqlite:///runs/mlflow.db \
        --set seconds=3600 --set hop_ms=50 --json

The pipeline (front-end and network as one module) is the MLflow model the trial's run
logged (harness/logged_model.py `load_pipeline`); that is the one way in.
The data set is the run's own (params `data.dataset`, `data.root`, `data.split`,
`data.split_seed`, and `data.task` where logged), so the stream is cut from the same
test split the trial was tested on. The result goes into the same run (harness/
streaming/track.py; `--no-log` to only print it); `--set KEY=VALUE` sets any
StreamSettings field (docs/streaming.md).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
from typing import Any

from harness.cli import parse_options
from harness.console import console
from harness.errors import HarnessError
from harness.logged_model import load_pipeline
from harness.report.runs import resolve_tracking_uri
from harness.streaming.settings import StreamSettings


def run_data(params: dict[str, str]) -> Any:
    """The run's data set, from its `data.*` params (text; "None" for unset)."""
    from harness.data import load_splits

    def value(key: str) -> str | None:
        v = params.get(key)
        return None if v in (None, "None", "") else v

    kwargs: dict[str, Any] = {}
    if value("data.task") and "task" in inspect.signature(load_splits).parameters:
        kwargs["task"] = value("data.task")
    seed = value("data.split_seed")
    return load_splits(value("data.dataset"), value("data.root"), value("data.split") or
                       "official", int(seed) if seed else 0, **kwargs)


def stream(args: argparse.Namespace) -> int:
    """`harness stream RUN_ID`: evaluate, log into the run (unless --no-log), print."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from harness.device import resolve_device
    from harness.streaming.evaluate import evaluate_stream
    from harness.streaming.track import log_stream

    uri = resolve_tracking_uri(args.tracking_uri)
    if uri.startswith("sqlite:///") and not os.path.isfile(uri[10:]):
        raise HarnessError(f"no MLflow store at {uri[10:]} ({uri}); pass --tracking-uri")
    settings = StreamSettings.from_table({**parse_options(args.set), "enabled": True}, "--set")
    assert settings is not None
    client = MlflowClient(uri)
    try:
        run = client.get_run(args.run_id)
    except MlflowException:
        raise HarnessError(f"no run {args.run_id!r} in {uri}; run ids are in `harness ui` or "
                           "the report's tables") from None
    device = resolve_device(args.device)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep stderr clean
    net = load_pipeline(client, args.run_id).to(device)
    console.print(f"stream: {settings.seconds:g} s from the test split of run {args.run_id}")
    result = evaluate_stream(net, run_data(run.data.params), settings, device)
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
