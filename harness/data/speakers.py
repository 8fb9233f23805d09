"""Splits by speaker: K speaker folds for any data set, and a data set's fixed speaker roles.

    folds = speaker_folds(cache.speakers, 6)                  # speaker -> fold 0..5
    rows = fold_rows(cache.speakers, k=6, fold=2)             # {"train", "valid", "test"} rows
    rows = role_rows(cache.speakers, cache.official, {"dev": (...), "test": (...)})
    rows["train"] = fraction_rows(cache.speakers, cache.label_idx, rows["train"], 0.25, seed=0)

speaker_folds (any data set; on Speech Commands the speaker is the hash id before
"_nohash_"): speakers are grouped into K folds once, the same for every replicate, and
replicate i tests on fold i, validates on fold (i + 1) mod K and trains on the other K - 2
folds. Over the K replicates i = 0..K-1 every clip is tested exactly once and every test
speaker is unseen in training. The replicate index is the split's `split_seed` (as the
random split's seed is the replicate's), so a sweep's seeds 0..K-1 run the K folds.

roles (data sets that name them, e.g. fsdd): `test` = every clip of the test speakers;
the dev speakers' clips train and validate (valid = their official test rows, train = the
rest). Nothing tuned on dev ever sees a test speaker.

fraction_rows (the `train_fraction` key, for learning curves): every speaker keeps the same
share of its training clips, so a smaller training set has the larger one's speakers in the
same proportions, and for one seed the clips kept at a smaller fraction are a subset of
those kept at a larger one (nested), whatever the fractions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from harness.errors import HarnessError

FRACTION_SEED = 0x7f4a  # the train_fraction draw's own stream (beside the split's seed)
MIN_FOLDS = 3  # a test fold, a validation fold and at least one to train on
ROLE_NAMES = ("dev", "test")


def speaker_folds(speakers: Sequence[str], k: int) -> dict[str, int]:
    """speaker -> fold (0..k-1), balanced by clip count and deterministic.

    Speakers with the most clips are placed first (ties by name), each into the fold with
    the fewest clips so far (ties: the lower fold): the folds' sizes then differ by at most
    the largest speaker's clips. Equal speakers (FSDD: 500 clips each) with k = their
    number give one speaker per fold in name order: leave-one-speaker-out.
    HarnessError unless MIN_FOLDS <= k <= the number of speakers.
    """
    counts = Counter(speakers)
    if not MIN_FOLDS <= k <= len(counts):
        raise HarnessError(f"folds = {k}: speaker folds need {MIN_FOLDS} <= folds <= the "
                           f"number of speakers ({len(counts)}): one to test, one to validate, "
                           f"the rest to train")
    sizes = [0] * k
    out: dict[str, int] = {}
    for speaker, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        fold = sizes.index(min(sizes))
        out[speaker] = fold
        sizes[fold] += n
    return out


def fold_rows(speakers: Sequence[str], k: int, fold: int) -> dict[str, np.ndarray]:
    """{"train", "valid", "test"} -> sorted int64 rows: test fold `fold`, valid the next."""
    if not 0 <= fold < k:
        raise HarnessError(f"split_seed {fold} names no speaker fold of {k} (0..{k - 1}): "
                           f"replicate i tests fold i, so run the seeds 0..{k - 1}")
    of = speaker_folds(speakers, k)
    fold_of = np.array([of[s] for s in speakers], dtype=np.int64)
    valid = (fold + 1) % k
    return {"train": np.flatnonzero((fold_of != fold) & (fold_of != valid)),
            "valid": np.flatnonzero(fold_of == valid), "test": np.flatnonzero(fold_of == fold)}


def role_rows(speakers: Sequence[str], official: np.ndarray,
              roles: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """{"train", "valid", "test"} -> sorted int64 rows of the fixed speaker roles.

    `official`: (N,) each row's official split ("train" | "valid" | "test"); the dev
    speakers' official test rows validate, their other rows train; the test speakers' rows
    are the test split. HarnessError if a role's speaker has no clips.
    """
    who = np.asarray(speakers, dtype=str)
    present = set(who.tolist())
    missing = [s for r in ROLE_NAMES for s in roles[r] if s not in present]
    if missing:
        raise HarnessError(f"the speaker roles name {', '.join(missing)}, who have no clips "
                           f"here; the folder is not the complete data set: prepare it again")
    dev = np.isin(who, list(roles["dev"]))
    held = official == "test"
    return {"train": np.flatnonzero(dev & ~held), "valid": np.flatnonzero(dev & held),
            "test": np.flatnonzero(np.isin(who, list(roles["test"])))}


def fraction_rows(speakers: Sequence[str], labels: np.ndarray, rows: np.ndarray,
                  fraction: float, seed: int) -> np.ndarray:
    """The sorted rows of `rows` kept at `fraction` (0 < fraction <= 1): nested, per speaker.

    speakers: (N,) every cache row's speaker; labels: (N,) its word index; rows: the
    training rows to draw from. Each speaker keeps round(fraction x its clips) of them
    (half up; a speaker with few clips may keep none at a small fraction). Within a
    speaker the clips are ordered once per seed, every word's first (random) clip before
    any word's second, so a speaker's kept clips spread over its words; a fraction keeps a
    prefix of that order, which is what nests the smaller sets in the larger ones.
    """
    if fraction >= 1:
        return rows
    rng = np.random.default_rng((FRACTION_SEED, seed))
    draw = rng.random(len(speakers))[rows]  # one number per cache row: row order is stable
    who = np.asarray(speakers, dtype=str)[rows]
    word = np.asarray(labels)[rows]
    # rank of each clip among its speaker's clips of the same word, by its draw
    order = np.lexsort((draw, word, who))
    rank = np.empty(len(rows), np.int64)
    start = 0
    for n in _run_lengths(who[order], word[order]):
        rank[order[start:start + n]] = np.arange(n)
        start += n
    order = np.lexsort((draw, rank, who))  # per speaker: all first clips, then seconds, ...
    keep = []
    start = 0
    for n in _run_lengths(who[order]):
        keep.append(order[start:start + int(np.floor(fraction * n + 0.5))])
        start += n
    return np.sort(rows[np.concatenate(keep)]) if keep else rows[:0]


def _run_lengths(*keys: np.ndarray) -> list[int]:
    """Lengths of the runs of equal consecutive (key, ...) tuples in sorted arrays."""
    if not len(keys[0]):
        return []
    change = np.zeros(len(keys[0]), bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    return np.diff(np.append(starts, len(keys[0]))).tolist()


def speaker_disjoint(train: Sequence[str], valid: Sequence[str], test: Sequence[str]) -> bool:
    """Is no test speaker also a speaker of the train or valid clips?"""
    return not set(test) & (set(train) | set(valid))
