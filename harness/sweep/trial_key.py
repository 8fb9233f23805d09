"""A queued trial's identity, `harness.key`: built and read here only.

    TrialKey.of_grid(fixed_id, {"frontend": "complex", "seed": 0})  # a grid point
    key = TrialKey.of_slot(fixed_id, 3)         # tpe/random: the 4th configuration, first seed
    key.for_seed(1)                             # ... the same configuration for seed 1
    str(key) -> "ab12cd34ef:slot3"; TrialKey.parse(text) gives it back

The text, `<fixed id>:<point>`, is the Optuna user attribute and the MLflow tag of the same
name (harness.tracking.names.KEY). The fixed id is the hash of the experiment's fixed values
(harness.sweep.plan.SweepPlan.fixed_id), so two studies' points never share a key. The point
is a grid point's parameters as sorted JSON, whose trial can be rebuilt from the key alone
(harness.sweep.restore), or `slot<N>` for a sampled configuration and
`slot<N>:seed<S>` for its repeats on the other seeds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class TrialKey:
    """`fixed_id`: the experiment's hash; `point`: what the trial runs within it."""

    fixed_id: str
    point: str

    @classmethod
    def of_grid(cls, fixed_id: str, params: Mapping[str, Any]) -> TrialKey:
        return cls(fixed_id, json.dumps(dict(params), sort_keys=True))

    @classmethod
    def of_slot(cls, fixed_id: str, slot: int) -> TrialKey:
        return cls(fixed_id, f"slot{slot}")

    @classmethod
    def parse(cls, text: str) -> TrialKey:
        fixed_id, _, point = text.partition(":")
        return cls(fixed_id, point)

    def for_seed(self, seed: int) -> TrialKey:
        """A sampled configuration's key for another seed."""
        return TrialKey(self.fixed_id, f"{self.point}:seed{seed}")

    def grid_params(self) -> dict[str, Any] | None:
        """A grid point's parameters; None for a sampled slot's key."""
        return json.loads(self.point) if self.point.startswith("{") else None

    def __str__(self) -> str:
        return f"{self.fixed_id}:{self.point}"
