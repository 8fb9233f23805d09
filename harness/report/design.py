"""Whether a study's replicates share clips, and so which paired test is honest for it.

Replicates on one fixed split vary only the seed: their differences are independent
given the split, and the plain paired t-test applies (its claim is about that split).
Replicates that redraw a random split from one pool of clips share most of their
training and test clips, and cross-validation folds share their training sets: the
differences are then positively correlated, the plain t-interval is too narrow, and the
corrected resampled t of Nadeau & Bengio (2003) inflates the variance of the mean from
s^2 / n to s^2 * (1/n + n_test / n_train). Bouckaert & Frank (2004, "Evaluating the
replicability of significance tests for comparing learning algorithms", PAKDD) apply the
same correction to repeated cross-validation.

    design_of(trials)                      # from the trials' data.split / split_seed / folds
    design_for("random", split_seed=None)  # from an experiment file, before any trial ran
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.data.speech_commands import RANDOM_FRACTIONS
from harness.errors import HarnessError

RANDOM_RATIO = RANDOM_FRACTIONS[2] / RANDOM_FRACTIONS[0]  # 20/60 = 1/3: n_test / n_train
FOLDS = "speaker_folds"  # harness.data's cross-validation split: fold k tests, k + 1 validates


@dataclass(frozen=True)
class Design:
    """How replicates relate: `ratio` = n_test / n_train when they share clips, else 0."""

    split: str      # the data.split param: official, random, speaker_folds, ...
    ratio: float    # 0: the plain paired t; > 0: the corrected resampled t
    why: str        # a noun phrase, for the report's methods paragraph: "a fixed ... split"

    @property
    def test(self) -> str:
        return "corrected resampled t-test" if self.ratio > 0 else "paired t-test"


def design_for(split: str, split_seed: object = None, folds: object = None) -> Design:
    """The design of a file's `[data]`: a random split without a fixed split_seed is redrawn
    per replicate (harness.sweep.experiment.Experiment.params); speaker folds with `folds`
    folds test 1 fold and train on folds - 2 (one validates)."""
    if split == FOLDS:
        k = int(float(str(folds))) if folds not in (None, "", "None") else 0
        if k < 3:
            raise HarnessError(f"split {FOLDS} with folds = {folds!r}: the corrected test "
                               "needs the fold count (3 or more), the `data.folds` param")
        return Design(split, 1 / (k - 2), f"{k} speaker folds whose training folds overlap "
                      f"(n_test / n_train = 1/{k - 2})")
    if split == "random" and split_seed in (None, "", "None"):
        return Design(split, RANDOM_RATIO, "a random 60/20/20 split redrawn per replicate "
                      "from one pool of clips (n_test / n_train = 1/3)")
    return Design(split, 0.0, f"a fixed {split} split whose replicates vary only the seed")


def design_of(trials: pd.DataFrame) -> Design:
    """The design of the trials a comparison pairs (MLflow params, as text): corrected when
    they ran speaker folds, or a random split whose seed differs between them."""
    splits = sorted({str(s) for s in trials.get("data.split", pd.Series(dtype=str)).dropna()})
    split = splits[0] if len(splits) == 1 else "/".join(splits) or "official"
    if FOLDS in splits:
        folds = trials["data.folds"].dropna().iloc[0] if "data.folds" in trials and \
            trials["data.folds"].notna().any() else None
        return design_for(FOLDS, folds=folds)
    seeds = set(trials.get("data.split_seed", pd.Series(dtype=str)).astype(str))
    if "random" in splits and len(seeds) > 1:
        return design_for("random")
    return design_for(split, split_seed="fixed")
