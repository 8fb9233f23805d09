"""Planning a study that can earn a verdict: replicates, wall time and the command for each
comparison of an experiment file, from a pilot's trials or a given sd.

    python -m harness plan quick                  # the pilot: the study's finished trials
    python -m harness plan complex_vs_magnitude --sd 0.01

For each (complex, magnitude) comparison of the file's front-ends (the finding's family, m
comparisons): the replicates for power 0.8 at alpha / m, the strictest Holm step, to detect
a true difference of the margin, and to show equivalence at ±margin when the true difference
is 0 (harness.report.power), by the test the file's design calls for (harness.report.design:
a corrected test never gets its standard error below sd·sqrt(n_test / n_train), so some
margins are "unreachable at this margin"); the wall time of the missing trials from the
pilot's measured durations; and how to extend the study to that many seeds.
harness/commands/plan.py reads the experiment file and calls `plan` and `lines`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.errors import HarnessError
from harness.report.design import Design
from harness.report.judging import COMPLEX, MAGNITUDE, compare, family
from harness.report.power import minimum_detectable, reachable_margin, replicates_needed
from harness.report.runs import COMPLETE, Study, load
from harness.report.stats import ALPHA
from harness.report.verdicts import MIN_PAIRS


@dataclass(frozen=True)
class Question:
    """What an experiment file asks and how it runs: the inputs of a plan."""

    name: str
    path: Path
    frontends: tuple[str, ...]   # the front-ends it compares
    configs: int                 # trials per seed (grid points without the seed)
    seeds: tuple[int, ...]
    workers: int                 # processes a sweep of it starts
    margin: float                # [report] margin, accuracy
    design: Design

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The finding's family: every (complex-family, magnitude-family) pair."""
        fam = {fe: family(fe) for fe in self.frontends}
        return [(a, b) for a in sorted(fam) if fam[a] == COMPLEX
                for b in sorted(fam) if fam[b] == MAGNITUDE]


@dataclass(frozen=True)
class Row:
    """One comparison's plan."""

    a: str
    b: str
    sd: float                    # of the paired differences
    source: str                  # where sd comes from, in words
    pilot_pairs: int             # replicates the pilot has (0 without one)
    mdd: float | None            # what the pilot's design detects at alpha / m
    difference: int | None       # replicates to detect a difference of the margin
    equivalence: int | None      # replicates to show equivalence at true difference 0


def plan(q: Question, sd: float | None, tracking_uri: str) -> tuple[list[Row], float | None]:
    """(one Row per comparison, median seconds per complete pilot trial or None)."""
    if sd is not None and not sd > 0:
        raise HarnessError(f"--sd {sd}: the sd of the paired differences must be positive")
    pilot = _pilot(q.name, tracking_uri)
    if pilot is None and sd is None:
        raise HarnessError(f"no pilot trials of {q.name!r} in {tracking_uri}: run a pilot "
                           f"(`python -m harness sweep {q.path}`) or give the sd of the paired "
                           "differences, --sd 0.01")
    if not q.pairs:
        raise HarnessError(f"{q.path}: no pair of a complex-family and a magnitude-family "
                           "front-end to plan for")
    level = ALPHA / len(q.pairs)
    rows = []
    for a, b in q.pairs:
        c = compare(pilot, a, b) if pilot is not None else None
        have = c.stats.n if c is not None else 0
        if sd is not None:
            s, source = sd, "--sd"
        elif c is not None and c.stats.sd is not None:
            s, source = c.stats.sd, f"pilot, {have} pairs"
        else:
            raise HarnessError(f"{a} vs {b}: the pilot has {have} pair(s), too few for an sd; "
                               "run more seeds or give --sd")
        rows.append(Row(a, b, s, source, have,
                        minimum_detectable(s, have, level, q.design.ratio) if have >= 2 else None,
                        *(replicates_needed(s, q.margin, level, q.design.ratio, aim=aim,
                                            at_least=MIN_PAIRS)
                          for aim in ("difference", "equivalence"))))
    return rows, _trial_seconds(pilot)


def lines(q: Question, rows: list[Row], trial_s: float | None) -> list[str]:
    """The plan as printed: a header, then each comparison's numbers and command."""
    m = len(rows)
    out = [f"plan {q.name} ({q.path}): margin ±{q.margin:g} accuracy; the finding's family of "
           f"{m} comparison(s), each planned at alpha {ALPHA:g}/{m} = {ALPHA / m:.3g}, "
           f"power 0.8; on {q.design.why} the {q.design.test} decides"]
    for r in rows:
        out.append(f"{r.a} vs {r.b}: sd {r.sd:.4g} ({r.source})"
                   + (f"; the pilot's MDD {r.mdd:.4f}" if r.mdd is not None else ""))
        for aim, what, n in (("difference", "detect a difference of the margin", r.difference),
                             ("equivalence", "show equivalence (true difference 0)",
                              r.equivalence)):
            out.append(f"  to {what}: " + (
                _replicates(q, n, r.pilot_pairs, trial_s) if n is not None else
                "unreachable at this margin (its standard error never falls below sd x "
                f"{math.sqrt(q.design.ratio):.2f}; margins from "
                f"{reachable_margin(r.sd, ALPHA / m, q.design.ratio, aim):.4f} are reachable)"))
    need = [n for r in rows for n in (r.difference, r.equivalence) if n is not None]
    if need:
        n = max(need)
        seeds = _grown(q.seeds, n)
        out.append(f"extend to {n} replicates: set `seeds = {seeds}` under [search] in "
                   f"{q.path}, then `python -m harness sweep {q.path}` (finished trials are "
                   "kept; only the new seeds run)" if n > len(q.seeds) else
                   f"the file's {len(q.seeds)} seeds already reach {n} replicates")
    return out


def _replicates(q: Question, n: int, have: int, trial_s: float | None) -> str:
    """`16 replicates (11 more, about 18 min at 2 worker(s), 96 s a trial)`."""
    if n <= have:
        return f"{n} replicates (the pilot has them)"
    if trial_s is None:
        return f"{n} replicates (no pilot durations: run a pilot to project the wall time)"
    seconds = (n - have) * q.configs * trial_s / q.workers
    wall = f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"
    return (f"{n} replicates ({n - have} more, about {wall} at {q.workers} worker(s), "
            f"{trial_s:.0f} s a trial)")


def _grown(seeds: tuple[int, ...], n: int) -> list[int]:
    """The file's seeds, then the next unused integers, n in all."""
    out, nxt = list(seeds[:n]), max(seeds, default=-1) + 1
    while len(out) < n:
        out.append(nxt)
        nxt += 1
    return out


def _pilot(name: str, tracking_uri: str) -> Study | None:
    """The study's trials, or None when the store or the experiment is not there."""
    try:
        return load(name, tracking_uri)
    except HarnessError:
        return None


def _trial_seconds(pilot: Study | None) -> float | None:
    """Median wall seconds of a complete pilot trial (MLflow start to end)."""
    if pilot is None:
        return None
    done = pilot.runs[pilot.runs["state"] == COMPLETE]
    seconds = (pd.to_datetime(done["end_time"]) - pd.to_datetime(done["start_time"])
               ).dt.total_seconds().dropna()
    return float(seconds.median()) if len(seconds) else None
