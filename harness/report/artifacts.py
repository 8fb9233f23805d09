"""A trial's CSV artifacts read back from MLflow as pandas: confusions, test predictions.

Only MLflow's "no such artifact" reads as missing (None); any other failure is a
HarnessError naming the run, so a report never silently leaves out a section.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

from harness.errors import HarnessError
from harness.report.runs import Study

NO_SUCH_ARTIFACT = ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)  # MlflowException.error_code


def confusion_matrix(study: Study, run_id: str) -> pd.DataFrame | None:
    """The run's `confusion_matrix.csv` artifact (labels as header and index), or None."""
    return artifact_csv(study, run_id, "confusion_matrix.csv", index_col=0)


def predictions(study: Study, run_id: str) -> pd.DataFrame | None:
    """The run's `test_predictions.csv` (int columns label, pred; a row per test clip in
    test-split order), or None when the run has none or is not in a reachable store."""
    df = artifact_csv(study, run_id, "test_predictions.csv")
    return df if df is not None and {"label", "pred"} <= set(df.columns) else None


def artifact_csv(study: Study, run_id: str, name: str, **read: Any) -> pd.DataFrame | None:
    """A CSV artifact of one run read with pandas, or None if the run has no such artifact
    (or the SQLite store is gone). Any other failure (a store that cannot be read, an
    artifact folder without permission) is a HarnessError naming the run: a report that
    silently left out McNemar or a confusion matrix would look complete."""
    uri = study.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri[10:]).is_file():
        return None  # opening a missing SQLite store would create it
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep stderr clean
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = MlflowClient(uri).download_artifacts(run_id, name, tmp)
        except MlflowException as exc:
            if exc.error_code == NO_SUCH_ARTIFACT:  # the run never logged it: that is all
                return None
            raise HarnessError(f"run {run_id}: cannot read its artifact {name} from {uri}: "
                               f"{str(exc).splitlines()[0]}") from exc
        return pd.read_csv(path, **read)
