"""The `[data]` keys have one home (harness.data.spec.DataSpec): the experiment file, the trial
params, MLflow's text of them and load_splits agree, and a new key is a change to 2 files."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_speech_commands

from harness.data import load_splits
from harness.data.spec import DataSpec
from harness.errors import HarnessError
from harness.sweep.experiment_file import load_experiment

ROOT = Path(__file__).resolve().parents[1]


def test_data_keys_live_in_one_place(tmp_path: Path) -> None:
    keys = DataSpec.key_names()
    assert set(keys) <= set(inspect.signature(load_splits).parameters)  # same names there
    exp = tmp_path / "exp.toml"
    exp.write_text('[data]\nsplit = "random"\nshards = 2\n[train]\nmodel = "seed_cnn"\n'
                   'frontend = "complex"\n')
    with pytest.raises(HarnessError, match=f"unknown key 'shards'; known: {', '.join(keys)}$"):
        load_experiment(exp)
    exp.write_text(exp.read_text().replace("shards = 2\n", ""))
    params = load_experiment(exp).params({"seed": 3})
    assert {k for k in params if k.startswith("data.")} == {f"data.{k}" for k in keys}
    logged = {k: str(v) for k, v in params.items()}  # what MLflow gives back: text
    assert DataSpec.from_params(logged) == DataSpec(split="random", split_seed=3)
    assert DataSpec.from_params({}) == DataSpec()  # a run from before a key: its default
    assert DataSpec(split_seed=None).load_args()["split_seed"] == 0


# The whole change that adds a `[data] shards` key (docs aside): (file, text, replacement).
# `folds` (speaker_folds' K) was the first real key added this way: spec.py, load_splits, docs;
# `train_fraction` the second (its draw is harness.data.speakers.fraction_rows).
NEW_KEY = (
    ("harness/data/spec.py", "    task: str = DEFAULT_TASK ",
     "    shards: int = 1\n    task: str = DEFAULT_TASK "),
    ("harness/data/__init__.py", "train_fraction: float = 1.0) -> SplitData:",
     "train_fraction: float = 1.0, shards: int = 1) -> SplitData:"),
    ("harness/data/__init__.py", "    _check(split, task, folds)  # before any download",
     "    print('load_splits got shards', shards)\n"
     "    _check(split, task, folds)  # before any download"),
)
FLOW = """
import sys
from harness.data.spec import DataSpec
from harness.errors import HarnessError
from harness.sweep.experiment_file import load_experiment

params = load_experiment(sys.argv[1]).params({"seed": 0})   # the trial's params
logged = {k: str(v) for k, v in params.items()}              # as MLflow holds them
DataSpec.from_params(logged).load()                          # what worker, stream, evaluate do
try:
    load_experiment(sys.argv[2])
except HarnessError as exc:
    print(exc)
"""


@pytest.mark.slow
def test_a_new_data_key_flows_from_the_toml_to_load_splits(tmp_path: Path) -> None:
    """Adding `[data] task` touched 12 files; a key now touches DataSpec and load_splits."""
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "harness", copy / "harness",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name, text, new in NEW_KEY:
        path = copy / name
        source = path.read_text()
        assert source.count(text) == 1, f"{name} changed: update NEW_KEY to add a key there"
        path.write_text(source.replace(text, new))
    assert len({name for name, _, _ in NEW_KEY}) == 2
    root = make_speech_commands(tmp_path / "sc", speakers=5, clips_per_speaker=1)
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(f'[data]\nroot = "{root}"\nshards = 5\n[train]\nmodel = "seed_cnn"\n'
                    'frontend = "complex"\n')
    bad.write_text(good.read_text().replace("shards = 5", 'shards = "five"'))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    out = subprocess.run([sys.executable, "-c", FLOW, str(good), str(bad)], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "load_splits got shards 5" in out.stdout.splitlines()
    assert "bad.toml: [data] shards: shards 'five': expected int" in out.stdout
