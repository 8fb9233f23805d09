"""docs/export.md's table: every front-end, briefly trained with a quarter-width seed CNN and
with MatchboxNet, each logged as a trial and put through `harness export RUN_ID --int8`.

    HARNESS_DATA_DIR=data python scripts/export_table.py --epochs 1 --out runs/export_table
    python scripts/export_table.py --table-only --out runs/export_table   # print it again
    python scripts/export_table.py --table-only --retime --compare   # latencies under one
                     # load, and int8 with the front-end kept float where it was quantised

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
from harness.models.classifier import Classifier
from harness.tracking.logged_model import log_pipeline
from harness.tracking.runs import Tracker
from harness.training.config import TrainConfig
from harness.training.device import seed_everything
from harness.training.loop import fit

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
    log_pipeline(run.client, run.run_id, Classifier(fe, model, splits.labels), splits.labels)
    run.finish("COMPLETE")
    return {"frontend": frontend, "network": network, "run_id": run.run_id,
            "valid_acc": epochs[-1].valid_acc, "train_cpu_s": train_cpu,
            **export(run.run_id, tracker.tracking_uri, Path(args.out) / run.run_id)}


def export(run_id: str, uri: str, out: Path, *extra: str) -> dict[str, Any]:
    """`harness export RUN_ID --int8 --json [extra]`'s JSON."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        status = main(["export", run_id, "--int8", "--json", "--tracking-uri", uri,
                       "--out", str(out), *extra])
    if status != 0:
        raise SystemExit(f"harness export {run_id} failed")
    return json.loads(text.getvalue().splitlines()[-1])


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


def compare_float_frontend(rows: list[dict[str, Any]], uri: str, out: Path) -> str:
    """For each seed_cnn row whose front-end int8 quantised: int8 again with it kept float
    (not logged), as a Markdown table. (The MatchboxNet rows of those front-ends were near
    chance after one epoch: nothing to compare.)"""
    lines = ["| front-end | network | PyTorch acc | int8, front-end int8 | "
             "int8, front-end float | int8 ms, front-end int8 | int8 ms, front-end float |",
             "|" + "---|" * 7]
    for r in rows:
        if (r["int8_plan"] or {}).get("frontend") != "int8" or r["network"] != "seed_cnn":
            continue
        f = export(r["run_id"], uri, out / r["run_id"] / "float_frontend", "--float-frontend",
                   "--no-log")
        lines.append(f"| {r['frontend']} | {r['network']} | {100 * r['torch_acc']:.1f} | "
                     f"{100 * r['int8_acc']:.1f} | {100 * f['int8_acc']:.1f} | "
                     f"{r['int8_latency_ms']:.2f} | {f['int8_latency_ms']:.2f} |")
    return "\n".join(lines)


def retime(rows: list[dict[str, Any]], out: Path) -> None:
    """Time every row's two graphs again, back to back (the same protocol): rows trained
    over an hour on a shared machine were timed under different loads."""
    import os

    from harness.export.measure import latency_ms
    from harness.export.runtime import session

    audio = load_splits(DATASET).test.audio
    before = os.getloadavg()[0]
    for r in rows:
        for kind, name in (("onnx", "model.onnx"), ("int8", "model.int8.onnx")):
            r[f"{kind}_latency_ms"] = latency_ms(session(out / r["run_id"] / name), audio)
    print(f"retimed {len(rows)} rows; 1-min load average {before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after", flush=True)


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done_file = out / "rows.jsonl"
    done = [json.loads(line) for line in done_file.read_text().splitlines()] \
        if done_file.exists() else []
    uri = f"sqlite:///{(out / 'mlflow.db').absolute()}"
    torch.set_num_threads(1)
    if args.reexport:  # the trained trials again through `harness export` (a changed rule)
        done = [{**r, **export(r["run_id"], uri, out / r["run_id"])}
                if r["frontend"] in args.reexport else r for r in done]
        done_file.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in done))
    if args.retime:
        retime(done, out)
        done_file.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in done))
    if not args.table_only:
        tracker = Tracker("export_table", uri)
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
    if args.compare:
        print(compare_float_frontend(done, uri, out))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", default="runs/export_table")
    parser.add_argument("--only", nargs="*", default=None, help="front-ends to (re)run")
    parser.add_argument("--table-only", action="store_true", help="train nothing new")
    parser.add_argument("--reexport", nargs="*", default=None,
                        help="front-ends whose trials to put through `harness export` again")
    parser.add_argument("--retime", action="store_true",
                        help="time every row's graphs again, back to back")
    parser.add_argument("--compare", action="store_true",
                        help="also int8 with the front-end kept float, where it was quantised "
                             "(seed_cnn rows)")
    run(parser.parse_args())
