"""What MLflow's UI shows of a study: the experiment's kind, run names, the parent's summary.

    prepare_experiment(client, experiment_id, parent_run_id, searched)  # kind + stored view
    run_name({"frontend": "complex", "seed": 1, ...}, ["frontend", "seed"])  # "complex · seed 1"
    publish_report(client, parent_run_id, name, verdicts, table, folder, files)  # harness report
    experiment_link("http://127.0.0.1:5000", "1")   # opens the stored view

MLflow 3's UI opens an experiment without the `mlflow.experimentKind` tag in its GenAI
view (traces, an assistant) and shows the runs table only with `?workflowType=
machine_learning`; the tag's values are the UI's `ExperimentKind` enum
(`custom_model_development` is "model training"; mlflow 3.17.2, mlflow/server/js/build,
and its assistant skill mlflow-onboarding/SKILL.md). The parent run's description
(`mlflow.note.content`, Markdown) is what the run page shows first.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from harness.tracking.names import SEARCHED

KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
NOTE_TAG = "mlflow.note.content"
WORKFLOW = "workflowType=machine_learning"  # the UI's query parameter (mlflow 3.17)
VIEW_KEY = "harness"  # the link's viewStateShareKey; the tag holds the state as JSON
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
DEFAULT_COLUMNS = ("attributes.`Description`",)  # the parent's: its verdicts
HEADLINE = ("best_valid_acc", "test_acc", "train_samples_per_s")  # the UI sorts them by name
SEP = " · "
SUMMARY = {"test_acc_mean": "test_acc_mean", "test_acc_low": "test_acc_ci_low",
           "test_acc_high": "test_acc_ci_high"}  # comparison_table column -> parent metric


def prepare_experiment(client: MlflowClient, experiment_id: str, parent_run_id: str,
                       searched: Sequence[str] | None, summary: Sequence[str] = ()) -> None:
    """Tag the experiment as model training (unless it says otherwise already) and store
    the view `experiment_link` opens (`view_state`) as MLflow's shared view state.
    Without `summary`, the summary columns stored before (by a report) are kept."""
    tags = client.get_experiment(experiment_id).tags
    if KIND_TAG not in tags:
        _set_experiment_tag(client, experiment_id, KIND_TAG, KIND)
    if not summary and VIEW_TAG in tags:
        shown = json.loads(tags[VIEW_TAG]).get("selectedColumns", [])
        summary = [c[9:-1] for c in shown if c.startswith("metrics.`")
                   and c[9:-1] not in HEADLINE]
    state = json.dumps(view_state(parent_run_id, searched, summary), sort_keys=True)
    if tags.get(VIEW_TAG) != state:
        _set_experiment_tag(client, experiment_id, VIEW_TAG, state)


def _set_experiment_tag(client: MlflowClient, experiment_id: str, key: str, value: str) -> None:
    """`set_experiment_tag`, tried once more when it loses a race. MLflow's SQL store merges
    the tag (a select, then an insert), so two machines tagging a new experiment at the same
    moment both insert, and the later one gets a unique-key violation (BAD_REQUEST from a
    tracking server; the cluster check's CI test hit it). The second try finds the row and
    updates it; a real failure fails twice and is raised."""
    try:
        client.set_experiment_tag(experiment_id, key, value)
    except MlflowException:
        time.sleep(random.uniform(0.1, 0.5))
        client.set_experiment_tag(experiment_id, key, value)


def view_state(parent_run_id: str, searched: Sequence[str] | None,
               summary: Sequence[str] = ()) -> dict[str, Any]:
    """The runs table and charts as the link opens them: the study's parent run expanded
    (its trials in view), the searched keys and headline metrics as columns, every run's
    curves charted, best test accuracy first.

    The fields are the UI's `ExperimentPageUIState` and search facets (mlflow 3.17,
    mlflow/server/js/src/experiment-tracking/components/experiment-page/models/); column
    ids are its canonical sort keys, `params.`key``. `summary`: the parent's metrics
    (`publish_report`), shown after the trials' headline ones.
    """
    keys = [k for k in (searched or ["frontend"]) if k != "seed"] + ["seed"]
    return {
        "orderByKey": "metrics.`test_acc`", "orderByAsc": False,
        "selectedColumns": [*DEFAULT_COLUMNS, *(f"params.`{k}`" for k in keys),
                            *(f"metrics.`{m}`" for m in (*HEADLINE, *summary))],
        # grouped by front-end: a group row averages its trials, charts draw one curve per
        # group; runs without a front-end (the parent) form the group "param.frontend"
        "groupBy": {"aggregateFunction": "average",
                    "groupByKeys": [{"mode": "param", "groupByData": "frontend"}]},
        "groupsExpanded": {"param.frontend": True}, "runsExpanded": {parent_run_id: True},
        "runsHiddenMode": "SHOW_ALL",
        "columnWidths": {"attributes.`Description`": 240},  # the metrics stay in view
    }


def run_name(params: Mapping[str, Any], searched: Sequence[str] | None) -> str:
    """A trial's readable name: its front-end, then each other searched key, then the seed.

    "complex · seed 1"; "complex · seed_cnn · lr 0.003 · seed 1" when model and lr are
    searched. Without searched keys (a single configuration): front-end and model.
    """
    keys = list(searched or [])
    parts = [str(params.get("frontend", ""))]
    if not keys:
        parts.append(str(params.get("model", "")))
    for key in keys:
        if key in ("frontend", "seed") or key not in params:
            continue
        value = params[key]
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        parts.append(shown if key == "model" else f"{key} {shown}")
    if "seed" in keys or "seed" in params:
        parts.append(f"seed {params.get('seed')}")
    return SEP.join(p for p in parts if p)


def metric_key(config: str, metric: str) -> str:
    """`test_acc_mean complex` for config "complex", in MLflow's key characters
    (`complex · lr=0.01` -> `complex - lr_0.01`). No `/`: the UI would chart each prefix
    as a section of its own, above the trials' curves."""
    safe = re.sub(r"[^\w.\- :]", "_", config.replace(SEP, " - "))
    return f"{metric} {safe}"


