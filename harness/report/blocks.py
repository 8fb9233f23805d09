"""The report's building blocks: what a section says, typed, before it is rendered.

A section (harness.report.finding, .comparison, ...) returns a list of blocks;
harness.report.render turns the list into Markdown and HTML, and
harness.report.build writes each Table's and Attachment's CSV and each Figure's PNG
beside them. Text may use `code` and **bold**.

    [Heading("Comparison"), Paragraph("One row per ..."),
     Table(shown, "comparison.csv", raw), Figure("test_accuracy", png, "test accuracy")]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Heading:
    """A section heading (h2)."""

    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    """An unordered list, one item per string."""

    items: Sequence[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))  # frozen: a list would not be


@dataclass(frozen=True, eq=False)
class Table:
    """A table shown as text; `csv` (a file name, "" for none) gets `raw` when given (the
    unformatted numbers), else the shown strings."""

    shown: pd.DataFrame
    csv: str = ""
    raw: pd.DataFrame | None = None

    @property
    def data(self) -> pd.DataFrame:
        """What the CSV holds."""
        return self.shown if self.raw is None else self.raw


@dataclass(frozen=True)
class Figure:
    """A PNG, saved as figures/<name>.png and inlined in the HTML."""

    name: str
    png: bytes
    alt: str


@dataclass(frozen=True, eq=False)
class Attachment:
    """A CSV written beside the report and not shown in it (mcnemar.csv: the text names it)."""

    name: str
    data: pd.DataFrame


Block = Heading | Paragraph | Bullets | Table | Figure | Attachment


def csv_files(blocks: list[Block]) -> dict[str, pd.DataFrame]:
    """File name -> table, for every Table with a csv and every Attachment; the first block
    naming a file wins."""
    files: dict[str, pd.DataFrame] = {}
    for b in blocks:
        if isinstance(b, Table) and b.csv:
            files.setdefault(b.csv, b.data)
        elif isinstance(b, Attachment):
            files.setdefault(b.name, b.data)
    return files
