"""The verdict rules' error rates and power, measured: synthetic studies through the real
verdict code (harness.report.stats.paired_stats, verdicts.adjust, verdicts.word).

    python -m harness.report.calibration --studies 2000      # nox -s calibrate: the full table
    calibrate(studies=200, cells=[...])                      # tests/test_calibration.py

A synthetic study is one family of m comparisons, each n paired differences with sd SD
drawn from a normal distribution around its true difference. Where replicates share clips
(`ratio` > 0) the differences are equicorrelated, correlation r / (1 + r): a shared part
sqrt(rho)·sd·Z0 plus each replicate's own, the model under which Nadeau & Bengio's
corrected variance is exact, and the plan's sd is the replicates' own sd·sqrt(1 - rho).
Per cell (design, n, m) it measures:

- false difference: the share of families of m true-0 comparisons where any verdict is
  `better` or `worse` (the family-wise error; at most 0.05 promised);
- false equivalence: the share of families of m comparisons at a true difference equal to
  the margin where any verdict is `equivalent` (at most 0.05 promised);
- power at the margin and at twice the margin: the share of families (one comparison at
  that true difference, m - 1 at 0) where that one is `better`, beside the power
  `harness plan` promises (harness.report.power.power_difference at alpha / m);
- at the plan's n (replicates_needed for the margin at alpha / m): the power reached.

Each rate has its Monte Carlo standard error, sqrt(p (1 - p) / studies).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.report.power import power_difference, replicates_needed
from harness.report.stats import ALPHA, paired_stats
from harness.report.verdicts import BETTER, EQUIVALENT, MIN_PAIRS, WORSE, adjust, word

MARGIN = 0.01   # the margin of every synthetic study (accuracy units)
SD = 0.01       # the replicates' own sd of the paired differences
SEED = 2024
FLIPS = 200     # sign-flip Monte Carlo draws above n = 16: the check does not decide here


@dataclass(frozen=True)
class Cell:
    """One design point: n replicates, a family of m, the correction's ratio (0: plain)."""

    n: int
    m: int
    ratio: float = 0.0


CELLS = [Cell(n, m, r) for r in (0.0, 1 / 3) for m in (2, 10) for n in (5, 10, 20)]


def _family(rng: np.random.Generator, deltas: list[float], n: int, ratio: float
            ) -> list[str]:
    """Draw one study (a true difference per comparison) and return its verdict words."""
    rho = ratio / (1 + ratio)
    total = SD / math.sqrt(1 - rho)  # so that the replicates' own sd is SD
    family = []
    for delta in deltas:
        d = delta + total * (math.sqrt(rho) * rng.standard_normal()
                             + math.sqrt(1 - rho) * rng.standard_normal(n))
        family.append(paired_stats(d, MARGIN, ratio=ratio, resamples=FLIPS))
    return [word(s, a) for s, a in zip(family, adjust(family), strict=True)]


def _rate(rng: np.random.Generator, studies: int, deltas: list[float], n: int, ratio: float,
          hit: Iterable[str], first_only: bool = False) -> float:
    hit = set(hit)
    count = 0
    for _ in range(studies):
        words = _family(rng, deltas, n, ratio)
        count += (words[0] in hit) if first_only else any(w in hit for w in words)
    return count / studies


def measure(cell: Cell, studies: int, rng: np.random.Generator) -> dict[str, float | int]:
    """One row of the table (module docstring)."""
    n, m, r = cell.n, cell.m, cell.ratio
    level = ALPHA / m
    row: dict[str, float | int] = {"design": "corrected" if r else "plain", "n": n, "m": m,
                                   "studies": studies}
    row["false_difference"] = _rate(rng, studies, [0.0] * m, n, r, (BETTER, WORSE))
    row["false_equivalence"] = _rate(rng, studies, [MARGIN] * m, n, r, (EQUIVALENT,))
    for k in (1, 2):
        row[f"power_{k}x"] = _rate(rng, studies, [k * MARGIN] + [0.0] * (m - 1), n, r,
                                   (BETTER,), first_only=True)
        row[f"promised_{k}x"] = power_difference(k * MARGIN, SD, n, level, r)
    planned = replicates_needed(SD, MARGIN, level, r, at_least=MIN_PAIRS)
    row["plan_n"] = planned if planned is not None else -1
    row["plan_power"] = (_rate(rng, studies, [MARGIN] + [0.0] * (m - 1), planned, r,
                               (BETTER,), first_only=True) if planned else math.nan)
    return row


def calibrate(studies: int = 2000, cells: list[Cell] | None = None, seed: int = SEED
              ) -> pd.DataFrame:
    """The table: one row per cell, rates with their Monte Carlo standard errors."""
    rng = np.random.default_rng(seed)
    rows = [measure(c, studies, rng) for c in (CELLS if cells is None else cells)]
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """The table as docs/statistics.md shows it (rate ± Monte Carlo standard error)."""
    def pm(p: float, k: int) -> str:
        return "—" if pd.isna(p) else f"{p:.3f} ± {math.sqrt(p * (1 - p) / k):.3f}"

    head = ("| design | n | m | false better/worse (per family) | false equivalent "
            "(per family) | power at margin: measured / promised | power at 2x margin: "
            "measured / promised | plan's n for the margin: power measured |")
    lines = [head, "|" + "---|" * 8]
    for r in table.itertuples():
        k = int(r.studies)
        plan = "unreachable" if r.plan_n < 0 else f"{int(r.plan_n)}: {pm(r.plan_power, k)}"
        lines.append(f"| {r.design} | {r.n} | {r.m} | {pm(r.false_difference, k)} | "
                     f"{pm(r.false_equivalence, k)} | {pm(r.power_1x, k)} / "
                     f"{r.promised_1x:.3f} | {pm(r.power_2x, k)} / {r.promised_2x:.3f} | "
                     f"{plan} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="measure the verdict rules' calibration")
    p.add_argument("--studies", type=int, default=2000, help="synthetic studies per cell")
    p.add_argument("--out", default="reports/calibration", help="folder for calibration.csv/md")
    args = p.parse_args(argv)
    table = calibrate(args.studies)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "calibration.csv", index=False, lineterminator="\n")
    text = markdown(table)
    (out / "calibration.md").write_text(
        f"Margin {MARGIN}, sd {SD}, {args.studies} studies per cell, seed {SEED}.\n\n{text}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
