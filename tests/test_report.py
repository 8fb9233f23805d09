"""harness report / inspect: known numbers logged through harness.tracking, read back exactly.

The store is written once per module by the same Tracker the sweep uses, so the
test also holds the report to the tracking layout of docs/architecture.md.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_speech_commands
from scipy import stats as sps

from harness import figures
from harness import report as rp
from harness.cli import main
from harness.commands.report import experiment_name
from harness.errors import HarnessError
from harness.tracking import Tracker

LABELS = ["no", "off", "on", "yes"]
CM = np.array([[8, 1, 1, 0], [2, 7, 0, 1], [0, 3, 7, 0], [0, 0, 4, 6]])
# test accuracy per seed 0, 1, 2: complex beats power, loses to mel, ties log_power
ACC = {"complex": [0.90, 0.92, 0.94], "power": [0.85, 0.88, 0.89], "mel": [0.95, 0.96, 0.99],
       "log_power": [0.93, 0.90, 0.95], "log_mel": [0.80]}


def t_interval(x: list[float]) -> tuple[float, float, float]:
    """The 95% t-interval computed here, independently of harness.stats."""
    m, half = np.mean(x), sps.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x))
    return m, m - half, m + half


def log_study(uri: str, name: str, searched: list[str],
              trials: list[tuple[dict, str, float]], root: Path | None = None) -> None:
    """Log (params, state, test_acc) trials the way the sweep does: epochs, test, finish."""
    tracker = Tracker(name, uri, searched=searched, experiment_file=f"experiments/{name}.toml")
    base = {"model": "seed_cnn", "epochs": 3, "data.dataset": "None" if root else "synth_commands",
            "data.root": root, "data.split": "official", "data.split_seed": 0}
    for number, (params, state, acc) in enumerate(trials):
        run = tracker.trial(number, {**base, **params}, tags={"device": "cpu"})
        for epoch in (1, 2, 3):
            run.log_epoch({"epoch": epoch, "train_loss": 1 / epoch, "train_acc": 0.5,
                           "valid_loss": 1 / epoch, "valid_acc": acc - 0.02 * (3 - epoch),
                           "lr": 0.01, "train_samples_per_s": 1000.0 * epoch + number,
                           "eval_samples_per_s": 4000.0 + number})
            if state == "PRUNED":
                break
        if state == "COMPLETE":
            run.log_test(test_loss=0.3, test_acc=acc, confusion=CM, labels=LABELS, best_epoch=3,
                         best_valid_acc=acc - 0.005, frontend_samples_per_s=9e4,
                         peak_memory_mb=100.0 + number)
        run.finish(state, "loss is NaN" if state == "FAIL" else "")
    tracker.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp}/mlflow.db"
    trials = [({"frontend": fe, "seed": s}, "COMPLETE", a)
              for fe, accs in ACC.items() for s, a in enumerate(accs)]
    trials += [({"frontend": "power", "seed": 3}, "PRUNED", 0.0),
               ({"frontend": "power", "seed": 4}, "FAIL", 0.0)]
    log_study(uri, "exp", ["frontend", "seed"], trials, root=make_speech_commands(tmp / "sc"))
    # two models: pairs must match on the model as well as the seed
    acc2 = {("complex", "m1"): [0.90, 0.91], ("complex", "m2"): [0.80, 0.82],
            ("power", "m1"): [0.88, 0.90], ("power", "m2"): [0.79, 0.80]}
    log_study(uri, "models", ["frontend", "model", "seed"],
              [({"frontend": fe, "model": m, "seed": s}, "COMPLETE", a)
               for (fe, m), accs in acc2.items() for s, a in enumerate(accs)])
    # a later sweep with an overridden fixed value (--epochs 1) adds trials to the study
    log_study(uri, "override", ["frontend", "seed"],
              [({"frontend": fe, "seed": 0, "epochs": e}, "COMPLETE", a + (e == 3) * 0.05)
               for e in (3, 1) for fe, a in (("complex", 0.9), ("power", 0.8))])
    # sampled options never coincide across front-ends: the best of each side is compared
    tuned = (("complex", 0.01, 0.92, (0, 1)), ("complex", 0.02, 0.7, (0,)),
             ("power", 0.015, 0.88, (0, 1)), ("power", 0.03, 0.6, (0,)))
    log_study(uri, "tuned", ["frontend", "max_lr", "seed"],
              [({"frontend": fe, "max_lr": lr, "seed": s}, "COMPLETE", a + s / 100)
               for fe, lr, a, seeds in tuned for s in seeds])
    Tracker("empty", uri).close()  # an experiment with a parent run and no trials
    return uri


def test_comparison_table_means_intervals_and_counts(store: str) -> None:
    table = rp.comparison_table(rp.load("exp", store)).set_index("config")
    assert list(table.index) == ["mel", "log_power", "complex", "power", "log_mel"]
    for fe, accs in ACC.items():
        row = table.loc[fe]
        assert row["complete"] == len(accs)
        if len(accs) > 1:
            assert (row["test_acc_mean"], row["test_acc_low"], row["test_acc_high"]) == \
                pytest.approx(t_interval(accs), abs=1e-12)
        assert row["valid_acc_mean"] == pytest.approx(np.mean(accs) - 0.005, abs=1e-12)
        assert row["best_epoch_mean"] == 3
    assert table.loc["log_mel", "test_acc_mean"] == 0.80
    assert pd.isna(table.loc["log_mel", "test_acc_low"])  # one seed: no interval
    # pruned and failed are counted, never averaged in; throughput = last epoch, median
    assert tuple(table.loc["power", ["complete", "pruned", "failed"]]) == (3, 1, 1)
    assert table.loc["complex", "train_samples_per_s"] == 3001.0  # trials 0, 1, 2: 3000 + n
    assert table.loc["complex", "peak_memory_mb"] == 102.0


def test_finding_verdicts_and_reasons(store: str) -> None:
    fnd = rp.finding(rp.load("exp", store)).set_index("b")
    assert list(fnd.index) == ["power", "magnitude", "sqrt_magnitude", "log_power", "mel",
                               "log_mel", "log_power"]
    for b, expected in (("power", "confirmed"), ("mel", "refuted")):
        d = np.subtract(ACC["complex"], ACC[b])
        row = fnd.loc[b]
        assert (row["verdict"], row["pairs"]) == (expected, 3)
        assert (row["mean_diff"], row["ci_low"], row["ci_high"]) == \
            pytest.approx(t_interval(list(d)), abs=1e-12)
        assert row["p_value"] == pytest.approx(sps.ttest_rel(ACC["complex"], ACC[b]).pvalue,
                                               abs=1e-12)
        assert pd.isna(row["wilcoxon_p"]) and "Wilcoxon skipped" in row["test"]
    assert fnd.loc["power", "study_diff"] == pytest.approx(0.9324 - 0.8898)
    log_power = fnd[fnd["a"] == "complex"].loc["log_power"]
    assert log_power["verdict"] == "inconclusive"
    assert fnd.loc["log_mel", "reason"] == ("only 1 matching seed: a confidence interval "
                                            "needs at least 2")
    assert fnd.loc["log_mel", "mean_diff"] == pytest.approx(0.10, abs=1e-12)
    assert fnd.loc["magnitude", "reason"] == "no `magnitude` runs in this experiment"
    assert fnd[fnd["a"] == "complex_log"]["reason"].item() == \
        "no `complex_log` runs in this experiment"
    assert set(fnd.loc[fnd["reason"] != "", "verdict"]) == {"no verdict"}


def test_pairs_match_on_other_searched_parameters(store: str) -> None:
    study = rp.load("models", store)
    assert study.group_keys == ["frontend", "model"]
    assert sorted(rp.comparison_table(study)["config"]) == [
        "complex · m1", "complex · m2", "power · m1", "power · m2"]
    r, matched = rp.compare(study, "complex", "power")
    assert (r.n, matched) == (4, "seed, model")  # seed x model, not 2 seeds averaged
    assert (r.mean, r.low, r.high) == pytest.approx(t_interval([0.02, 0.01, 0.01, 0.02]),
                                                    abs=1e-12)
    assert r.verdict == "confirmed"


def test_unsearched_params_that_differ_split_configurations(store: str) -> None:
    study = rp.load("override", store)
    assert study.group_keys == ["frontend", "model", "epochs"]
    assert list(rp.comparison_table(study)["config"]) == [
        "complex · epochs=3", "complex · epochs=1", "power · epochs=3", "power · epochs=1"]
    r, matched = rp.compare(study, "complex", "power")
    assert (r.n, r.low, r.high) == (2, pytest.approx(0.1, abs=1e-12), pytest.approx(0.1))
    assert matched == "seed, model, epochs"


def test_tuned_options_compare_the_best_configurations(store: str) -> None:
    r, matched = rp.compare(rp.load("tuned", store), "complex", "power")
    assert matched == ("seed; best configuration of each side by validation accuracy: "
                       "complex · max_lr=0.01 vs power · max_lr=0.015")
    assert (r.n, r.mean, r.verdict) == (2, pytest.approx(0.04, abs=1e-12), "confirmed")


def test_report_files_html_and_determinism(store: str, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    assert main(["report", "exp", "--tracking-uri", store, "--out", str(out)]) == 0
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == ["comparison.csv", "figures/accuracy_vs_throughput.png",
                     "figures/confusion_matrix.png", "figures/signal.png",
                     "figures/test_accuracy.png", "figures/valid_curves.png", "finding.csv",
                     "most_confused.csv", "reference.csv", "report.html", "report.md"]
    page = (out / "report.html").read_text()
    srcs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert len(srcs) == 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<link" not in page and "<script" not in page and "http" not in page
    md = (out / "report.md").read_text()
    assert "**confirmed**" in md and "**refuted**" in md and "**inconclusive**" in md
    assert f"python -m harness report exp --tracking-uri {store} --out {out}" in md
    assert "1 failed, 1 pruned" in md and "git commit" in md.lower()
    top = pd.read_csv(out / "most_confused.csv")
    assert top.values.tolist() == [["yes", "on", 4, 0.4], ["on", "off", 3, 0.3],
                                   ["off", "no", 2, 0.2], ["no", "off", 1, 0.1],
                                   ["no", "on", 1, 0.1], ["off", "yes", 1, 0.1]]
    before = {n: (out / n).read_bytes() for n in names}
    assert main(["report", "exp", "--tracking-uri", store, "--out", str(out)]) == 0
    assert {n: (out / n).read_bytes() for n in names} == before


def test_report_without_local_data_skips_the_clip(store: str, tmp_path: Path) -> None:
    assert main(["report", "models", "--tracking-uri", store, "--out", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    assert "Skipped: the data set `synth_commands` is not on this machine" in md
    assert not (tmp_path / "figures" / "signal.png").exists()
    assert "| `complex` − `power` | 4 | seed, model |" in md


def test_missing_experiment_store_or_trials(store: str, tmp_path: Path) -> None:
    listed = r"no MLflow experiment 'nope'.*: empty, exp, models, override, tuned"
    with pytest.raises(HarnessError, match=listed):
        rp.load("nope", store)
    with pytest.raises(HarnessError, match=r"no trial runs in experiment 'empty'"):
        rp.load("empty", store)
    missing = tmp_path / "none.db"
    with pytest.raises(HarnessError, match=r"experiment 'quick': no MLflow store"):
        rp.load("quick", f"sqlite:///{missing}")
    assert not missing.exists()  # reading never creates a store


def test_experiment_name_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('name = "study_x"\n')
    assert experiment_name(str(path)) == "study_x"
    assert experiment_name("quick") == "quick"


def test_inspect_writes_the_signal_figure(tmp_path: Path) -> None:
    root = make_speech_commands(tmp_path / "sc")
    out = tmp_path / "insp"
    assert main(["inspect", "--dataset", "", "--root", str(root), "--word", "yes",
                 "--out", str(out)]) == 0
    assert (out / "sc_yes.png").read_bytes().startswith(b"\x89PNG")
    assert main(["inspect", "--root", str(root), "--word", "nope", "--out", str(out)]) == 2


def test_stft_matches_torch_and_the_study_shape() -> None:
    import torch

    x = np.random.default_rng(0).standard_normal(16_000) * 0.1
    ours = figures.stft_log_power(x)
    window = torch.hann_window(480, dtype=torch.float64)
    spec = torch.stft(torch.from_numpy(x), 512, 160, 480, window, center=True, normalized=True,
                      return_complex=True)
    assert ours.shape == (257, 101)
    np.testing.assert_allclose(ours, 10 * np.log10(spec.abs().numpy() ** 2 + 1e-10), atol=1e-9)
