"""docs/statistics.md's worked examples, run: each is a doctest against the real code."""

from __future__ import annotations

import doctest
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "statistics.md"


def test_every_worked_example_in_statistics_md_holds() -> None:
    result = doctest.testfile(str(DOC), module_relative=False, verbose=False,
                              optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 20 and result.failed == 0, result
