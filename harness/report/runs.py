"""MLflow runs -> pandas: the trials of one experiment, their curves, the report's header.

    python -m harness report quick                      # reports/quick/ from runs/mlflow.db
    python -m harness report quick --tracking-uri sqlite:///runs/mlflow.db --out /tmp/q

Reads the child runs (tag `harness.role=trial`) of one experiment into pandas (their CSV
artifacts: harness.report.artifacts), never training anything; the report's sections
(harness.report.finding, .comparison, ...) turn them into tables and blocks,
harness.report.build lays them out as `report.md`, a self-contained `report.html` and CSVs.
Everything is sorted, and dated by the runs themselves, so the same store always gives
byte-identical files.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from harness.data import SYNTHETIC
from harness.errors import HarnessError
from harness.tracking.names import KEY, tag_column
from harness.tracking.runs import (  # resolve_tracking_uri: harness.report exports it
    DEFAULT_DETECTION_MARGIN,
    DEFAULT_MARGIN,
    DEFAULT_TRACKING_URI,
    resolve_tracking_uri,  # noqa: F401
)

COMPLETE, PRUNED, FAILED = "COMPLETE", "PRUNED", "FAIL"
DIVERGED = "DIVERGED"  # a run tagged `diverged` (harness/divergence.py), complete or not
METRICS = ("test_acc", "best_valid_acc", "best_epoch", "train_samples_per_s",
           "eval_samples_per_s", "frontend_samples_per_s", "peak_memory_mb", "converged",
           "tested_epoch", "epochs_run", "params", "macs", "latency_ms", "train_clips")
# what the finding needs of every trial, NaN (never logged) where a store predates it
COLUMNS = ("frontend", "model", "seed", "recipe", "data.dataset", "data.root", "data.split",
           "data.split_seed", "tags.state", "tags.device", "tags.stop_reason")


@dataclass
class Study:
    """One experiment's trials: a row per child run, params as strings, metrics as floats."""

    name: str
    tracking_uri: str
    runs: pd.DataFrame            # run_id, state, config, <param keys>, <METRICS>, tags, dates
    group_keys: list[str]         # frontend, model, other searched or varying params, never seed
    margin: float = DEFAULT_MARGIN  # equivalence margin, accuracy (parent tag harness.margin)
    detection_margin: float = DEFAULT_DETECTION_MARGIN  # the streaming detection rate's


@contextmanager
def _tracking(uri: str) -> Iterator[None]:
    """mlflow.search_runs reads the global URI: set it for the call, then put it back.

    set_tracking_uri also writes $MLFLOW_TRACKING_URI (for subprocesses), so the
    variable is restored too: a caller's store stays theirs after a report.
    """
    before = mlflow.get_tracking_uri() if mlflow.tracking.is_tracking_uri_set() else None
    env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        if env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = env


