"""Out-of-range values and unreadable files end in one line; diverged runs are counted apart."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_report import LABELS, log_study
from test_sweep import new_tracking_uri, runs, tiny_experiment

from harness import report as rp
from harness.cli import main
from harness.errors import HarnessError
from harness.models import create_model
from harness.sweep.experiment import check_pipelines
from harness.sweep.experiment_file import load_experiment
from harness.tracking.runs import Tracker
from harness.training.divergence import DIVERGED_FACTOR, diverged, mark


def experiment(tmp_path: Path, train: str = "", space: str = "", search: str = "") -> Path:
    path = tmp_path / "x.toml"
    path.write_text(f'name = "x"\n[train]\nfrontend = "complex"\nmodel = "seed_cnn"\n{train}\n'
                    f"[search]\n{search}\n[search.space]\n{space}\n")
    return path


@pytest.mark.parametrize(("train", "space", "culprit"), [
    ('"model.width" = -0.5', "", "width=-0.5"),            # the example: it trained
    ('"model.width" = 0.0', "", "width=0.0"),
    ("", '"model.width" = [0.25, -0.5]', "width=-0.5"),    # only the first value was built
    ('"model.dropout" = 1.5', "", "dropout=1.5"),
    ('"model.padding" = -1', "", "padding=-1"),
    ('"frontend.n_fft" = 0', "", "n_fft=0"),
    ('"frontend.hop_length" = -160', "", "hop_length=-160"),
    ("lr = inf", "", "inf"),
    ("weight_decay = nan", "", "nan"),
    ("", "", "seeds"),
    ('[data]\nsplit = "random"\nsplit_seed = -1', "", "split_seed -1"),
])
def test_out_of_range_values_are_one_line(train: str, space: str, culprit: str,
                                          tmp_path: Path) -> None:
    search = "seeds = [0, -1]" if culprit == "seeds" else ""
    if train.startswith("[data]"):  # its own table, after [train]'s keys
        path = tmp_path / "x.toml"
        path.write_text(f'name = "x"\n{train}\n[train]\nfrontend = "complex"\n'
                        'model = "seed_cnn"\n')
    else:
        path = experiment(tmp_path, train, space, search)
    with pytest.raises(HarnessError, match=r".") as info:
        load_experiment(path)
    message = str(info.value)
    assert culprit in message and str(path) in message and "\n" not in message


def test_other_models_options_are_checked_too() -> None:
    for name, options in (("res8", {"n_maps": 0}), ("m5", {"stride": -16}),
                          ("seed_cnn", {"conv_dropout": -0.1})):
        with pytest.raises(HarnessError, match="out of range"):
            create_model(name, in_channels=1, n_classes=3, **options)


def test_option_torch_refuses_is_one_line(tmp_path: Path) -> None:
    """n_fft 8 below the 480-sample window: a RuntimeError from torch's STFT before."""
    exp = load_experiment(experiment(tmp_path, '"frontend.n_fft" = 8'))
    with pytest.raises(HarnessError, match="win_length") as info:
        check_pipelines(exp)
    assert "\n" not in str(info.value)


def test_binary_experiment_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A UnicodeDecodeError traceback before."""
    path = tmp_path / "x.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: cannot be read (not UTF-8 text)")
    assert err.count("\n") == 1


def test_divergence_rule() -> None:
    assert diverged(1.2e7, 30, 1 / 30).startswith("test loss 1.2e+07 is above")
    assert diverged(math.nan, 30) and diverged(math.inf, 4)
    assert diverged(math.log(30) * 1.5, 30, 0.034) == ""  # at chance, but not exploding
    assert diverged(DIVERGED_FACTOR * math.log(4) * 0.99, 4) == ""


def test_diverged_runs_are_counted_apart_not_averaged(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    trials = [({"frontend": "complex", "seed": s}, "COMPLETE", 0.9) for s in range(3)]
    log_study(uri, "d", ["frontend", "seed"], trials)
    tracker = Tracker("d", uri)
    base = {"model": "seed_cnn", "epochs": 3, "recipe": "as_ran", "lr": 4e-4, "beta1": 0.95,
            "data.dataset": "synth_commands", "data.root": None, "data.split": "official",
            "data.split_seed": 0}  # log_study's
    run = tracker.trial(3, {**base, "frontend": "complex", "seed": 3})
    run.log_test(test_loss=1e7, test_acc=0.25, confusion=np.eye(4, dtype=int), labels=LABELS,
                 best_epoch=1, best_valid_acc=0.25, frontend_samples_per_s=1.0,
                 peak_memory_mb=1.0, tested_epoch=1, epochs_run=1, stop_reason="epoch_cap",
                 converged=False)
    mark(run, diverged(1e7, 4, 0.25))
    run.finish("COMPLETE")
    table = rp.comparison_table(rp.load("d", uri))
    assert len(table) == 1, table
    row = table.iloc[0]
    assert (row["complete"], row["diverged"]) == (3, 1)
    assert row["test_acc_mean"] == pytest.approx(0.9)  # 0.25 is not averaged in


@pytest.mark.slow
def test_sweep_with_a_huge_lr_tags_its_runs_diverged(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """max_lr 1000: before, a COMPLETE result at chance averaged into the comparison."""
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=1, space='frontend = ["complex"]', seeds="[0]")
    exp.write_text(exp.read_text().replace("batch_size = 8", "batch_size = 8\nlr = 1000.0"))
    monkeypatch.chdir(tmp_path)
    main(["sweep", str(exp), "--tracking-uri", uri])  # 2 when its one trial failed (NaN)
    _, children = runs(uri)
    assert len(children) == 1 and children[0].data.tags.get("diverged")
    row = rp.comparison_table(rp.load("tiny", uri)).iloc[0]
    assert row["diverged"] == 1 and row["complete"] == 0
