"""Experiment files: the shipped ones are valid, bad ones fail naming the file and the key."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest

from harness.errors import HarnessError
from harness.sweep.experiment import Range, check_pipelines
from harness.sweep.experiment_file import load_experiment

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "experiments").glob("*.toml"))
TRAIN_FIELDS = ("recipe", "epochs", "batch_size", "lr", "schedule", "beta1", "beta2",
                "weight_decay", "patience", "min_delta", "test_weights", "amp", "channels_last",
                "compile")

GOOD = """
name = "good"
[data]
split = "random"
[train]
model = "seed_cnn"
"model.width" = 0.25
epochs = 2
[search]
seeds = [0, 1]
[search.space]
frontend = ["magnitude", "complex"]
batch_size = [32, 64]
"""


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_experiments_are_valid() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"quick", "complex_vs_magnitude", "as_written", "official_split", "frontends",
            "models", "tune", "learnable", "compact"} <= names
    for path in SHIPPED:
        exp = check_pipelines(load_experiment(path))
        assert exp.name == path.stem
        if exp.sampler == "grid":
            assert exp.grid(), path


def test_quick_is_the_promised_grid() -> None:
    exp = load_experiment("quick")  # a bare name is looked up in experiments/
    assert exp.fixed["data.dataset"] == "synth_commands_v2_small"
    assert exp.workers == 2 and exp.margin == 0.05
    assert exp.fixed["data.split"] == "official"
    assert exp.fixed["model"] == "seed_cnn" and exp.fixed["model.width"] == 0.25
    assert {"log_power", "complex"} <= set(exp.space["frontend"])
    assert len(exp.seeds) >= 5 and exp.sampler == "grid"  # the fewest replicates for a verdict


def test_grid_and_flat_params(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, GOOD))
    grid = exp.grid()
    assert len(grid) == 2 * 2 * 2
    assert [p["seed"] for p in grid] == [0] * 4 + [1] * 4  # seed outermost: pairs early
    assert len({tuple(sorted(p.items())) for p in grid}) == 8
    params = exp.params(grid[0])
    assert list(params)[:3] == ["frontend", "model", "seed"]
    for key in (*TRAIN_FIELDS, "model.width", "data.dataset", "data.split",
                "data.split_seed", "data.root"):
        assert key in params, key
    assert params["data.split"] == "random" and params["batch_size"] == 32
    assert exp.searched == ["frontend", "batch_size", "seed"]
    # the recipe's values filled in, the file's own kept; each replicate its own split
    assert (params["recipe"], params["lr"], params["beta1"], params["epochs"]) == \
        ("as_ran", 4e-4, 0.95, 2)
    assert [exp.params(p)["data.split_seed"] for p in grid] == [p["seed"] for p in grid]


def test_recipe_and_its_overrides(tmp_path: Path) -> None:
    text = GOOD.replace("epochs = 2", 'recipe = "as_written"\nlr = 3e-3\ntest_weights = "best"')
    text = text.replace('split = "random"', 'split = "random"\nsplit_seed = 7')
    exp = load_experiment(write(tmp_path, text))
    params = exp.params(exp.grid()[-1])
    assert (params["recipe"], params["schedule"], params["lr"], params["test_weights"],
            params["epochs"], params["data.split_seed"]) == \
        ("as_written", "one_cycle", 3e-3, "best", 50, 7)
    for bad, message in (('recipe = "as_planned"', "unknown recipe 'as_planned'; known: "
                                                   "as_ran, as_written"),
                         ('schedule = "cosine"', "schedule='cosine': use one of"),
                         ('test_weights = 1', "1 is not a str"),
                         ("[report]\nmargin = 2", "[report] margin: 2: an accuracy"),
                         ("[report]\nmargin = 0.01", "")):
        text = GOOD + bad if "report" in bad else GOOD.replace("epochs = 2", bad)
        if not message:
            assert load_experiment(write(tmp_path, text)).margin == 0.01
            continue
        with pytest.raises(HarnessError, match=re.escape(message)):
            load_experiment(write(tmp_path, text))
    text = GOOD.replace("seeds = [0, 1]", "seeds = [0, 1]\nworkers = 0")
    with pytest.raises(HarnessError, match=re.escape("[search] workers: 0: a positive")):
        load_experiment(write(tmp_path, text))
    assert load_experiment(write(tmp_path, GOOD)).workers == 1


def test_a_key_added_with_a_default_does_not_fork_the_study(tmp_path: Path) -> None:
    """The study's identity is what the file gives, not the defaults filled in beside it."""
    import dataclasses

    from harness.sweep.plan import SweepPlan

    exp = load_experiment(write(tmp_path, GOOD))
    later = dataclasses.replace(exp, fixed={**exp.fixed, "a_new_key": 1.5})  # a new default
    assert SweepPlan.create(later).fixed_id == SweepPlan.create(exp).fixed_id
    pinned = load_experiment(write(tmp_path, GOOD), {"epochs": 3})
    assert SweepPlan.create(pinned).fixed_id != SweepPlan.create(exp).fixed_id


def test_overrides_pin_keys(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path, GOOD), {"frontend": "complex", "epochs": 1,
                                                  "seed": 5, "data.split": "official",
                                                  "model.width": 0.5, "device": "cpu"})
    assert "frontend" not in exp.space and exp.fixed["frontend"] == "complex"
    assert exp.fixed["epochs"] == 1 and exp.seeds == (5,) and exp.device == "cpu"
    assert exp.fixed["model.width"] == 0.5 and len(exp.grid()) == 2
    with pytest.raises(HarnessError, match="override bogus"):
        load_experiment(write(tmp_path, GOOD), {"bogus": 1})


