"""MLflow runs -> pandas -> the report's sections -> report.md, report.html, CSVs, PNGs.

    python -m harness report quick                      # reports/quick/ from runs/mlflow.db

    from harness import report as rp
    study = rp.load("quick", rp.resolve_tracking_uri(None))
    rp.comparison_table(study)    # one row per configuration
    rp.verdict_lines(study)       # the verdicts as plain strings

runs.py reads the trials, artifacts.py their CSV artifacts; judging.py pairs them and
judges each comparison of one metric (statistics in stats.py, rules in verdicts.py). Each
section is a module with `table()` (its numbers) and `blocks()` (what it says,
harness.report.blocks): finding, comparison, charts, examples, robustness, streaming,
evaluations, other_sets, data_efficiency, deployment (ONNX and int8 cost, harness/export's
figures). build.py puts them together and render.py writes Markdown and HTML; cells.py
formats a table cell.
"""

from harness.report.artifacts import confusion_matrix, predictions
from harness.report.comparison import pareto_front
from harness.report.comparison import table as comparison_table
from harness.report.finding import STUDY, verdict_lines
from harness.report.judging import (
    MCNEMAR_COLUMNS,
    NO_PAIRS,
    Comparison,
    Judged,
    compare,
    family,
    family_pairs,
    judge,
)
from harness.report.runs import (
    COMPLETE,
    FAILED,
    METRICS,
    PRUNED,
    Study,
    best_run,
    data_name,
    distinct,
    example_clip,
    header,
    load,
    resolve_tracking_uri,
    study_margin,
    synthetic,
    valid_curves,
)

__all__ = [
    "COMPLETE", "FAILED", "MCNEMAR_COLUMNS", "METRICS", "NO_PAIRS", "PRUNED", "STUDY",
    "Comparison", "Judged", "Study", "best_run", "compare", "comparison_table",
    "confusion_matrix", "data_name", "distinct", "example_clip", "family", "family_pairs",
    "header", "judge", "load", "pareto_front", "predictions", "resolve_tracking_uri",
    "study_margin", "synthetic", "valid_curves", "verdict_lines",
]