def load(name: str, tracking_uri: str) -> Study:
    """The trials of experiment `name`; HarnessError naming the experiments there if none."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).is_file():
        # Opening a missing SQLite store would create an empty one as a side effect.
        raise HarnessError(f"experiment {name!r}: no MLflow store at {tracking_uri[10:]} "
                           f"({tracking_uri}); run `nox -s sweep -- {name}` first or pass "
                           "--tracking-uri")
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(name)
    with _tracking(tracking_uri):
        df = None if exp is None else mlflow.search_runs([exp.experiment_id],
                                                        output_format="pandas")
    role = df.get("tags.harness.role") if df is not None and len(df) else None
    if role is None or not (role == "trial").any():
        names = sorted(e.name for e in client.search_experiments() if e.name != "Default")
        what = "no MLflow experiment" if exp is None else "no trial runs in experiment"
        raise HarnessError(f"{what} {name!r} in {tracking_uri}; experiments there: "
                           f"{', '.join(names) or 'none'} (run `nox -s sweep -- {name}`)")
    searched: set[str] = set()
    for raw in df.loc[role == "study", "tags.harness.searched"].dropna() \
            if "tags.harness.searched" in df else []:
        searched.update(json.loads(raw))
    margin = study_margin(df[role == "study"], name)
    detection = study_margin(df[role == "study"], name, "detection_margin",
                             DEFAULT_DETECTION_MARGIN)
    runs = latest_attempts(df[role == "trial"])
    logged = [c.removeprefix("params.") for c in runs.columns if c.startswith("params.")]
    # A per-epoch metric may share its name with a param (`lr`, `beta1`: the recipe's value
    # and its last logged value): the param keeps the name; the metric's history stays in MLflow.
    runs = runs.drop(columns=[c for c in runs.columns if c.startswith("metrics.")
                              and c.removeprefix("metrics.") in logged])
    runs.columns = [c.removeprefix("params.").removeprefix("metrics.") for c in runs.columns]
    for col in (*COLUMNS, *searched, *METRICS):
        if col not in runs:
            runs[col] = np.nan
    # A fixed value overridden in a later sweep (--epochs 1) lands in the same study:
    # any param that differs between trials is part of a configuration, searched or not.
    keys = searched | {k for k in logged if runs[k].fillna("").nunique() > 1}
    if "data.split_seed" in keys and "data.split_seed" not in searched and \
            (runs["data.split_seed"].astype(str) == runs["seed"].astype(str)).all():
        keys.discard("data.split_seed")  # a random split per replicate: follows the seed
    params = list(dict.fromkeys(["frontend", "model", "seed", *sorted(keys)]))
    runs[params] = runs[params].fillna("").astype(str)
    runs[list(METRICS)] = runs[list(METRICS)].astype(float)
    runs["state"] = runs["tags.state"].fillna(runs["status"].map({"FAILED": FAILED})).fillna("")
    if "tags.diverged" in runs:  # never averaged in: a state of its own
        runs.loc[runs["tags.diverged"].fillna("") != "", "state"] = DIVERGED
    group_keys = ["frontend", "model", *sorted(keys - {"frontend", "model", "seed"})]
    varying = [k for k in group_keys[1:] if runs[k].nunique() > 1]
    runs["config"] = runs["frontend"].str.cat(
        [runs[k] if k == "model" else k + "=" + runs[k] for k in varying], sep=" · ")
    order = runs["seed"].map(lambda s: (len(s), s))  # numeric-looking seeds in number order
    runs = runs.assign(_o=order).sort_values(["config", "_o", "run_id"]).drop(columns="_o")
    return Study(name, tracking_uri, runs.reset_index(drop=True), group_keys, margin, detection)


def latest_attempts(runs: pd.DataFrame) -> pd.DataFrame:
    """One run per trial identity (tag `harness.key`): a retry's, not its dead or failed
    attempt's; a finished run over any other. Runs without the tag are all kept."""
    if tag_column(KEY) not in runs:  # a store from before the tag
        return runs.copy()
    keys = runs[tag_column(KEY)].fillna("")
    keyed = runs[keys != ""].assign(_done=runs["status"] == "FINISHED")
    keep = keyed.sort_values(["_done", "start_time"]).drop_duplicates(tag_column(KEY),
                                                                        keep="last")
    return pd.concat([runs[keys == ""], keep.drop(columns="_done")]).copy()


def study_margin(parents: pd.DataFrame, name: str, key: str = "margin",
                 default: float = DEFAULT_MARGIN) -> float:
    """The parent run's `harness.<key>` tag (`margin`: accuracy; `detection_margin`: the
    streaming detection rate), else `default`."""
    col = f"tags.harness.{key}"
    values = parents[col].dropna() if col in parents else []
    if not len(values):
        return default
    try:
        margin = float(values.iloc[0])
    except ValueError:
        margin = math.nan
    if not margin > 0:
        raise HarnessError(f"experiment {name!r}: tag harness.{key} on the study run is "
                           f"{values.iloc[0]!r}; it must be a positive difference such as "
                           "0.005")
    return margin


def valid_curves(study: Study) -> pd.DataFrame:
    """Per-epoch `valid_acc` of every complete trial: config, run_id, step, value."""
    client = MlflowClient(study.tracking_uri)
    done = study.runs[study.runs["state"] == COMPLETE]
    rows = [(c, rid, m.step, m.value) for c, rid in zip(done["config"], done["run_id"], strict=True)
            for m in client.get_metric_history(rid, "valid_acc")]
    return pd.DataFrame(rows, columns=["config", "run_id", "step", "value"]).sort_values(
        ["config", "run_id", "step"], kind="stable")


