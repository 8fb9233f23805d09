"""Sweeps in this process against a real journal file and a real SQLite MLflow store.

The helpers here (tiny data, a tiny experiment, an MLflow store, reading a study back)
are shared with test_sweep_processes.py and test_postgres.py.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from conftest import make_speech_commands
from mlflow.tracking import MlflowClient
from optuna.storages.journal import JournalFileBackend, JournalStorage

from harness.cli import main
from harness.tracking.runs import Tracker

REPO = Path(__file__).resolve().parents[1]
EPOCH_METRICS = ("train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "beta1",
                 "train_samples_per_s", "eval_samples_per_s")
FINAL_METRICS = ("test_loss", "test_acc", "best_epoch", "best_valid_acc",
                 "frontend_samples_per_s", "peak_memory_mb", "tested_epoch", "epochs_run",
                 "converged", "train_clips")
TRIAL_TAGS = ("state", "fail_reason", "trial_number", "device", "torch_version",
              "torchaudio_version", "git_commit", "experiment_file")

pytestmark = pytest.mark.slow


def tiny_experiment(folder: Path, *, name: str = "tiny", epochs: int = 2,
                    space: str = 'frontend = ["magnitude", "complex"]',
                    search: str = "", seeds: str = "[0, 1]") -> Path:
    """A 30-clip, 3-word folder and an experiment over it with a 1/8-width seed CNN
    (hop 400: 41 frames a clip, a third of the default's work, so padding 1) trained
    with one-cycle to 1e-2."""
    root = make_speech_commands(folder / "sc", words=("no", "on", "yes"), speakers=5)
    path = folder / f"{name}.toml"
    path.write_text(f"""
name = "{name}"
[data]
root = "{root}"
[train]
model = "seed_cnn"
"model.width" = 0.125
"model.padding" = 1
"frontend.hop_length" = 400
recipe = "as_written"
epochs = {epochs}
batch_size = 8
[search]
seeds = {seeds}
{search}
[search.space]
{space}
""")
    return path


def sweep_tiny(folder: Path, extra: str, epochs: int = 1) -> tuple[str, list[Any]]:
    """A 1-seed tiny_experiment with `extra` TOML appended ([stream], [export]), swept in a
    fresh store in `folder` (the caller's cwd: the journal goes there); returns (the
    tracking URI, its trial runs)."""
    uri = new_tracking_uri(folder)
    exp = tiny_experiment(folder, epochs=epochs, seeds="[0]")
    exp.write_text(exp.read_text() + extra)
    assert main(["sweep", str(exp), "--tracking-uri", uri]) == 0
    return uri, runs(uri)[1]


@functools.cache
def _empty_store() -> Path:
    """An empty MLflow SQLite store, made once per test session: its tables take seconds."""
    folder = Path(tempfile.mkdtemp(prefix="harness-mlflow-"))
    atexit.register(shutil.rmtree, folder, True)
    MlflowClient(tracking_uri=f"sqlite:///{folder / 'empty.db'}").search_experiments()
    return folder / "empty.db"


def new_tracking_uri(folder: Path) -> str:
    """A fresh SQLite MLflow store in `folder` (a copy of the empty one)."""
    shutil.copy(_empty_store(), folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return new_tracking_uri(tmp_path)


def load_study(folder: Path, name: str = "tiny", storage: Any = None) -> optuna.Study:
    storage = storage or JournalStorage(JournalFileBackend(
        str(folder / "runs" / "optuna" / f"{name}.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def complete_params(study: optuna.Study) -> list[tuple[tuple[str, Any], ...]]:
    """The params of the COMPLETE trials, one sorted tuple each."""
    return [tuple(sorted(t.params.items())) for t in study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]


def runs(uri: str, name: str = "tiny") -> tuple[list[Any], list[Any]]:
    """(parent runs, child runs) of the MLflow experiment `name`."""
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name)
    found = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in found if r.data.tags.get("harness.role") == "study"]
    children = [r for r in found if r.data.tags.get("harness.role") == "trial"]
    return parents, children


def test_sweep_logs_every_trial_and_resumes(tmp_path: Path, tracking_uri: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    exp = tiny_experiment(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri, "--trials", "3"]) == 0
    assert len(complete_params(load_study(tmp_path))) == 3  # --trials: this many more
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri]) == 0  # the rest
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri]) == 0  # nothing left

    study = load_study(tmp_path)
    assert len(study.trials) == 4
    params = complete_params(study)
    assert len(params) == 4 and len(set(params)) == 4
    assert {dict(p)["seed"] for p in params} == {0, 1}

    parents, children = runs(tracking_uri)
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert json.loads(parent.data.tags["harness.searched"]) == ["frontend", "seed"]
    assert parent.info.status == "FINISHED"  # nothing left to run
    client = MlflowClient(tracking_uri=tracking_uri)
    run_ids = {t.user_attrs["mlflow_run_id"] for t in study.trials}
    assert run_ids == {r.info.run_id for r in children}
    for run in children:
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED" and tags["state"] == "COMPLETE"
        assert all(tags.get(k) is not None for k in TRIAL_TAGS)
        assert tags["device"] == "cpu" and tags["experiment_file"] == str(exp)
        assert {"frontend", "model", "seed", "recipe", "epochs", "batch_size", "lr", "schedule",
                "beta1", "beta2", "patience", "test_weights", "model.width", "data.dataset",
                "data.split", "data.root"} <= set(params)
        assert (params["recipe"], params["lr"], params["test_weights"]) == \
            ("as_written", "0.01", "last")
        assert metrics["tested_epoch"] == metrics["epochs_run"] == 2
        assert tags["stop_reason"] in ("epoch_cap", "early_stopping")
        assert params["model.width"] == "0.125" and params["batch_size"] == "8"
        assert set(FINAL_METRICS) <= set(metrics)
        for key in EPOCH_METRICS:
            history = client.get_metric_history(run.info.run_id, key)
            assert sorted(m.step for m in history) == [1, 2], key
        folder = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "a")))
        confusion = (folder / "confusion_matrix.csv").read_text().splitlines()
        assert confusion[0] == ",no,on,yes" and len(confusion) == 4
        assert (folder / "epochs.csv").read_text().count("\n") == 3  # header + 2 epochs
        shutil.rmtree(folder)


def test_failing_trial_is_recorded_and_the_sweep_goes_on(
        tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # n_fft 8 is shorter than the 480-sample window: the STFT raises in trial 1 and 3.
    exp = tiny_experiment(tmp_path, epochs=1, space='frontend = ["complex"]\n'
                          '"frontend.n_fft" = [512, 8]')
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri]) == 0
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri]) == 0  # no re-runs

    study = load_study(tmp_path)
    states: dict[int, set[str]] = {512: set(), 8: set()}
    for t in study.trials:
        states[t.params["frontend.n_fft"]].add(t.state.name)
    assert len(study.trials) == 4 and states == {512: {"COMPLETE"}, 8: {"FAIL"}}
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert all("Error" in t.user_attrs["fail_reason"] for t in failed)

    _, children = runs(tracking_uri)
    by_state = sorted((r.data.tags["state"], r.info.status) for r in children)
    assert by_state == [("COMPLETE", "FINISHED")] * 2 + [("FAIL", "FAILED")] * 2
    client = MlflowClient(tracking_uri=tracking_uri)
    for run in (r for r in children if r.data.tags["state"] == "FAIL"):
        # the whole traceback kept as an artifact; its last line is the reason
        path = client.download_artifacts(run.info.run_id, "traceback.txt", str(tmp_path))
        lines = Path(path).read_text().strip().splitlines()
        assert lines[0].startswith("Traceback") and "harness/frontends" in "".join(lines)
        assert lines[-1].endswith(run.data.tags["fail_reason"])


def test_median_pruner_stops_hopeless_trials(
        tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # lr 1e-12 never moves the weights (valid acc stays near 1/3), 1e-2 learns the tones
    # (0.9 or more by epoch 2). The grid runs the seeds outermost, so the 5 start-up trials
    # the median pruner waits for hold both rates; after them a 1e-12 trial sits below the
    # median at epoch 2 and is pruned.
    root = make_speech_commands(tmp_path / "sc", words=("no", "on", "yes"), speakers=10,
                                clips_per_speaker=8)
    exp = tmp_path / "tiny.toml"
    exp.write_text(f"""
name = "tiny"
[data]
root = "{root}"
[train]
frontend = "log_power"
"frontend.hop_length" = 400
model = "seed_cnn"
"model.width" = 0.125
"model.padding" = 1
"model.dropout" = 0.0
"model.conv_dropout" = 0.0
recipe = "as_written"
epochs = 3
batch_size = 8
[search]
pruner = "median"
seeds = [0, 1, 2, 3, 4]
[search.space]
lr = [1e-2, 1e-12]
""")
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri]) == 0

    study = load_study(tmp_path)
    states = {(t.params["seed"], t.params["lr"]): t.state.name for t in study.trials}
    assert len(states) == 10
    startup = [(0, 1e-2), (0, 1e-12), (1, 1e-2), (1, 1e-12), (2, 1e-2)]
    assert all(states[key] == "COMPLETE" for key in startup)
    # Every later frozen trial is pruned. A learning one may be too when its epoch-2
    # accuracy falls below the median of the others: that is the median rule, not a bug.
    assert all(states[(seed, 1e-12)] == "PRUNED" for seed in (2, 3, 4))
    pruned = [key for key, state in states.items() if state == "PRUNED"]

    _, children = runs(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    killed = [r for r in children if r.data.tags["state"] == "PRUNED"]
    assert len(killed) == len(pruned) and all(r.info.status == "KILLED" for r in killed)
    for run in killed:  # its epochs up to the one it was pruned at are logged, then nothing
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "valid_acc")]
        assert steps == [1, 2] and "test_acc" not in run.data.metrics


def test_random_sampler_pairs_seeds(tmp_path: Path, tracking_uri: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    exp = tiny_experiment(tmp_path, epochs=1, search='sampler = "random"\nn_trials = 2',
                          space='frontend = ["complex"]\n'
                                'lr = {low = 1e-3, high = 1e-2, log = true}')
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri]) == 0
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri, "--trials", "2"]) == 0

    seeds_by_lr: dict[float, set[int]] = {}
    for p in map(dict, complete_params(load_study(tmp_path))):
        seeds_by_lr.setdefault(p["lr"], set()).add(p["seed"])
    assert len(seeds_by_lr) == 2  # n_trials 2 = 1 configuration x 2 seeds, then 1 more
    assert all(seeds == {0, 1} for seeds in seeds_by_lr.values())


def test_tracker_api_states_and_parent(tmp_path: Path, tracking_uri: str) -> None:
    tracker = Tracker("api", tracking_uri, searched=["frontend"], experiment_file="x.toml")
    again = Tracker("api", tracking_uri)
    assert again.parent_run_id == tracker.parent_run_id  # found again on resume
    for number, state in enumerate(("COMPLETE", "PRUNED", "FAIL")):
        run = tracker.trial(number, {"frontend": "complex", "model": "seed_cnn", "seed": 0})
        run.log_epoch({"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "valid_loss": 1.1,
                       "valid_acc": 0.4, "lr": 0.01, "train_samples_per_s": 10.0,
                       "eval_samples_per_s": 20.0, "is_best": True})
        if state == "COMPLETE":
            run.log_test(test_loss=0.9, test_acc=0.6, confusion=np.eye(2, dtype=int),
                         labels=["a", "b"], best_epoch=1, best_valid_acc=0.4,
                         frontend_samples_per_s=100.0, peak_memory_mb=50.0,
                         tested_epoch=1, epochs_run=1, stop_reason="epoch_cap",
                         converged=False)
        run.finish(state, "diverged" if state == "FAIL" else "")
    parents, children = runs(tracking_uri, "api")
    assert len(parents) == 1
    got = {r.data.tags["state"]: r.info.status for r in children}
    assert got == {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
    artifact_uri = children[0].info.artifact_uri
    assert artifact_uri.startswith((tmp_path / "mlartifacts" / "api").as_uri())


def test_the_reference_study_runs_as_it_ran(tmp_path: Path, tracking_uri: str,
                                             harness_data_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """complex_vs_magnitude.toml, on a tiny v0.01-layout folder where the download puts it:
    Adam at a constant 4e-4 with beta1 0.95 every epoch, the last weights tested, padding 0,
    a random split drawn per replicate."""
    from harness.data.speech_commands import WORDS_V001

    make_speech_commands(harness_data_dir / "SpeechCommands" / "speech_commands_v0.01",
                         words=WORDS_V001, speakers=5, clips_per_speaker=1)
    monkeypatch.chdir(tmp_path)
    exp = REPO / "experiments" / "complex_vs_magnitude.toml"
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri, "--trials", "2",
                 "--epochs", "2", "--set", "model.width=0.125", "--set", "batch_size=16",
                 "--set", "frontend=complex"]) == 0
    _, children = runs(tracking_uri, "complex_vs_magnitude")
    assert len(children) == 2
    client = MlflowClient(tracking_uri=tracking_uri)
    for run in children:
        params = run.data.params
        assert (params["recipe"], params["lr"], params["beta1"], params["beta2"],
                params["schedule"], params["test_weights"]) == \
            ("as_ran", "0.0004", "0.95", "0.999", "constant", "last")
        assert params["data.split"] == "random"
        assert params["data.split_seed"] == params["seed"]  # each replicate its own split
        for key, value in (("lr", 4e-4), ("beta1", 0.95)):
            history = client.get_metric_history(run.info.run_id, key)
            assert [m.step for m in history] == [1, 2]
            assert all(m.value == pytest.approx(value) for m in history), key
        assert run.data.metrics["tested_epoch"] == 2  # the last epoch's weights
        assert "model.padding" not in params or params["model.padding"] == "0"
    seeds = sorted(r.data.params["seed"] for r in children)
    assert seeds == ["0", "1"]
