"""`harness export RUN_ID`: a trial's front-end and network as one ONNX graph, measured.

    python -m harness export 3f2a... --int8 --tracking-uri sqlite:///runs/mlflow.db
    python -m harness export 3f2a... --out deploy/ --no-log --json

The pipeline is the MLflow model the trial's run logged (harness.tracking.logged_model
`load_pipeline`, the one way in, as `harness stream`); the data is the run's own (its
`data.*` params), so accuracy is on the test split the trial was tested on and int8 is
calibrated on its training split. The figures and files go into the same run
(harness/export/track.py; `--no-log` to only print them). docs/export.md has the method.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from harness.commands.stream import find_run, run_data
from harness.console import console


def export(args: argparse.Namespace) -> int:
    """Export, measure, log into the run (unless --no-log), print."""
    from harness.export.measure import measure
    from harness.export.runtime import require_onnx
    from harness.export.track import log_export
    from harness.sweep.preflight import writable_dir
    from harness.tracking.logged_model import load_pipeline

    require_onnx()
    client, run = find_run(args.tracking_uri, args.run_id)
    out = writable_dir(Path(args.out or f"runs/export/{args.run_id}"), "--out",
                       "folder for the .onnx files")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep stderr clean
    pipeline = load_pipeline(client, args.run_id)
    params = run.data.params
    names = (params.get("frontend", "front-end"), params.get("model", "model"))
    data = run_data(params)
    console.print(f"export: run {args.run_id} ({names[0]} -> {names[1]}), "
                  f"{len(data.test.labels)} test clips", highlight=False, soft_wrap=True)
    result = measure(pipeline, data.test, data.train, out, int8=args.int8, names=names)
    if not args.no_log:
        log_export(client, args.run_id, result)
    if args.json:
        print(json.dumps({"run_id": args.run_id, **result.metrics(), "isa": result.isa,
                          "cpu": result.cpu, "latency_protocol": result.protocol,
                          "int8_plan": result.plan.describe() if result.plan else None,
                          "files": [str(p) for p in result.files]}, sort_keys=True))
        return 0
    console.print(f"  {'':10s} {'test acc':>9s} {'vs torch':>9s} {'bytes':>11s} "
                  f"{'ms (1 thread)':>14s}\n  {'pytorch':10s} {result.torch_acc:9.4f}",
                  highlight=False, soft_wrap=True)
    rows = [("fp32 onnx", result.onnx_acc, result.onnx_delta, result.onnx_bytes,
             result.onnx_latency_ms)]
    if result.int8_acc is not None:
        rows.append(("int8 onnx", result.int8_acc, result.int8_delta, result.int8_bytes,
                     result.int8_latency_ms))
    for name, acc, delta, size, ms in rows:
        console.print(f"  {name:10s} {acc:9.4f} {delta:+9.4f} {size:11,d} {ms:14.3f}",
                      highlight=False, soft_wrap=True)
    console.print(f"  largest |logit difference| fp32 onnx vs pytorch: "
                  f"{result.onnx_max_abs_diff:.2e}", highlight=False, soft_wrap=True)
    console.print(f"  CPU: {result.cpu} ({result.isa}); latency: {result.protocol}",
                  highlight=False, soft_wrap=True)
    if result.plan is not None:
        plan = result.plan
        console.print(
            f"  int8 ({plan.isa}): static QDQ, {plan.calibration} calibration on "
            f"{result.calibration_clips} training clips, per-channel {plan.weights} weights,"
            f" {plan.activations} activations, reduce_range {plan.reduce_range}; ops "
            f"{', '.join(plan.ops)}; front-end "
            + (f"kept in float ({plan.frontend_reason})" if plan.frontend == "float"
               else "quantised"), highlight=False, soft_wrap=True)
    console.print("  files: " + ", ".join(str(p) for p in result.files)
                  + ("" if args.no_log else " (logged to the run under export/)"),
                  highlight=False, soft_wrap=True)
    return 0