def note(study_name: str, verdicts: Sequence[str], table: Any) -> str:
    """The parent's description (Markdown): the verdicts first (the runs table shows the
    description's start), then each configuration's mean test accuracy and 95% CI, and
    where the report is among the artifacts."""
    lines = [f"{v}  " for v in verdicts] or ["no comparison yet (one front-end family only)"]
    lines += ["", f"**{study_name}**, test accuracy over complete trials:", "",
              "| configuration | complete | test acc | 95% CI |", "|---|---|---|---|"]
    for row in table.itertuples():
        ci = (f"[{row.test_acc_low:.4f}, {row.test_acc_high:.4f}]"
              if _known(row.test_acc_low) else "—")  # one trial has no interval
        mean = f"{row.test_acc_mean:.4f}" if _known(row.test_acc_mean) else "—"
        lines.append(f"| {row.config} | {row.complete} | {mean} | {ci} |")
    lines += ["", "The full report: artifacts `report/report.html` (figures inlined) and "
                  "`report/report.md` with `report/figures/`."]
    return "\n".join(lines) + "\n"


def publish_report(client: MlflowClient, parent_run_id: str, study_name: str,
                   verdicts: Sequence[str], table: Any, folder: Path,
                   files: Sequence[Path]) -> None:
    """Put the report on the study's parent run: the description (`note`), the summary
    metrics per configuration (`metric_key`: mean test accuracy and CI bounds), and the
    report's `files` (in `folder`) as artifacts under `report/`, in the same layout."""
    now = int(time.time() * 1000)
    metrics = [Metric(metric_key(row["config"], name), float(row[col]), now, 0)
               for row in table.to_dict("records") for col, name in SUMMARY.items()
               if _known(row[col])]  # one trial has no interval: left out
    for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a call
        client.log_batch(parent_run_id, metrics=metrics[i:i + 1000])
    client.log_batch(parent_run_id, tags=[RunTag(NOTE_TAG, note(study_name, verdicts, table))])
    parent = client.get_run(parent_run_id)
    searched = json.loads(parent.data.tags.get(SEARCHED, "null"))
    prepare_experiment(client, parent.info.experiment_id, parent_run_id, searched,
                       sorted({m.key for m in metrics}))
    for path in files:
        where = Path("report", path.relative_to(folder)).parent.as_posix()
        client.log_artifact(parent_run_id, str(path), where)


def _known(x: Any) -> bool:
    """A number, not None or NaN."""
    return x is not None and x == x


def parent_run_id(client: MlflowClient, study_name: str) -> str | None:
    """The study's parent run (tag harness.role = study, the oldest), or None."""
    exp = client.get_experiment_by_name(study_name)
    if exp is None:
        return None
    found = client.search_runs([exp.experiment_id], "tags.`harness.role` = 'study'",
                               order_by=["attributes.start_time ASC"], max_results=1)
    return found[0].info.run_id if found else None


def experiment_link(base_url: str, experiment_id: str) -> str:
    """The URL that opens an experiment's runs table (not the GenAI overview) in the view
    `view_state` stored. The `/runs` route: the bare experiment route redirects there and
    keeps only `workflowType` of the query."""
    return (f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/runs"
            f"?{WORKFLOW}&viewStateShareKey={VIEW_KEY}")
