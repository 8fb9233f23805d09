"""The report's examples: the best run's confusions, and one clip as the front-ends see it.

    table(study)     # the best run's most confused word pairs (most_confused.csv)
    blocks(study)    # both sections
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.data import prepared
from harness.data.speech_commands import SAMPLE_RATE
from harness.errors import HarnessError
from harness.report import figures
from harness.report.artifacts import confusion_matrix
from harness.report.blocks import Block, Figure, Heading, Paragraph, Table
from harness.report.runs import Study, best_run, distinct, example_clip


def table(study: Study) -> pd.DataFrame:
    """true, predicted, count, rate: the best run's largest confusions (empty without one)."""
    best = best_run(study)
    matrix = None if best is None else confusion_matrix(study, best["run_id"])
    return (figures.most_confused(matrix) if matrix is not None
            else pd.DataFrame(columns=["true", "predicted", "count", "rate"]))


def blocks(study: Study) -> list[Block]:
    """The best run's confusion matrix and its top confusions, then one clip's figures."""
    best = best_run(study)
    matrix = None if best is None else confusion_matrix(study, best["run_id"])
    if matrix is None:
        out: list[Block] = [Paragraph("No confusion matrix: no complete trial has a "
                                      "`confusion_matrix.csv`.")]
    else:
        title = (f"Best run: {best['config']}, seed {best['seed']}, test acc "
                 f"{best['test_acc']:.4f}")
        pairs = figures.most_confused(matrix)
        shown = pairs.assign(rate=pairs["rate"].map(lambda x: f"{x:.1%}"))
        out = [Heading("Confusions of the best run"),
               Paragraph(f"{title} (run `{best['run_id']}`). Rate = share of the true word's "
                         "test clips predicted as the other word."),
               Figure("confusion_matrix", figures.confusion(matrix, title), "confusion"),
               Table(shown, "most_confused.csv", pairs)]
    return out + signal_blocks(study)


def signal_blocks(study: Study) -> list[Block]:
    """Waveform, DFT and spectrogram of one clip of the experiment's data, if it is here."""
    head = Heading("One clip, as the front-ends see it")
    r = study.runs
    # MLflow params are text: a None option comes back as "None"
    dataset = next((x for x in distinct(r, "data.dataset") if x != "None"), None)
    root = next((x for x in distinct(r, "data.root") if x != "None"), None)
    # What harness.data finds without downloading or generating: the --root folder the
    # sweep used, or a named set already prepared under data_dir()
    if not (Path(root).is_dir() if root else dataset is not None and prepared(dataset)):
        return [head, Paragraph(f"Skipped: the data set `{dataset or root}` is not on this "
                                "machine (run `python -m harness inspect` where it is).")]
    try:
        audio, name, word = example_clip(dataset, root)
    except HarnessError as exc:  # a data problem must not cost the rest of the report
        return [head, Paragraph(f"Skipped: {exc}")]
    title = f"{name}: the first test clip of “{word}”"
    return [head, Figure("signal", figures.signal(audio, SAMPLE_RATE, title), title)]
