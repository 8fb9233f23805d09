"""McNemar's test per pair of a comparison, on the trials' clip-level test predictions.

A pair is testable when its two trials share a test set: the same data and split
(SPLIT_KEYS) and the same labels clip by clip in their `test_predictions.csv`. The tests
are reported beside the verdict, unadjusted, never in it: McNemar conditions on one
trained model per side and ignores training variance.

    pairs(study, comparison)       # MCNEMAR_COLUMNS, one row per pair (mcnemar.csv)
    summary(table, a)              # (tested, significant, "1 of 4 pairs p < 0.05 (...)")
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from harness.report.artifacts import predictions
from harness.report.judging import MCNEMAR_COLUMNS, Comparison
from harness.report.runs import Study
from harness.report.stats import ALPHA, mcnemar_test

SPLIT_KEYS = ("data.dataset", "data.root", "data.split", "data.split_seed")  # one test set


def pairs(study: Study, c: Comparison,
          cache: dict[str, pd.DataFrame | None] | None = None) -> pd.DataFrame:
    """McNemar's test for each pair whose two trials share a test set (SPLIT_KEYS equal,
    labels equal clip by clip); `note` says why a pair could not be tested."""
    cache = {} if cache is None else cache
    by_id = c.trials.set_index("run_id")
    rows = []
    for p in c.pairs.itertuples():
        row = {"a": c.a, "b": c.b, "pair": p.pair, "run_a": ";".join(p.runs_a),
               "run_b": ";".join(p.runs_b), "note": ""}
        if len(p.runs_a) != 1 or len(p.runs_b) != 1:
            rows.append({**row, "note": "repeated trials of this pair"})
            continue
        ra, rb = by_id.loc[p.runs_a[0]], by_id.loc[p.runs_b[0]]
        if [_text(ra.get(k)) for k in SPLIT_KEYS] != [_text(rb.get(k)) for k in SPLIT_KEYS]:
            rows.append({**row, "note": "different test sets (data or split differ)"})
            continue
        for rid in (p.runs_a[0], p.runs_b[0]):
            if rid not in cache:
                cache[rid] = predictions(study, rid)
        pa, pb = cache[p.runs_a[0]], cache[p.runs_b[0]]
        if pa is None or pb is None:
            rows.append({**row, "note": "no test_predictions.csv"})
        elif len(pa) != len(pb) or not np.array_equal(pa["label"], pb["label"]):
            rows.append({**row, "note": "different test sets (labels differ clip by clip)"})
        else:
            m = mcnemar_test(pa["label"], pa["pred"], pb["pred"])
            rows.append({**row, **dataclasses.asdict(m)})
    return pd.DataFrame(rows, columns=MCNEMAR_COLUMNS)


def summary(m: pd.DataFrame, a: str) -> tuple[int, int, str]:
    """(pairs tested, pairs with p < 0.05, in words); unadjusted, one test per pair."""
    tested = m[m["p_value"].notna()]
    sig = tested[tested["p_value"] < ALPHA]
    if tested.empty:
        notes = sorted(set(m["note"]))
        return 0, 0, "not testable" + (f": {'; '.join(notes)}" if notes else "")
    wins = int((sig["a_only"] > sig["b_only"]).sum())
    return len(tested), len(sig), (f"{len(sig)} of {len(tested)} pairs p < {ALPHA:g} "
                                   f"({wins} favour `{a}`)")


def _text(v: object) -> str:
    """A param as text, "" for missing (NaN, None): MLflow params are strings."""
    return "" if v is None or pd.isna(v) else str(v)