def best_run(study: Study) -> pd.Series | None:
    """The complete trial with the highest test accuracy (ties: lowest run id)."""
    done = study.runs[(study.runs["state"] == COMPLETE) & study.runs["test_acc"].notna()]
    if done.empty:
        return None
    return done.sort_values(["test_acc", "run_id"], ascending=[False, True]).iloc[0]


def distinct(runs: pd.DataFrame, col: str) -> list[str]:
    """Sorted distinct non-empty values of a column as strings; [] when there is no such column."""
    return sorted({str(v) for v in runs[col].dropna() if str(v)}) if col in runs else []


def data_name(runs: pd.DataFrame) -> str:
    """The dataset(s) the trials used: the registered name, or the --root folder."""
    names = [d + " (synthetic)" * (d in SYNTHETIC)
             for d in distinct(runs, "data.dataset") if d != "None"]  # params are text
    roots = [f"folder {x}" for x in distinct(runs, "data.root") if x != "None"]
    return ", ".join(names + roots) or "—"


def synthetic(runs: pd.DataFrame) -> list[str]:
    """The synthetic data sets (harness.data.SYNTHETIC) among the trials' `data.dataset`."""
    return sorted(set(distinct(runs, "data.dataset")) & SYNTHETIC)


def header(study: Study, out: Path, default_out: Path) -> dict[str, str]:
    """Where the numbers come from, and the command that rebuilds this report."""
    r = study.runs

    def uniq(col: str) -> str:
        return ", ".join(distinct(r, col)) or "—"

    split = uniq("data.split") + (f" (split seed {uniq('data.split_seed')})"
                                  if "random" in uniq("data.split") else "")
    fake = synthetic(r)
    note = ("; **synthetic data**: generated espeak-ng speech, not recordings" if fake
            else "")
    start, end = r["start_time"].min(), r["end_time"].max()
    dates = (f"{start:%Y-%m-%d %H:%M} to {(end if pd.notna(end) else start):%Y-%m-%d %H:%M} UTC"
             if pd.notna(start) else "—")
    states = {COMPLETE: "complete", PRUNED: "pruned", FAILED: "failed", DIVERGED: "diverged",
              "": "running"}
    counts = r["state"].map(lambda s: states.get(s, s.lower())).value_counts().sort_index()
    args = [study.name]
    if study.tracking_uri != DEFAULT_TRACKING_URI:
        args += ["--tracking-uri", study.tracking_uri]
    if out != default_out:
        args += ["--out", str(out)]
    return {
        "Experiment": f"`{study.name}` (file {uniq('tags.experiment_file')})",
        "Data": f"{data_name(r)}, {split} split{note}",
        "Recipe(s)": uniq("recipe"),
        "Equivalence margin": f"±{study.margin:g} test accuracy ({study.margin * 100:g} "
                              "percentage points)",
        "Trials": f"{len(r)}: " + ", ".join(f"{n} {s}" for s, n in counts.items()),
        "Git commit": uniq("tags.git_commit"),
        "Device(s)": f"{uniq('tags.device')} (torch {uniq('tags.torch_version')})",
        "Runs dated": dates,
        "Tracking store": f"`{study.tracking_uri}`",
        "Rebuild": f"`nox -s report -- {' '.join(args)}` or "
                   f"`python -m harness report {' '.join(args)}`",
    }


def example_clip(dataset: str | None, root: str | None, word: str | None = None
                 ) -> tuple[np.ndarray, str, str]:
    """(int16 audio, dataset name, word): the first test clip of `word` (default: first label).

    Loads through the data layer, which prepares the dataset if needed; the report
    calls this only after checking the data is on this machine.
    """
    from harness.data import load_splits

    data = load_splits(dataset, root)
    labels = list(data.labels)
    word = word or labels[0]
    if word not in labels:
        raise HarnessError(f"--word {word!r} is not a word of {data.dataset}; words: "
                           f"{', '.join(labels)}")
    for clips in (data.test, data.valid, data.train):
        idx = np.flatnonzero(clips.labels == labels.index(word))
        if len(idx):
            return np.asarray(clips.audio[idx[0]]), data.dataset, word
    raise HarnessError(f"{data.dataset} has no clip of {word!r}")