def test_ranges_suggest_through_optuna(tmp_path: Path) -> None:
    text = GOOD.replace('batch_size = [32, 64]', """batch_size = {low = 16, high = 64}
lr = {low = 1e-4, high = 1e-1, log = true}
"model.dropout" = {low = 0, high = 1}""").replace("[search]", '[search]\nsampler = "tpe"\n'
                                                  "n_trials = 4")
    exp = load_experiment(write(tmp_path, text))
    assert exp.space["batch_size"] == Range(16, 64, integer=True)
    assert not exp.space["model.dropout"].integer  # a float option of a float field
    assert exp.space["lr"].log
    trial = optuna.create_study().ask()
    got = exp.suggest(trial)
    assert isinstance(got["batch_size"], int) and 16 <= got["batch_size"] <= 64
    assert 1e-4 <= got["lr"] <= 1e-1 and got["seed"] in (0, 1)


BAD = [  # (replace this, with that, message fragment)
    ('name = "good"', 'name = "good"\nbogus = 1', "top level: unknown key 'bogus'"),
    ("epochs = 2", "epoch = 2", "[train] epoch: unknown key 'epoch'"),
    ("epochs = 2", 'epochs = "two"', "[train] epochs: 'two' is not a int"),
    ('split = "random"', 'split = "diagonal"', "split 'diagonal'"),
    ('split = "random"', 'splitt = "random"', "[data]: unknown key 'splitt'"),
    ('"magnitude", "complex"', '"magnitude", "compleks"', "unknown front-end 'compleks'"),
    ('model = "seed_cnn"', 'model = "resnet9000"', "unknown model 'resnet9000'"),
    ('"model.width"', '"model.widht"', "model.widht: model 'seed_cnn' has no option 'widht'"),
    ('"model.width" = 0.25', '"model.width" = "wide"',
     "model.width: model 'seed_cnn': option width='wide' must be float (default 1.0)"),
    ("batch_size = [32, 64]", '"frontend.n_fft" = [512, 1024.5]',
     "frontend.n_fft: front-end 'magnitude': option n_fft=1024.5 must be int"),
    ("batch_size = [32, 64]", "batch_size = []", "[search.space] batch_size: an empty list"),
    ("batch_size = [32, 64]", "batch_size = [32, 32]", "listed twice"),
    ("batch_size = [32, 64]", "lr = {low = 0.1, high = 0.01}",
     "[search.space] lr: low (0.1) must be below high (0.01)"),
    ("batch_size = [32, 64]", "lr = {low = 0.0, high = 0.1, log = true}",
     "a log range needs low > 0"),
    ("batch_size = [32, 64]", "lr = {low = 0.001, high = 0.1}",
     "[search.space] lr: a grid needs a list of values"),
    ("batch_size = [32, 64]", "lr = {low = 0.001, high = 0.1, step = 2}",
     "unknown key 'step'"),
    ("[search]", '[search]\nsampler = "tpe"', "[search] n_trials: tpe needs a positive"),
    ("[search]", '[search]\nsampler = "bayes"', "[search] sampler: 'bayes'"),
    ("[search]", '[search]\npruner = "always"', "[search] pruner: 'always'"),
    ("[search]", "[search]\nn_trials = 3", "a grid runs every point"),
    ("seeds = [0, 1]", "seeds = []", "[search] seeds: must be a non-empty list"),
    ("epochs = 2", "epochs = 0", "[train]: epochs=0: expected an integer >= 1"),
    ("batch_size = [32, 64]", "batch_size = [32, 0]", "[search.space] batch_size: batch_size=0"),
    ("batch_size = [32, 64]", "seed = [1, 2]", "seeds are not searched"),
    ("epochs = 2", "epochs = 2\nbatch_size = 8", "batch_size: also fixed in [train]"),
    ('"model.width" = 0.25', "model.width = 0.25", "a dotted option key needs quotes"),
    ('model = "seed_cnn"', "", "[train] model: missing"),
    ('split = "random"', 'dataset = "imagenet"', "unknown data set 'imagenet'"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD)
def test_bad_files_fail_naming_file_and_key(tmp_path: Path, old: str, new: str,
                                            message: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(HarnessError) as info:
        load_experiment(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_unknown_experiment_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(HarnessError, match=r"no experiment file 'nope'.*quick"):
        load_experiment("nope")


def test_impossible_pairings_are_skipped_by_a_grid(tmp_path: Path) -> None:
    text = GOOD.replace('model = "seed_cnn"\n"model.width" = 0.25\n', "").replace(
        'frontend = ["magnitude", "complex"]',
        'frontend = ["complex", "waveform"]\nmodel = ["seed_cnn", "m5"]')
    exp = check_pipelines(load_experiment(write(tmp_path, text)))
    pairs = {(p["frontend"], p["model"]) for p in exp.grid()}
    assert pairs == {("complex", "seed_cnn"), ("waveform", "m5")}
    assert {(fe, m) for fe, m, _ in exp.excluded} == {("complex", "m5"),
                                                       ("waveform", "seed_cnn")}
    only_bad = GOOD.replace('frontend = ["magnitude", "complex"]', 'frontend = ["waveform"]')
    with pytest.raises(HarnessError, match="waveform \\+ seed_cnn"):
        check_pipelines(load_experiment(write(tmp_path, only_bad, "bad.toml")))
