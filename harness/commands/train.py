"""`harness train` (one run, no sweep) and `harness lr-find` (learning-rate range test).

    python -m harness train --frontend complex --model seed_cnn --model-opt width=0.25 \
        --epochs 3 --json
    python -m harness lr-find --model-opt width=0.25 --steps 100 --out runs/lr_find
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import statistics
from pathlib import Path

import torch
from torch import nn

from harness.cli import parse_options
from harness.console import console
from harness.data import DataSpec, SplitData
from harness.errors import HarnessError
from harness.models import build_pipeline
from harness.training.checkpoint import save_checkpoint
from harness.training.config import TrainConfig
from harness.training.device import resolve_device, seed_everything
from harness.training.divergence import DivergedError
from harness.training.loop import EpochResult, frontend_throughput
from harness.training.lr_find import lr_range_test, write_lr_find

COLUMNS = ("epoch", "train loss", "train acc", "valid loss", "valid acc", "lr", "clips/s")


def _setup(args: argparse.Namespace,
           cfg_fields: dict) -> tuple[TrainConfig, SplitData, nn.Module, nn.Module]:
    """TrainConfig from the flags (None: the recipe's value), the data, then front-end and
    model built after seeding."""
    cfg = TrainConfig(batch_size=args.batch_size, seed=args.seed, device=args.device,
                      amp=args.amp, channels_last=args.channels_last, compile=args.compile,
                      **cfg_fields)
    frontend_opts = parse_options(args.frontend_opt, "--frontend-opt")
    model_opts = parse_options(args.model_opt, "--model-opt")
    split_seed = args.seed if args.split_seed is None else args.split_seed
    splits = DataSpec(dataset=_dataset(args), root=args.root, split=args.split,
                      split_seed=split_seed, task=args.task).load()
    seed_everything(cfg.seed)  # the initial weights draw from torch's global generator
    frontend, model = build_pipeline(args.frontend, args.model, len(splits.labels),
                                     frontend_opts, model_opts)
    return cfg, splits, frontend, model


def _dataset(args: argparse.Namespace) -> str | None:
    """--dataset, where "synth_commands" (the parser's default) next to --root means unset:
    the folder's own word folders are then the labels, as `harness data` does."""
    if args.root is not None and args.dataset == "synth_commands":
        return None
    return args.dataset or (None if args.root else "synth_commands")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def train(args: argparse.Namespace) -> int:
    from harness.sweep.preflight import writable_target
    from harness.training.recipes import KEY_TYPES
    from harness.training.trial import train_and_test

    if args.checkpoint:  # before the training, not after it
        writable_target(Path(args.checkpoint), "--checkpoint", "the checkpoint")
    cfg, splits, frontend, model = _setup(
        args, {"recipe": args.recipe, **{k: getattr(args, k) for k in KEY_TYPES
                                         if k != "batch_size"}})
    device = resolve_device(cfg.device)
    params = sum(p.numel() for p in model.parameters())
    console.print(
        f"{splits.dataset} ({args.split} split, task {splits.task}, test set "
        f"{splits.test_set}): {len(splits.train.labels)} train, "
        f"{len(splits.valid.labels)} valid, {len(splits.test.labels)} test clips, "
        f"{len(splits.labels)} classes | {args.frontend} -> {args.model}, {params:,} parameters "
        f"| {_device_name(device)}\nrecipe {cfg.recipe}: {cfg.schedule} lr {cfg.lr:g}, betas "
        f"({cfg.beta1:g}, {cfg.beta2:g}), batch {cfg.batch_size}, at most {cfg.epochs} epochs, "
        f"patience {cfg.patience}, test the {cfg.test_weights} weights", highlight=False)
    console.print(" ".join(f"{c:>10}" for c in COLUMNS), style="bold", highlight=False,
                  soft_wrap=True)

    def show(r: EpochResult) -> None:
        console.print(
            f"{r.epoch:>10} {r.train_loss:>10.4f} {r.train_acc:>10.4f} "
            f"{r.valid_loss:>10.4f} {r.valid_acc:>10.4f} {r.lr:>10.2e} "
            f"{r.train_samples_per_s:>10,.0f}" + (" *" if r.is_best else ""),
            highlight=False, soft_wrap=True)

    try:
        out = train_and_test(model, frontend, splits, cfg, on_epoch=show)
    except DivergedError as exc:
        raise HarnessError(f"{exc} (--lr {cfg.lr:g})") from exc
    epochs, test = out.epochs, out.test
    frontend_rate = frontend_throughput(frontend, splits.test, cfg)
    done = ("DIVERGED" if out.diverged else "converged" if out.converged
            else "NOT converged")
    console.print(f"test: loss {test.loss:.4f}, acc {test.acc:.4f} (weights of epoch "
                  f"{out.tested.epoch}, the {cfg.test_weights}; best epoch {out.best.epoch}; "
                  f"stopped by {out.stop_reason.replace('_', ' ')} after {len(epochs)}, {done}; "
                  "* = best so far)", highlight=False)
    if args.checkpoint and not out.diverged:
        path = save_checkpoint(frontend, model, args.checkpoint)
        console.print(f"tested weights: {path}", highlight=False)
    if args.json:
        # Epoch 1 carries the warm-up (and compilation): medians over the later epochs.
        steady = epochs[1:] or epochs
        throughput = {
            "train_samples_per_s": statistics.median(r.train_samples_per_s for r in steady),
            "eval_samples_per_s": statistics.median(r.eval_samples_per_s for r in steady),
            "frontend_samples_per_s": frontend_rate,
            "peak_memory_mb": max(r.peak_memory_mb for r in epochs),
            "device": str(device),
            "device_name": _device_name(device),
        }
        print(json.dumps({
            "epochs": [dataclasses.asdict(r) for r in epochs],
            "best_epoch": out.best.epoch,
            "tested_epoch": out.tested.epoch,
            "stop_reason": out.stop_reason,
            "converged": out.converged,
            "diverged": out.diverged,
            "test": {"loss": test.loss, "acc": test.acc, "confusion": test.confusion.tolist()},
            "throughput": throughput,
            "params": params,
            "labels": splits.labels,
            "dataset": splits.dataset,
            "task": splits.task,
            "test_set": splits.test_set,
            "frontend": args.frontend,
            "model": args.model,
            "config": dataclasses.asdict(cfg),
        }))
    if out.diverged:  # as a sweep tags it `diverged` and leaves it out of the comparison
        raise HarnessError(f"training diverged: {out.diverged} (--lr {cfg.lr:g}); lower the "
                           "learning rate" + (" (no checkpoint written)" if args.checkpoint
                                              else ""))
    return 0


def lr_find(args: argparse.Namespace) -> int:
    if not 0 < args.min_lr < args.max_lr or args.steps < 2:
        raise HarnessError(f"--min-lr {args.min_lr:g} --max-lr {args.max_lr:g} --steps "
                           f"{args.steps}: need 0 < min-lr < max-lr and steps >= 2")
    from harness.sweep.preflight import writable_dir

    writable_dir(Path(args.out), "--out", "LR-finder folder")
    cfg, splits, frontend, model = _setup(args, {})
    result = lr_range_test(model, frontend, splits.train, cfg, min_lr=args.min_lr,
                           max_lr=args.max_lr, steps=args.steps)
    csv_path, png_path = write_lr_find(result, args.out)
    end = "the loss exploded there" if result.stopped_early else "the sweep's end"
    lowest = min((v for v in result.smoothed if math.isfinite(v)), default=math.nan)
    console.print(
        f"{len(result.lrs)} steps, LR {result.lrs[0]:.2g} -> {result.lrs[-1]:.2g} ({end})\n"
        f"lowest smoothed loss {lowest:.4f} at LR {result.min_loss_lr:.3g}; "
        f"steepest descent at LR {result.steepest_lr:.3g}\n"
        f"suggested one-cycle peak: --recipe as_written --lr {result.suggested_lr:.3g} "
        "(LR of the lowest loss / 10)\n"
        f"wrote {csv_path} and {png_path}", highlight=False)
    return 0
