"""An experiment file's checks shared by every table, and its add-on tables: what a study
asks of each trial besides training it, and how the report judges it.

    [report]   margin, detection_margin     -> SectionReader.margin
    [tracking] models                       -> SectionReader.models
    [evaluate] datasets                     -> SectionReader.other_sets
    [stream], [export]                      -> SectionReader.settings (their own from_table)

harness.sweep.experiment_file's validator is a SectionReader (through
harness.sweep.file_keys.KeyReader): every error names the file and the key, with what would
be accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data import DATASETS
from harness.errors import HarnessError
from harness.sweep.experiment import KEPT_MODELS
from harness.tracking.runs import DEFAULT_DETECTION_MARGIN, DEFAULT_MARGIN


class SectionReader:
    """One file's tables: `fail` and `table` for all, the add-on tables' values."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> HarnessError:
        return HarnessError(f"{self.path}: {where}: {message}")

    def table(self, raw: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(where, "must be a table")
        unknown = [k for k in raw if k not in allowed]
        if unknown:
            raise self.fail(where, f"unknown key {unknown[0]!r}; known: {', '.join(allowed)}")
        return raw

    def margin(self, report: Any, key: str = "margin") -> float:
        """[report] margin (accuracy) or detection_margin (the streaming detection rate)."""
        self.table(report, "[report]", ("margin", "detection_margin"))
        default = DEFAULT_MARGIN if key == "margin" else DEFAULT_DETECTION_MARGIN
        margin = report.get(key, default)
        if isinstance(margin, bool) or not isinstance(margin, int | float) or \
                not 0 < margin < 1:
            what = "an accuracy" if key == "margin" else "a detection-rate"
            raise self.fail(f"[report] {key}", f"{margin!r}: {what} difference in (0, 1), "
                                               "e.g. 0.005 for 0.5 percentage points")
        return float(margin)

    def models(self, tracking: Any) -> str:
        """[tracking] models: which trials keep their logged model (tracking.logged_model)."""
        table = self.table(tracking, "[tracking]", ("models",))
        models = table.get("models", KEPT_MODELS[0])
        if models not in KEPT_MODELS:
            raise self.fail("[tracking] models", f"{models!r}: one of {', '.join(KEPT_MODELS)} "
                                                 "(best: only the best trial's weights)")
        return str(models)

    def other_sets(self, raw: Any) -> tuple[str, ...]:
        """[evaluate] datasets: named data sets every trial is also tested on."""
        names = self.table(raw, "[evaluate]", ("datasets",)).get("datasets", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise self.fail("[evaluate] datasets", f"{names!r}: a list of data set names, "
                                                   'e.g. ["fsdd"]')
        unknown = [n for n in names if n not in DATASETS]
        if unknown:
            raise self.fail("[evaluate] datasets", f"unknown data set {unknown[0]!r}; known: "
                                                   f"{', '.join(DATASETS)}")
        return tuple(dict.fromkeys(names))

    def settings(self, kind: Any, raw: Any, where: str) -> Any:
        """[stream] (docs/streaming.md) or [export] (docs/export.md): `kind.from_table`, None
        when off; its errors name the key, and here the file."""
        try:
            return kind.from_table(raw, where)
        except HarnessError as exc:
            raise HarnessError(f"{self.path}: {exc}") from None
