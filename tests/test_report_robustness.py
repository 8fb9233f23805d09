"""The report's robustness section: known robust_* metrics logged through harness.tracking.runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report import CM, LABELS, t_interval
from test_sweep import new_tracking_uri

from harness import report as rp
from harness.cli import main
from harness.evaluation.robustness import metric_names
from harness.report import robustness as rr
from harness.tracking.runs import Tracker

SEEDS = range(5)
CLEAN = np.array([0.90, 0.92, 0.94, 0.91, 0.93])  # complex, per seed
JITTER = np.array([0.001, -0.001, 0.0, 0.002, -0.002])
# complex minus log_mel per condition: better clean and shifted, equivalent at 20 dB,
# worse at 0 dB, and the rest inconclusive-ish (kept simple: better)
DIFF = {"test_acc": 0.05, "robust_snr_20db_acc": 0.0, "robust_snr_0db_acc": -0.05}


def accuracy(frontend: str, metric: str, seed: int) -> float:
    drop = {"test_acc": 0.0}.get(metric, 0.1 if "snr" in metric else 0.05)
    acc = CLEAN[seed] - drop
    if frontend == "log_mel":
        acc -= DIFF.get(metric, 0.05) + JITTER[seed]
    return float(acc)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = new_tracking_uri(tmp_path_factory.mktemp("mlflow"))
    tracker = Tracker("robust", uri, searched=["frontend", "seed"],
                      experiment_file="experiments/robust.toml")
    number = 0
    for fe in ("complex", "log_mel"):
        for seed in SEEDS:
            run = tracker.trial(number, {"frontend": fe, "seed": seed, "model": "res15",
                                         "recipe": "honk_res15", "data.dataset": "synth_commands",
                                         "data.split": "official", "robustness": True},
                                tags={"device": "cpu"})
            run.log_test(test_loss=0.3, test_acc=accuracy(fe, "test_acc", seed), confusion=CM,
                         labels=LABELS, best_epoch=2, best_valid_acc=0.9,
                         frontend_samples_per_s=1e4, peak_memory_mb=1.0, tested_epoch=2,
                         epochs_run=2, stop_reason="early_stopping", converged=True)
            run.log_metrics({m: accuracy(fe, m, seed) for m in metric_names()})
            run.finish("COMPLETE")
            number += 1
    tracker.close()
    return uri


def test_conditions_and_table(store: str) -> None:
    study = rp.load("robust", store)
    assert rr.conditions(study) == ["test_acc", "robust_shift_-200ms_acc",
                                    "robust_shift_-100ms_acc", "robust_shift_100ms_acc",
                                    "robust_shift_200ms_acc", "robust_snr_20db_acc",
                                    "robust_snr_10db_acc", "robust_snr_5db_acc",
                                    "robust_snr_0db_acc"]
    table = rr.table(study)
    assert len(table) == 2 * 9 and set(table["n"]) == {5}
    row = table[(table["frontend"] == "log_mel") & (table["metric"] == "robust_snr_5db_acc")]
    expected = t_interval([accuracy("log_mel", "robust_snr_5db_acc", s) for s in SEEDS])
    assert tuple(row[["mean", "ci_low", "ci_high"]].iloc[0]) == pytest.approx(expected)
    assert row["condition"].iloc[0] == "SNR 5 dB"
    assert "shift +100 ms" in set(table["condition"])


def test_verdicts_per_condition(store: str) -> None:
    study = rp.load("robust", store)
    judged = {j.metric: j for j in rr.judge_conditions(study)}
    assert judged["test_acc"].verdict.word == "better"
    assert judged["robust_shift_-200ms_acc"].verdict.word == "better"
    assert judged["robust_snr_20db_acc"].verdict.word == "equivalent"
    assert judged["robust_snr_0db_acc"].verdict.word == "worse"
    assert all("synthetic data: synth_commands" in j.verdict.text for j in judged.values())
    (line,) = rr.answer(list(judged.values()))
    assert line.startswith("`complex` vs `log_mel`: the clean advantage survives 6 of 8")
    assert "worse under SNR 0 dB" in line and "equivalent under SNR 20 dB" in line


def test_report_has_the_section_figures_and_csvs(store: str, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    assert main(["report", "robust", "--tracking-uri", store, "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "## Robustness: time shift and background noise" in md
    assert "## Does the complex front-end's advantage survive shift and noise?" in md
    assert "Synthetic data (synth_commands)" in md
    for fe in ("complex", "log_mel"):
        png = out / "figures" / f"robustness_{fe}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(pd.read_csv(out / f"robustness_{fe}.csv")) == 9
    verdicts = pd.read_csv(out / "robustness_verdicts.csv")
    assert len(verdicts) == 9 and set(verdicts["verdict"]) == {"better", "equivalent", "worse"}


def test_no_section_without_robustness_metrics(tmp_path: Path) -> None:
    uri = new_tracking_uri(tmp_path)
    tracker = Tracker("plain", uri, searched=["frontend"])
    run = tracker.trial(0, {"frontend": "complex", "seed": 0, "model": "seed_cnn"})
    run.log_test(test_loss=0.3, test_acc=0.9, confusion=CM, labels=LABELS, best_epoch=1,
                 best_valid_acc=0.9, frontend_samples_per_s=1.0, peak_memory_mb=1.0,
                 tested_epoch=1, epochs_run=1, stop_reason="epoch_cap", converged=False)
    run.finish("COMPLETE")
    tracker.close()
    assert rr.blocks(rp.load("plain", uri)) == []
