"""harness report / inspect: known numbers logged through harness.tracking.runs, read back exactly.

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
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from harness import report as rp
from harness.cli import main
from harness.commands.report import experiment_name
from harness.errors import HarnessError
from harness.report import figures, finding
from harness.tracking.runs import DEFAULT_MARGIN, Tracker

LABELS = ["no", "off", "on", "yes"]
CM = np.array([[8, 1, 1, 0], [2, 7, 0, 1], [0, 3, 7, 0], [0, 0, 4, 6]])
COMPLEX = np.array([0.90, 0.92, 0.94, 0.91, 0.93])  # test accuracy of seeds 0-4
D = {  # complex minus each magnitude front-end, per seed; each gives one verdict
    "power": [0.046, 0.044, 0.047, 0.045, 0.048],      # better (MDD 0.0027 within margin)
    "mel": [-0.05, -0.048, -0.051, -0.049, -0.052],    # worse (MDD 0.0027 within margin)
    "log_power": [0.001, -0.001, 0.0, 0.002, -0.002],  # equivalent at margin 0.005
    "mfcc": [0.006, 0.0, 0.004, 0.0, 0.005],           # inconclusive
}
ACC = {"complex": list(COMPLEX), **{fe: list(COMPLEX - d) for fe, d in D.items()},
       "log_mel": [0.80]}
Y = np.arange(40) % 4  # the test split's labels, 40 clips


def wrong(at: list[int]) -> np.ndarray:
    """(label, prediction) rows for the 40 test clips, wrong at the given clips."""
    pred = Y.copy()
    pred[at] = (pred[at] + 1) % 4
    return np.stack([Y, pred], 1)


# complex vs power per seed: McNemar's discordant counts (complex only, power only)
# seed 0: 6 vs 1, seed 1: 10 vs 0 (p 0.002), seeds 2-3: 6 vs 1; seed 4: power logged none
PRED = {("complex", s): wrong([0, 1]) for s in (0, 2, 3, 4)} | {("complex", 1): wrong([])}
PRED |= {("power", s): wrong([0, 2, 3, 4, 5, 6, 7]) for s in (0, 2, 3)}
PRED |= {("power", 1): wrong(list(range(10, 20)))}


def t_interval(x: list[float]) -> tuple[float, float, float]:
    """The 95% t-interval computed here, independently of harness.report.stats."""
    m, half = np.mean(x), sps.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x))
    return m, m - half, m + half


def log_study(uri: str, name: str, searched: list[str], trials: list[tuple],
              root: Path | None = None, margin: float | None = None) -> None:
    """Log (params, state, test_acc[, log_test overrides]) trials the way the sweep does:
    epochs, test, finish. Trials are converged (early stopping) unless overridden."""
    tracker = Tracker(name, uri, searched=searched, experiment_file=f"experiments/{name}.toml",
                      margin=margin)
    # `lr` and `beta1` are params (the recipe's values) and per-epoch metrics, as in a sweep
    base = {"model": "seed_cnn", "epochs": 3, "recipe": "as_ran", "lr": 4e-4, "beta1": 0.95,
            "data.dataset": "None" if root else "synth_commands", "data.root": root,
            "data.split": "official", "data.split_seed": 0}
    for number, (params, state, acc, *extra) in enumerate(trials):
        test = {"converged": True, "stop_reason": "early_stopping", **(extra[0] if extra else {})}
        run = tracker.trial(number, {**base, **params},
                            tags={"device": "cpu", "test_set": "testing_list.txt"})
        for epoch in (1, 2, 3):
            run.log_epoch({"epoch": epoch, "train_loss": 1 / epoch, "train_acc": 0.5,
                           "valid_loss": 1 / epoch, "valid_acc": acc - 0.02 * (3 - epoch),
                           "lr": 0.01, "beta1": 0.95,
                           "train_samples_per_s": 1000.0 * epoch + number,
                           "eval_samples_per_s": 4000.0 + number})
            if state == "PRUNED":
                break
        if state == "COMPLETE":
            run.log_test(test_loss=0.3, test_acc=acc, confusion=CM, labels=LABELS, best_epoch=3,
                         best_valid_acc=acc - 0.005, frontend_samples_per_s=9e4,
                         peak_memory_mb=100.0 + number, tested_epoch=3, epochs_run=3, **test)
        run.finish(state, "loss is NaN" if state == "FAIL" else "")
    tracker.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp}/mlflow.db"
    trials = [({"frontend": fe, "seed": s}, "COMPLETE", a,
               {"predictions": PRED.get((fe, s))})
              for fe, accs in ACC.items() for s, a in enumerate(accs)]
    trials += [({"frontend": "power", "seed": 5}, "PRUNED", 0.0),
               ({"frontend": "power", "seed": 6}, "FAIL", 0.0)]
    log_study(uri, "exp", ["frontend", "seed"], trials, root=make_speech_commands(tmp / "sc"))
    # two models: pairs must match on the model as well as the seed; margin 2 points
    acc2 = {("complex", "m1"): [0.90, 0.91], ("complex", "m2"): [0.80, 0.82],
            ("power", "m1"): [0.88, 0.90], ("power", "m2"): [0.79, 0.80]}
    log_study(uri, "models", ["frontend", "model", "seed"],
              [({"frontend": fe, "model": m, "seed": s}, "COMPLETE", a)
               for (fe, m), accs in acc2.items() for s, a in enumerate(accs)], margin=0.02)
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
    # a clear difference, but one trial hit the epoch cap still improving
    capped = {"converged": False, "stop_reason": "epoch_cap"}
    log_study(uri, "unconverged", ["frontend", "seed"],
              [({"frontend": fe, "seed": s}, "COMPLETE", a, capped if (fe, s) == ("power", 2)
                else {}) for fe, accs in ACC.items() if fe in ("complex", "power")
               for s, a in enumerate(accs)])
    Tracker("empty", uri).close()  # an experiment with a parent run and no trials
    return uri


def test_comparison_table_means_intervals_and_counts(store: str) -> None:
    table = rp.comparison_table(rp.load("exp", store)).set_index("config")
    assert list(table.index) == ["mel", "complex", "log_power", "mfcc", "power", "log_mel"]
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
    assert tuple(table.loc["power", ["complete", "pruned", "failed"]]) == (5, 1, 1)
    assert table.loc["complex", "train_samples_per_s"] == 3002.0  # trials 0-4: 3000 + n
    assert table.loc["complex", "peak_memory_mb"] == 104.0


def test_finding_every_complex_magnitude_pair_and_its_numbers(store: str) -> None:
    study = rp.load("exp", store)
    assert study.margin == DEFAULT_MARGIN  # no harness.margin tag
    fnd = finding.table(study).set_index("b")
    assert list(fnd.index) == ["log_mel", "log_power", "mel", "mfcc", "power"]
    assert set(fnd["a"]) == {"complex"}
    expected = {"power": "better", "mel": "worse", "log_power": "equivalent",
                "mfcc": "no verdict", "log_mel": "no verdict"}
    assert fnd["verdict"].to_dict() == expected
    assert fnd.loc["mfcc", "reasons"] == "inconclusive"
    assert fnd.loc["log_mel", "reasons"] == "fewer than 5 pairs"
    tested = ["log_power", "mel", "mfcc", "power"]  # the Holm family: those with a p-value
    raw = [sps.ttest_rel(ACC["complex"], ACC[b]).pvalue for b in tested]
    assert list(fnd.loc[tested, "p_value"]) == pytest.approx(raw, abs=1e-12)
    assert list(fnd.loc[tested, "p_holm"]) == pytest.approx(
        list(multipletests(raw, method="holm")[1]), abs=1e-12)
    assert pd.isna(fnd.loc["log_mel", "p_holm"]) and fnd.loc["log_mel", "pairs"] == 1
    effect = TTestPower().solve_power(nobs=5, alpha=0.05, power=0.8)
    for b in tested:
        row, d = fnd.loc[b], np.subtract(ACC["complex"], ACC[b])
        assert (row["mean_diff"], row["ci_low"], row["ci_high"]) == \
            pytest.approx(t_interval(list(d)), abs=1e-12)
        assert row["tost_p"] == pytest.approx(
            ttost_paired(np.array(ACC["complex"]), np.array(ACC[b]), -0.005, 0.005)[0],
            abs=1e-12)
        assert row["mdd"] == pytest.approx(effect * np.std(d, ddof=1), rel=1e-9)
        assert (row["pairs"], row["trials"], row["unconverged"], row["unrecorded"]) == \
            (5, 10, 0, 0)
    assert fnd.loc["power", ["p_improve", "p_improve_low", "p_improve_high"]].tolist() == \
        [1.0, 1.0, 1.0]
    assert fnd.loc["mel", "p_improve"] == 0.0
    assert fnd.loc["power", "study_diff"] == pytest.approx(0.9324 - 0.8898)
    assert pd.isna(fnd.loc["mfcc", "study_diff"])


def test_mcnemar_per_seed_on_the_logged_predictions(store: str) -> None:
    study = rp.load("exp", store)
    judged = {j.comparison.b: j for j in finding.judged(study)}
    m = judged["power"].mcnemar.set_index("pair")
    assert list(m.index) == [f"seed={s}" for s in range(5)]
    ref = mcnemar([[32, 6], [1, 1]], exact=True)  # seed 0: clip 0 wrong on both sides
    assert m.loc["seed=0", ["clips", "a_only", "b_only", "exact"]].tolist() == [40, 6, 1, True]
    assert m.loc["seed=0", "p_value"] == pytest.approx(ref.pvalue, abs=1e-15)
    assert m.loc["seed=1", "p_value"] == pytest.approx(2 / 2 ** 10, abs=1e-15)
    assert m.loc["seed=4", "note"] == "no test_predictions.csv" and pd.isna(
        m.loc["seed=4", "p_value"])
    fnd = finding.table(study, list(judged.values())).set_index("b")
    assert fnd.loc["power", "mcnemar"] == "1 of 4 pairs p < 0.05 (1 favour `complex`)"
    assert fnd.loc["mel", "mcnemar"] == "not testable: no test_predictions.csv"


def test_verdict_lines_are_plain_strings(store: str) -> None:
    lines = rp.verdict_lines(rp.load("exp", store))
    assert len(lines) == 5 and all(isinstance(x, str) for x in lines)
    by_b = {x.split(":")[0].split(" vs ")[1]: x.split(": ", 1)[1] for x in lines}
    assert by_b["power"].startswith("better (a − b = +0.0460, 95% CI [+0.0440, +0.0480], "
                                    "5 pairs; Holm p ")
    assert by_b["mel"].startswith("worse (")
    assert by_b["log_power"].startswith("equivalent (") and "TOST p" in by_b["log_power"]
    assert by_b["mfcc"].startswith("no verdict: inconclusive (")
    assert by_b["log_mel"] == "no verdict: fewer than 5 pairs (1 pair)"
    assert not any("synthetic" in x for x in lines)  # a --root folder of real recordings


def test_an_unconverged_trial_withholds_the_verdict(store: str) -> None:
    study = rp.load("unconverged", store)
    row = finding.table(study).iloc[0]
    assert (row["a"], row["b"], row["pairs"], row["unconverged"]) == ("complex", "power", 5, 1)
    assert row["p_holm"] < 0.05  # the difference is clear, but not a verdict
    assert row["verdict_text"].startswith(
        "no verdict: unconverged trials (1 of 10 trials stopped at the epoch cap")
    assert rp.verdict_lines(study)[0].endswith("; synthetic data: synth_commands)")


def test_pairs_match_on_other_searched_parameters(store: str) -> None:
    study = rp.load("models", store)
    assert study.group_keys == ["frontend", "model"] and study.margin == 0.02
    assert sorted(rp.comparison_table(study)["config"]) == [
        "complex · m1", "complex · m2", "power · m1", "power · m2"]
    c = rp.compare(study, "complex", "power")
    assert (c.stats.n, c.matched_on) == (4, "seed, model")  # seed x model, not 2 seeds
    assert (c.stats.mean, c.stats.low, c.stats.high) == pytest.approx(
        t_interval([0.02, 0.01, 0.01, 0.02]), abs=1e-12)
    assert c.stats.tost_p == pytest.approx(ttost_paired(
        np.array([0.90, 0.91, 0.80, 0.82]), np.array([0.88, 0.90, 0.79, 0.80]), -0.02, 0.02)[0])
    assert rp.verdict_lines(study) == [
        "complex vs power: no verdict: fewer than 5 pairs (a − b = +0.0150, 95% CI "
        "[+0.0058, +0.0242]; 4 pairs; synthetic data: synth_commands)"]


def test_unsearched_params_that_differ_split_configurations(store: str) -> None:
    study = rp.load("override", store)
    assert study.group_keys == ["frontend", "model", "epochs"]
    assert list(rp.comparison_table(study)["config"]) == [
        "complex · epochs=3", "complex · epochs=1", "power · epochs=3", "power · epochs=1"]
    c = rp.compare(study, "complex", "power")
    assert (c.stats.n, c.stats.low, c.stats.high) == (2, pytest.approx(0.1, abs=1e-12),
                                                      pytest.approx(0.1))
    assert c.matched_on == "seed, model, epochs"


def test_tuned_options_compare_the_best_configurations(store: str) -> None:
    c = rp.compare(rp.load("tuned", store), "complex", "power")
    assert c.matched_on == ("seed; best configuration of each side by validation accuracy: "
                            "complex · max_lr=0.01 vs power · max_lr=0.015")
    assert (c.stats.n, c.stats.mean) == (2, pytest.approx(0.04, abs=1e-12))


def test_report_files_html_and_determinism(store: str, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    assert main(["report", "exp", "--tracking-uri", store, "--out", str(out)]) == 0
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == ["comparison.csv", "figures/accuracy_vs_throughput.png",
                     "figures/confusion_matrix.png", "figures/signal.png",
                     "figures/test_accuracy.png", "figures/valid_curves.png", "finding.csv",
                     "mcnemar.csv", "most_confused.csv", "reference.csv", "report.html",
                     "report.md"]
    page = (out / "report.html").read_text()
    srcs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert len(srcs) == 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<link" not in page and "<script" not in page and "http" not in page
    md = (out / "report.md").read_text()
    for word in ("better", "worse", "equivalent", "no verdict: fewer than 5 pairs",
                 "no verdict: inconclusive"):
        assert f"**{word}**" in md
    assert "- complex vs power: better (a − b = +0.0460" in md
    assert "| `complex` − `power` | 5 | seed, model |" in md
    assert "1 of 4 pairs p < 0.05 (1 favour `complex`)" in md
    assert "**Recipe(s):** as_ran" in md and "**Equivalence margin:** ±0.005" in md
    assert "synthetic" not in md.lower()  # a --root folder, not generated speech
    assert "here words30, tested on testing_list.txt" in md  # the tag the worker sets
    for name in ("report.md", "report.html", "finding.csv", "mcnemar.csv"):
        text = (out / name).read_text().lower()
        assert "confirmed" not in text and "refuted" not in text and "**inconclusive" not in text
    mc = pd.read_csv(out / "mcnemar.csv")
    assert len(mc) == 1 + 4 * 5 and mc["p_value"].notna().sum() == 4  # power, seeds 0-3
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
    assert "**Synthetic data.** These trials ran on synth_commands" in md
    assert "synth_commands (synthetic), official split; **synthetic data**" in md
    verdicts = [x for x in md.splitlines() if x.startswith("- complex vs power: ")]
    assert len(verdicts) == 1 and verdicts[0].endswith("; synthetic data: synth_commands)")


def test_missing_experiment_store_or_trials(store: str, tmp_path: Path) -> None:
    listed = r"no MLflow experiment 'nope'.*: empty, exp, models, override, tuned, unconverged"
    with pytest.raises(HarnessError, match=listed):
        rp.load("nope", store)
    with pytest.raises(HarnessError, match=r"no trial runs in experiment 'empty'"):
        rp.load("empty", store)
    missing = tmp_path / "none.db"
    with pytest.raises(HarnessError, match=r"experiment 'quick': no MLflow store"):
        rp.load("quick", f"sqlite:///{missing}")
    assert not missing.exists()  # reading never creates a store


def test_artifact_reads_fail_loudly_on_a_broken_store(store: str, tmp_path: Path) -> None:
    """Only "no such artifact" reads as missing; a store that cannot be read names the run."""
    copy = tmp_path / "copy.db"
    copy.write_bytes(Path(store.removeprefix("sqlite:///")).read_bytes())
    study = rp.load("exp", f"sqlite:///{copy}")
    run = study.runs[study.runs["frontend"] == "mel"]["run_id"].iloc[0]
    assert rp.predictions(study, run) is None  # mel logged no test_predictions.csv
    copy.write_bytes(b"not a database" * 100)
    with pytest.raises(HarnessError, match=f"run {run}: cannot read its artifact "
                                           "test_predictions.csv from sqlite:///"):
        rp.predictions(study, run)


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


def test_stft_figure_shows_what_the_network_sees() -> None:
    """The inspect figure's spectrogram is the `log_power` front-end at its defaults (one
    home for the STFT): torch.stft with a 480-sample Hann window, normalised by the
    window's L2 norm, 257 x 101 for one second."""
    import torch

    x = np.random.default_rng(0).standard_normal(16_000) * 0.1
    ours = figures.stft_log_power(x)
    window = torch.hann_window(480, dtype=torch.float64)
    spec = torch.stft(torch.from_numpy(x), 512, 160, 480, window, center=True,
                      return_complex=True) / window.pow(2).sum().sqrt()
    assert ours.shape == (257, 101)
    expected = 10 * np.log10(np.maximum(spec.abs().numpy() ** 2, 1e-10))
    # float32 features against a float64 reference: near a spectral null (-80 dB) the dB
    # values differ by ~1e-3 in absolute terms, 1e-5 relative.
    np.testing.assert_allclose(ours, expected, atol=1e-3, rtol=1e-4)
