"""Detections against the ground truth: the DET curve, FRR at a false-alarm budget, its area.

    det = det_table(detections, stream, hop=1600, tolerance=8000)   # one row per
    frr_at(det, 1.0)            # keyword ("all" too) and threshold: hits, false alarms, ...
    det_auc(det)                # mean FRR over 0 .. AUC_MAX_FA false alarms per hour

Matching: a keyword clip starting at sample o is *hit* by a detection of the same label
whose decision time e (the end of its window) satisfies o < e <= o + 16000 + tolerance:
the window overlaps the clip, and the decision comes at most `tolerance` after the clip
ends (smoothing delays it). Clips are spaced so that these intervals never overlap
(streams.spacing). A clip counts as hit once; every other detection is a false alarm: a
wrong label, a second detection of one clip, or one outside every keyword's interval.

Per keyword k, at threshold t:
- FRR_k(t) = 1 - (clips of k hit) / (clips of k in the stream)
- FA/h_k(t) = (false alarms labelled k) / (stream hours), over the whole stream's length
  (keyword time included, as castorini/howl PR 16 counts per hour of input);
the row `all` sums over keywords. One false alarm is 1 / hours FA/h: a stream shorter
than an hour cannot tell 1 FA/h from more.

FRR at a budget x: the lowest FRR over the thresholds whose FA/h is at most x (the
threshold a user would pick), including "never fire" (FRR 1, FA 0). The area under
the DET curve: the mean of that function over x in [0, AUC_MAX_FA] FA/h, i.e.
(1 / AUC_MAX_FA) * integral of FRR(x) dx; 0 is perfect, 1 misses everything. It is
exact: FRR(x) is a step function of x, integrated step by step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.data.speech_commands import CLIP_SAMPLES
from harness.streaming.infer import Detections, window_ends
from harness.streaming.streams import Stream

AUC_MAX_FA = 10.0  # false alarms per hour: the range of the DET area
BUDGETS = (0.5, 1.0)  # FA/h at which FRR is reported
DET_COLUMNS = ["keyword", "threshold", "occurrences", "hits", "false_alarms", "frr",
               "fa_per_hour"]
ALL = "all"


def det_table(det: Detections, stream: Stream, *, hop: int, tolerance: int) -> pd.DataFrame:
    """DET_COLUMNS, one row per (keyword name or "all", threshold), thresholds ascending."""
    ends = window_ends(int(det.window.max()) + 1 if len(det.window) else 0, hop)[det.window]
    onsets = np.append(stream.onsets, -1)  # a sentinel, so that no clips index too
    labels = np.append(stream.labels, -1)
    g = np.searchsorted(stream.onsets, ends, side="left") - 1   # the last onset before e
    safe = np.where(g >= 0, g, len(stream.onsets))
    inside = (g >= 0) & (ends <= onsets[safe] + CLIP_SAMPLES + tolerance)
    correct = inside & (det.label == labels[safe])
    # The first correct detection of a clip at a threshold hits it; later ones are false.
    key = det.threshold * (len(stream.onsets) + 1) + safe
    order = np.lexsort((det.window, key))
    first = np.zeros(len(key), bool)
    cand = order[correct[order]]
    _, at = np.unique(key[cand], return_index=True)
    first[cand[at]] = True
    n_t, n_c = len(det.thresholds), len(stream.names)
    hits = np.bincount(det.threshold[first] * n_c + det.label[first],
                       minlength=n_t * n_c).reshape(n_t, n_c)
    fas = np.bincount(det.threshold[~first] * n_c + det.label[~first],
                      minlength=n_t * n_c).reshape(n_t, n_c)
    occ = np.bincount(stream.labels, minlength=n_c)
    rows = []
    for name, cols in ((ALL, stream.keywords),
                       *((stream.names[k], np.array([k])) for k in stream.keywords)):
        n = int(occ[cols].sum())
        h, f = hits[:, cols].sum(axis=1), fas[:, cols].sum(axis=1)
        rows.append(pd.DataFrame({
            "keyword": name, "threshold": det.thresholds, "occurrences": n, "hits": h,
            "false_alarms": f, "frr": 1.0 - h / n if n else np.nan,
            "fa_per_hour": f / stream.hours}))
    return pd.concat(rows, ignore_index=True)[DET_COLUMNS]


def _curve(det: pd.DataFrame, keyword: str) -> tuple[np.ndarray, np.ndarray]:
    """(fa_per_hour, lowest FRR at or below it): the lower envelope, FA ascending,
    "never fire" (FA 0, FRR 1) included."""
    sub = det[det["keyword"] == keyword]
    fa = np.concatenate([[0.0], sub["fa_per_hour"].to_numpy(float)])
    frr = np.concatenate([[1.0], sub["frr"].to_numpy(float)])
    order = np.lexsort((frr, fa))
    fa, frr = fa[order], np.minimum.accumulate(frr[order])
    last = np.r_[fa[1:] != fa[:-1], True]  # one point per FA value: the lowest FRR
    return fa[last], frr[last]


def frr_at(det: pd.DataFrame, budget: float, keyword: str = ALL) -> float:
    """The lowest FRR among thresholds with FA/h <= budget (NaN without occurrences)."""
    if det.loc[det["keyword"] == keyword, "occurrences"].max() == 0:
        return float("nan")
    fa, frr = _curve(det, keyword)
    return float(frr[np.searchsorted(fa, budget, side="right") - 1])


def det_auc(det: pd.DataFrame, keyword: str = ALL, max_fa: float = AUC_MAX_FA) -> float:
    """Mean FRR over FA/h in [0, max_fa] (module docstring); NaN without occurrences."""
    if det.loc[det["keyword"] == keyword, "occurrences"].max() == 0:
        return float("nan")
    fa, frr = _curve(det, keyword)
    edges = np.clip(np.append(fa, max_fa), 0.0, max_fa)
    return float(np.sum(frr * np.diff(edges)) / max_fa)


def envelope(det: pd.DataFrame, grid: np.ndarray, keyword: str = ALL) -> np.ndarray:
    """FRR(x) for each x of `grid` (FA/h): the curve the report averages over seeds."""
    fa, frr = _curve(det, keyword)
    return frr[np.searchsorted(fa, grid, side="right") - 1]


def summary(det: pd.DataFrame) -> dict[str, float]:
    """The run's stream metrics: FRR at each budget and the DET area, over all keywords."""
    out = {f"stream_frr_at_{b:g}fa_h": frr_at(det, b) for b in BUDGETS}
    out["stream_det_auc"] = det_auc(det)
    return out


def per_keyword(det: pd.DataFrame) -> pd.DataFrame:
    """keyword, occurrences, frr_at_<b>fa_h per budget, det_auc: one row per keyword."""
    rows = []
    for name in dict.fromkeys(det["keyword"]):
        rows.append({"keyword": name,
                     "occurrences": int(det.loc[det["keyword"] == name, "occurrences"].iloc[0]),
                     **{f"frr_at_{b:g}fa_h": frr_at(det, b, name) for b in BUDGETS},
                     "det_auc": det_auc(det, name)})
    return pd.DataFrame(rows)
