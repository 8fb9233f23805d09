"""The report's streaming section on known numbers: intervals, verdicts, DET bands.

Trials are logged the sweep's way (test_report.log_study), then given stream metrics and a
`stream_det.csv` through harness.streaming.track's own logging layout.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from test_report import log_study, t_interval
from test_sweep import new_tracking_uri

from harness import report as rp
from harness.report import streaming as rs
from harness.report.blocks import Bullets, Figure, Heading, Paragraph, Table
from harness.streaming.metrics import DET_COLUMNS

COMPLEX = np.array([0.10, 0.12, 0.08, 0.11, 0.09])
# complex detects 10 points more in every seed, give or take 0.1: MDD well within 0.005
FRR = {"complex": list(COMPLEX),
       "power": list(COMPLEX + np.array([0.100, 0.101, 0.099, 0.1005, 0.0995]))}


def det_csv(frr: float) -> str:
    """A two-threshold DET table: FRR `frr` at 0.5 FA/h, 1.0 at 0 FA/h."""
    det = pd.DataFrame({"keyword": "all", "threshold": [0.5, 0.9], "occurrences": 100,
                        "hits": [round(100 * (1 - frr)), 0], "false_alarms": [1, 0],
                        "frr": [frr, 1.0], "fa_per_hour": [0.5, 0.0]})[DET_COLUMNS]
    out = io.StringIO()
    det.to_csv(out, index=False)
    return out.getvalue()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> rp.Study:
    uri = new_tracking_uri(tmp_path_factory.mktemp("mlflow"))
    log_study(uri, "st", ["frontend", "seed"],
              [({"frontend": fe, "seed": s}, "COMPLETE", 0.9) for fe in FRR for s in range(5)])
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("st")
    for run in client.search_runs([exp.experiment_id], "tags.`harness.role` = 'trial'"):
        fe, seed = run.data.params["frontend"], int(run.data.params["seed"])
        frr = FRR[fe][seed]
        for key, value in {"stream_frr_at_1fa_h": frr, "stream_frr_at_0.5fa_h": frr,
                           "stream_det_auc": 0.05 + frr, "stream_clip_macs": 4e6,
                           "stream_macs_per_audio_s": 4e7, "stream_cpu_s_per_audio_s": 0.02,
                           "stream_audio_s_per_s": 50.0, "stream_hours": 1.0}.items():
            client.log_metric(run.info.run_id, key, value)
        client.log_text(run.info.run_id, det_csv(frr), "stream_det.csv")
    return rp.load("st", uri)


def test_table_has_intervals_over_seeds(study: rp.Study) -> None:
    table = rs.table(study)
    assert list(table["config"]) == ["complex", "power"]  # lowest FRR first
    for _, row in table.iterrows():
        mean, low, high = t_interval(FRR[row["config"]])
        assert row["n"] == 5
        assert (row["stream_frr_at_1fa_h_mean"], row["stream_frr_at_1fa_h_low"],
                row["stream_frr_at_1fa_h_high"]) == pytest.approx((mean, low, high))


def test_verdict_on_detection_rate_follows_accuracy_rules(study: rp.Study) -> None:
    [judged] = rs.stream_judge(study)
    c, holm_p, verdict = judged.comparison, judged.holm_p, judged.verdict
    assert (c.a, c.b, c.stats.n) == ("complex", "power", 5)
    d = np.subtract(FRR["power"], FRR["complex"])  # (1 - FRR_a) - (1 - FRR_b)
    assert c.stats.mean == pytest.approx(d.mean())
    assert holm_p == pytest.approx(c.stats.p_value)  # a family of one
    assert verdict.word == "better", verdict.text


def test_section_blocks_and_det_bands(study: rp.Study) -> None:
    blocks = rs.blocks(study, rp.comparison_table(study))
    kinds = [type(b) for b in blocks]
    assert kinds == [Heading, Paragraph, Table, Paragraph, Bullets, Figure]
    assert blocks[4].items[0].startswith("complex vs power: better (a − b = +0.1000")
    curves = rs.stream_curves(study)
    assert curves["run_id"].nunique() == 10
    # each run's envelope: 1.0 below 0.5 FA/h, its FRR from 0.5 FA/h on
    at1 = curves[np.isclose(curves["fa_per_hour"], 1.0)].groupby("config")["frr"].mean()
    assert at1["complex"] == pytest.approx(np.mean(FRR["complex"]))
    assert (curves.loc[curves["fa_per_hour"] < 0.5, "frr"] == 1.0).all()
    assert blocks[5].png[:4] == b"\x89PNG"


def test_no_stream_metrics_no_section(tmp_path: Path) -> None:
    uri = new_tracking_uri(tmp_path)
    log_study(uri, "plain", ["frontend"], [({"frontend": "complex", "seed": 0}, "COMPLETE", 0.9)])
    s = rp.load("plain", uri)
    assert rs.blocks(s, rp.comparison_table(s)) == []
