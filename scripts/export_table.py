"""docs/export.md's table: every front-end, briefly trained with a quarter-width seed CNN and
with MatchboxNet, each logged as a trial and put through `harness export RUN_ID --int8`.

    HARNESS_DATA_DIR=data python scripts/export_table.py --epochs 1 --out runs/export_table
    python scripts/export_table.py --table-only --out runs/export_table   # print it again

Each row is trained in this process on `synth_commands_small` (official split), logged to a
SQLite MLflow store in --out exactly as a sweep's trial is (harness.tracking.logged_model), and
exported through the command itself (harness.cli.main). Rows append to --out/rows.jsonl, so a
run that was stopped resumes where it stopped. Training runs on one thread: on a shared
2-core machine two threads ran slower than one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

import torch

from harness.cli import main
from harness.data import load_splits
from harness.models import build_pipeline
from harness.tracking.logged_model import log_pipeline
from harness.tracking.runs import Tracker
from harness.training.device import seed_everything
from harness.training.loop import TrainConfig, fit

DATASET = "synth_commands_small"
STFT = {"n_fft": 160, "win_length": 160, "hop_length": 200}  # 81 bins x 81 frames, as quick
MELS = {**STFT, "n_mels": 40}
FILTERBANK = {"n_filters": 40, "window_ms": 10.0, "stride_ms": 12.5}  # 161 taps, 80 frames
FRONTENDS: dict[str, dict[str, Any]] = {
    "power": STFT, "magnitude": STFT, "sqrt_magnitude": STFT, "log_power": STFT,
    "log1p_magnitude": STFT, "complex": STFT, "magnitude_phase": STFT, "complex_log": STFT,
    "learned_stft": STFT, "mel": MELS, "log_mel": MELS, "mfcc": STFT, "pcen": MELS,
    "sincnet": FILTERBANK, "leaf": FILTERBANK, "waveform": {},
}
NETWORKS = {"seed_cnn": {"width": 0.25, "padding": 1, "conv_dropout": 0.0, "dropout": 0.0},
            "matchboxnet": {}}
COLUMNS = ("front-end", "network", "PyTorch acc", "fp32 ONNX acc", "int8 acc", "int8 Δ",
           "max abs Δ logit", "fp32 bytes", "int8 bytes", "fp32 ms", "int8 ms",
           "int8 front-end", "train CPU s")


def rows_to_run() -> list[tuple[str, str]]:
    """(front-end, network) pairs; the waveform goes to m5, the only 1-D network."""
    return [(fe, "m5") if fe == "waveform" else (fe, net)
            for net in NETWORKS for fe in FRONTENDS if not (fe == "waveform" and net != "seed_cnn")]


def train_and_export(frontend: str, network: str, number: int, args: argparse.Namespace,
                     splits: Any, tracker: Tracker) -> dict[str, Any]:
    """One row: train, log as a trial, `harness export --int8 --json`; the row's dict."""
    seed_everything(0)
    fe_opts, net_opts = FRONTENDS[frontend], NETWORKS.get(network, {})
    fe, model = build_pipeline(frontend, network, len(splits.labels), fe_opts, net_opts)
    cfg = TrainConfig(recipe="as_written", epochs=args.epochs, batch_size=32, patience=99,
                      seed=0, device="cpu")
    start = time.process_time()
    epochs = list(fit(model, fe, splits.train, splits.valid, cfg, splits.noise))
    train_cpu = time.process_time() - start
    params = {"frontend": frontend, "model": network, "seed": 0, "data.dataset": DATASET,
              "data.root": None, "data.split": "official", "data.split_seed": 0,
              "data.task": "words30", "epochs": args.epochs, "recipe": "as_written",
              **{f"frontend.{k}": v for k, v in fe_opts.items()},
              **{f"model.{k}": v for k, v in net_opts.items()}}
    run = tracker.trial(number, params)
    log_pipeline(run.client, run.run_id, fe, model, splits.labels)
    run.finish("COMPLETE")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["export", run.run_id, "--int8", "--json", "--tracking-uri",
                       tracker.tracking_uri,
                       "--out", str(Path(args.out) / run.run_id)])
    if status != 0:
        raise SystemExit(f"harness export failed on {frontend} + {network}")
    return {"frontend": frontend, "network": network, "run_id": run.run_id,
            "valid_acc": epochs[-1].valid_acc, "train_cpu_s": train_cpu,
            **json.loads(out.getvalue().splitlines()[-1])}


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (accuracies in %, Δ in points)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        plan = r["int8_plan"] or {}
        kept = "float (" + plan["frontend_reason"].split(":")[0] + ")" \
            if plan.get("frontend") == "float" else "int8"
        cells = [r["frontend"], r["network"], f"{100 * r['torch_acc']:.1f}",
                 f"{100 * r['onnx_acc']:.1f}", f"{100 * r['int8_acc']:.1f}",
                 f"{100 * r['int8_delta']:+.1f}", f"{r['onnx_max_abs_diff']:.1e}",
                 f"{r['onnx_bytes']:,.0f}", f"{r['int8_bytes']:,.0f}",
                 f"{r['onnx_latency_ms']:.2f}", f"{r['int8_latency_ms']:.2f}", kept,
                 f"{r['train_cpu_s']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done_file = out / "rows.jsonl"
    done = [json.loads(line) for line in done_file.read_text().splitlines()] \
        if done_file.exists() else []
    if not args.table_only:
        torch.set_num_threads(1)
        tracker = Tracker("export_table", f"sqlite:///{(out / 'mlflow.db').absolute()}")
        splits = load_splits(DATASET)
        seen = {(r["frontend"], r["network"]) for r in done}
        for number, (fe, net) in enumerate(rows_to_run()):
            if (fe, net) in seen or (args.only and fe not in args.only):
                continue
            row = train_and_export(fe, net, number, args, splits, tracker)
            done.append(row)
            with done_file.open("a") as f:
                f.write(json.dumps(row, sort_keys=True) + "\n")
            print(f"{fe} + {net}: torch {row['torch_acc']:.3f} int8 {row['int8_acc']:.3f} "
                  f"({row['train_cpu_s']:.0f} s train CPU)", flush=True)
    print(table(done))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", default="runs/export_table")
    parser.add_argument("--only", nargs="*", default=None, help="front-ends to (re)run")
    parser.add_argument("--table-only", action="store_true")
    run(parser.parse_args())
