"""A sweep's plan: one experiment and the two stores its trials go to.

    plan = SweepPlan.create(load_experiment("quick"))     # journal under runs/optuna/
    plan.fixed_id                                          # whose trials in the study are ours

It travels, pickled, to every spawned worker (harness.sweep.worker); the queue of its trials
is harness.sweep.queue.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from harness.sweep.experiment import Experiment
from harness.tracking.runs import resolve_tracking_uri


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """What every worker needs, picklable for spawned processes."""

    experiment: Experiment
    storage: str        # an Optuna RDB URL, or the path of a journal file
    tracking_uri: str
    dry_run: float | None = None  # seconds of sleep per epoch instead of training (--dry-run)

    @classmethod
    def create(cls, exp: Experiment, storage: str | None = None,
               tracking_uri: str | None = None, dry_run: float | None = None) -> SweepPlan:
        journal = Path("runs", "optuna", f"{exp.name}.journal").resolve()
        return cls(exp, storage or str(journal), resolve_tracking_uri(tracking_uri),  # made later
                   dry_run)

    @property
    def fixed_id(self) -> str:
        """Short hash of the experiment's identity (the fixed values its file and overrides
        give): trials of other fixed values are not ours, nor are a dry run's."""
        identity = self.experiment.identity
        if self.dry_run is not None:
            identity = {**identity, "dry_run": self.dry_run}
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:10]
