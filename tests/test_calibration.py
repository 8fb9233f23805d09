"""The calibration simulation, small: the verdict rules keep their error rates and reach the
power `harness plan` promises, within Monte Carlo error (`nox -s calibrate` is the full
table in docs/statistics.md)."""

from __future__ import annotations

import math

from harness.report.calibration import Cell, calibrate, markdown

STUDIES = 200


def test_error_rates_and_promised_power_small() -> None:
    table = calibrate(STUDIES, [Cell(5, 2), Cell(10, 2, 1 / 3)])
    se = math.sqrt(0.05 * 0.95 / STUDIES)  # of a rate near 0.05
    for r in table.itertuples():
        assert r.false_difference <= 0.05 + 3 * se, r
        assert r.false_equivalence <= 0.05 + 3 * se, r
        for k in (1, 2):
            measured, promised = getattr(r, f"power_{k}x"), getattr(r, f"promised_{k}x")
            assert abs(measured - promised) <= 3.5 * math.sqrt(promised * (1 - promised)
                                                               / STUDIES), r
        if r.plan_n > 0:  # else unreachable: the corrected test at margin = sd, alpha 0.025
            assert r.plan_power >= 0.8 - 3 * math.sqrt(0.16 / STUDIES), r
    assert list(table["plan_n"] > 0) == [True, False]
    assert markdown(table).count("\n") == 4  # header, rule, 2 rows
