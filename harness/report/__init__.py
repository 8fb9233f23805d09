"""MLflow runs -> pandas -> comparison table, the complex-vs-magnitude finding, its verdicts.

    python -m harness report quick                      # reports/quick/ from runs/mlflow.db

    from harness import report
    study = report.load("quick", report.resolve_tracking_uri(None))
    report.comparison_table(study)    # one row per configuration
    report.finding(study)             # one row per complex-vs-magnitude comparison
    report.verdict_lines(study)       # the verdicts as plain strings

runs.py reads the trials and their artifacts; finding.py pairs them and judges
each comparison (statistics in harness.report.stats, rules in harness.report.verdicts);
harness/commands/report.py lays it all out as files.
"""

from harness.report.finding import (
    MCNEMAR_COLUMNS,
    NO_PAIRS,
    STUDY,
    Comparison,
    Judged,
    compare,
    family,
    family_pairs,
    finding,
    finding_table,
    judge,
    mcnemar_pairs,
    mcnemar_summary,
    verdict_lines,
)
from harness.report.runs import (
    COMPLETE,
    FAILED,
    METRICS,
    PRUNED,
    Study,
    best_run,
    comparison_table,
    confusion_matrix,
    data_name,
    distinct,
    example_clip,
    header,
    load,
    pareto_front,
    predictions,
    resolve_tracking_uri,
    study_margin,
    synthetic,
    valid_curves,
)

__all__ = [
    "COMPLETE", "FAILED", "MCNEMAR_COLUMNS", "METRICS", "NO_PAIRS", "PRUNED", "STUDY",
    "Comparison", "Judged", "Study", "best_run", "compare", "comparison_table",
    "confusion_matrix", "data_name", "distinct", "example_clip", "family", "family_pairs",
    "finding", "finding_table", "header", "judge", "load", "mcnemar_pairs", "mcnemar_summary",
    "pareto_front", "predictions", "resolve_tracking_uri", "study_margin", "synthetic",
    "valid_curves", "verdict_lines",
]
