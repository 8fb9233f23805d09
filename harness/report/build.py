"""A whole report: every section's blocks, rendered and written as files, and put on the
study's parent run in MLflow.

    build("quick", "sqlite:///runs/mlflow.db", Path("reports/quick"), Path("reports/quick"))

Sections in order: header, finding, comparison, figures (charts), examples (confusions and
one clip), robustness, streaming, evaluations, other sets, data efficiency, deployment; the
last six are empty unless the trials logged their metrics (or swept `data.train_fraction`).
Files: report.md and report.html (harness.report.render), each Table's and Attachment's
CSV, figures/<name>.png.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.disk import check_room, full_disk, write_whole
from harness.report import (
    charts,
    comparison,
    data_efficiency,
    deployment,
    evaluations,
    examples,
    finding,
    other_sets,
    robustness,
    streaming,
)
from harness.report.blocks import Block, Bullets, Figure, Paragraph, csv_files
from harness.report.judging import Judged
from harness.report.render import to_html, to_markdown
from harness.report.runs import Study, header, load

ROOM_FIX = "free space there, or pass --out to a folder with room; then run the report again"


def sections(study: Study, out: Path, default_out: Path, warning: str | None = None
             ) -> tuple[list[Block], list[Judged], pd.DataFrame]:
    """(every block of the report, the finding's verdicts, the comparison table)."""
    table = comparison.table(study)
    judged = finding.judged(study)
    blocks: list[Block] = [Bullets([f"**{k}:** {v}"
                                    for k, v in header(study, out, default_out).items()])]
    if warning:
        blocks.append(Paragraph(f"**Warning:** {warning}. This report reads MLflow alone."))
    blocks += finding.blocks(study, table, judged) + comparison.blocks(table)
    blocks += charts.blocks(study, table) + examples.blocks(study)
    blocks += robustness.blocks(study, judged)  # [] unless trials ran with robustness = true
    blocks += streaming.blocks(study, table)  # [] unless trials ran with [stream]
    blocks += evaluations.blocks(study)  # [] unless `harness evaluate` logged runs
    blocks += other_sets.blocks(study)  # [] unless trials ran with [evaluate] datasets
    blocks += data_efficiency.blocks(study)  # [] unless trials swept data.train_fraction
    blocks += deployment.blocks(study, table)  # [] unless trials ran with [export] onnx
    return blocks, judged, table


def build(name: str, tracking_uri: str, out: Path, default_out: Path,
          warning: str | None = None) -> list[Path]:
    """Every file of the report; returns the paths written, the Markdown and HTML first.
    `warning` (the stores disagree) goes under the header."""
    study = load(name, tracking_uri)
    blocks, judged, table = sections(study, out, default_out, warning)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for stale in (out / "figures").glob("*.png"):  # a figure this store no longer has
        stale.unlink()
    title = f"Report: {name}"
    files = {out / "report.md": to_markdown(title, blocks).encode(),
             out / "report.html": to_html(title, blocks).encode()}
    files |= {out / csv: df.to_csv(index=False, lineterminator="\n").encode()
              for csv, df in csv_files(blocks).items()}
    files |= {out / "figures" / f"{b.name}.png": b.png for b in blocks if isinstance(b, Figure)}
    # all of it is in memory: a disk without room for it says so before a file is written,
    # and one that fills meanwhile leaves each file whole or as it was (write_whole)
    need = sum(len(data) for data in files.values())
    check_room(out, need, f"the report of {name}", ROOM_FIX)
    with full_disk(f"the report of {name}", out, ROOM_FIX, need):
        for path, data in files.items():
            write_whole(path, data)
    written = list(files)
    publish(study, judged, table, out, written)
    return written


def publish(study: Study, judged: list[Judged], table: pd.DataFrame, out: Path,
            written: list[Path]) -> None:
    """The report on the study's parent run in MLflow: description, summary metrics, files."""
    from mlflow.tracking import MlflowClient

    from harness.tracking import ui_view

    client = MlflowClient(tracking_uri=study.tracking_uri)
    parent = ui_view.parent_run_id(client, study.name)
    if parent is not None:  # else runs logged without a study's parent: the files are all
        ui_view.publish_report(client, parent, study.name, [j.line for j in judged], table,
                               out, written)
