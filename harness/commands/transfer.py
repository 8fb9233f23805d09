"""`harness data transfer`: does a model trained on an offline set recognise real speech?

    python -m harness data transfer synth_commands_v2_small --seeds 0 1 2
    python -m harness data transfer synth_commands_small --part dev --frontend complex --json

Trains an experiment file's model (default: the quick study's: quarter-width seed CNN on
81 x 81 STFT input, its recipe, best weights) on the offline set once per front-end and seed,
with `harness.training.loop.fit`, then tests it on the set's own test split and on FSDD's
real recordings of the digits (words matched by name: "seven" is "seven"), 30-way and
restricted to the ten digits (harness.evaluation.transfer). Prints the mean over seeds of
each with its 95 % t-interval. `--part dev` (FSDD's dev speakers, jackson and nicolas) is for
choosing between generator recipes; `test` (the four others) is for the final figure, once.
FSDD must be prepared first (`harness data prepare fsdd`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from harness.console import console

REAL = "fsdd"
PARTS = ("dev", "test", "all")


def real_clips(part: str) -> tuple[object, list[str]]:
    """FSDD's `part` speakers' clips (its roles split: dev = train + valid, test = test) and
    its label names."""
    from harness.data import Clips, load_splits

    data = load_splits(REAL, split="roles")
    parts = {"dev": (data.train, data.valid), "test": (data.test,),
             "all": (data.train, data.valid, data.test)}[part]
    return (Clips(np.concatenate([p.audio for p in parts]),
                  np.concatenate([p.labels for p in parts])), list(data.labels))


def transfer(args: argparse.Namespace) -> int:
    """Train per front-end x seed, test on own and real clips; a table, or one JSON object."""
    from harness.cli import parse_options
    from harness.data import load_splits
    from harness.evaluation.transfer import train_and_transfer
    from harness.report.stats import mean_interval
    from harness.sweep.experiment_file import load_experiment

    exp = load_experiment(args.experiment, parse_options(args.set))
    frontends = args.frontend or list(exp.space.get("frontend") or [exp.fixed["frontend"]])
    first = exp.params({"frontend": frontends[0], "seed": args.seeds[0]})
    dataset = None if args.root else args.dataset or first["data.dataset"]
    others = {f"{REAL} {args.part}": real_clips(args.part)}
    data = load_splits(dataset, args.root, first["data.split"], first["data.split_seed"] or 0,
                       task=first["data.task"])
    dataset = data.dataset
    outcomes = []
    start = time.perf_counter()
    for frontend in frontends:
        for seed in args.seeds:
            params = exp.params({"frontend": frontend, "seed": seed})
            o = train_and_transfer(params, data, others, args.device)
            outcomes.append(o)
            real = next(iter(o.real.values()))
            console.print(f"{frontend} seed {seed}: own test {o.own_acc:.3f}, {REAL} "
                          f"{args.part} {real.acc:.3f} (digits only {real.restricted_acc:.3f}); "
                          f"{o.epochs} epochs, {o.seconds:.0f} s", highlight=False)
    rows = []
    for frontend in frontends:
        mine = [o for o in outcomes if o.frontend == frontend]
        reals = [next(iter(o.real.values())) for o in mine]
        rows.append({"frontend": frontend, "seeds": [o.seed for o in mine]} | {
            key: dataclasses.asdict(mean_interval(values)) for key, values in (
                ("own_acc", [o.own_acc for o in mine]),
                ("real_acc", [r.acc for r in reals]),
                ("real_digit_acc", [r.restricted_acc for r in reals]))})
    if args.json:
        print(json.dumps({"dataset": dataset, "real": REAL, "part": args.part,
                          "experiment": exp.name, "rows": rows,
                          "seconds": time.perf_counter() - start}))
        return 0
    console.print(f"\n{exp.name}'s model trained on {dataset}, tested on {REAL} {args.part} "
                  f"(mean over seeds, 95 % t-interval):", highlight=False)
    for row in rows:
        console.print(f"  {row['frontend']:<10} own test {_fmt(row['own_acc'])}   {REAL} "
                      f"30-way {_fmt(row['real_acc'])}   10 digits {_fmt(row['real_digit_acc'])}",
                      highlight=False)
    return 0


def _fmt(interval: dict) -> str:
    if interval["low"] is None:
        return f"{interval['mean']:.3f}"
    return f"{interval['mean']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"
