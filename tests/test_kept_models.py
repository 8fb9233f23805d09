"""[tracking] models = "best": after a real tiny sweep only the best trial keeps its weights."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from test_sweep import load_study, new_tracking_uri, runs, tiny_experiment

from harness.cli import main
from harness.errors import HarnessError
from harness.sweep.experiment_file import load_experiment
from harness.tracking.logged_model import DROPPED, load_pipeline, model_id_of


def with_tracking(path: Path, models: str) -> Path:
    path.write_text(path.read_text() + f'\n[tracking]\nmodels = "{models}"\n')
    return path


def test_models_option_is_checked(tmp_path: Path) -> None:
    exp = tiny_experiment(tmp_path)
    assert load_experiment(str(exp)).models == "all"
    assert load_experiment(str(with_tracking(exp, "none"))).models == "none"
    bad = with_tracking(tiny_experiment(tmp_path, name="bad"), "some")
    with pytest.raises(HarnessError, match=r"\[tracking\] models: 'some': one of all, best"):
        load_experiment(str(bad))


@pytest.mark.slow
def test_only_the_best_trial_keeps_its_model(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    uri = new_tracking_uri(tmp_path)
    exp = with_tracking(tiny_experiment(tmp_path, epochs=1, seeds="[0]"), "best")
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", uri]) == 0
    trials = load_study(tmp_path).trials
    best = max((t for t in trials if t.state.name == "COMPLETE"),
               key=lambda t: (t.value, -t.number))
    keep = best.user_attrs["mlflow_run_id"]
    client = MlflowClient(uri)
    _, children = runs(uri)
    assert len(children) == 2
    saved = [str(p) for p in (tmp_path / "mlartifacts").rglob("MLmodel")]  # files left
    for run in children:
        rid, model_id = run.info.run_id, model_id_of(client, run.info.run_id)
        assert model_id is not None  # logged at the trial's end, then deleted unless best
        if rid == keep:
            assert DROPPED not in run.data.tags
            assert load_pipeline(client, rid).labels == ["no", "on", "yes"]
            assert [p for p in saved if model_id in p]
            continue
        assert f"trial {best.number} validated best" in run.data.tags[DROPPED]
        assert not [p for p in saved if model_id in p]
        with pytest.raises(MlflowException):
            client.get_logged_model(model_id)  # marked deleted
        with pytest.raises(HarnessError, match="model was deleted"):
            load_pipeline(client, rid)
