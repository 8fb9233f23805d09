"""`harness plan EXPERIMENT [--sd X]`: its arguments; harness.report.plan does the work.

    python -m harness plan quick                     # sd and durations from the study's trials
    python -m harness plan complex_vs_magnitude --sd 0.01
"""

from __future__ import annotations

import argparse


def plan(args: argparse.Namespace) -> int:
    """Print the replicates, wall time and extension command of each comparison."""
    from harness.report import plan as rplan
    from harness.report.design import design_for
    from harness.report.runs import resolve_tracking_uri
    from harness.sweep.experiment_file import load_experiment

    exp = load_experiment(args.experiment)
    frontends = tuple(exp.space.get("frontend") or (exp.fixed["frontend"],))
    # trials per seed: a grid's points, else the configurations tpe/random samples
    trials = len(exp.grid()) if exp.sampler == "grid" else (exp.n_trials or len(exp.seeds))
    q = rplan.Question(
        exp.name, exp.path, frontends, configs=max(trials // len(exp.seeds), 1),
        seeds=exp.seeds, workers=exp.workers, margin=exp.margin,
        design=design_for(str(exp.fixed.get("data.split")), exp.fixed.get("data.split_seed"),
                          exp.fixed.get("data.folds")))
    uri = resolve_tracking_uri(args.tracking_uri)
    rows, trial_s = rplan.plan(q, args.sd, uri)
    print("\n".join(rplan.lines(q, rows, trial_s)))
    return 0
