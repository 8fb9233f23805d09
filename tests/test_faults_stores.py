"""Optuna's journal and MLflow's store broken or lost: recovered where possible, never a
grid point logged twice, and the sweep and the report say when the two disagree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from test_sweep import load_study, new_tracking_uri, runs, tiny_experiment

from harness.cli import main
from harness.errors import HarnessError
from harness.sweep.stores import repair_journal

pytestmark = pytest.mark.slow


@pytest.fixture
def swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A finished 2-trial grid (1 epoch): the experiment file and the MLflow URI."""
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=1, seeds="[0]")
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", uri]) == 0
    return exp, uri


def journal(folder: Path) -> Path:
    return folder / "runs" / "optuna" / "tiny.journal"


def test_journal_cut_mid_line_is_recovered(swept: tuple[Path, str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Before: Optuna skipped the torn line, appended after it, and the merged line made
    the study unreadable for good."""
    exp, uri = swept
    path = journal(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-15])  # the last record cut mid-line
    capsys.readouterr()
    assert main(["sweep", str(exp), "--tracking-uri", uri]) == 0
    err = capsys.readouterr().err
    assert "last record was torn" in err and "Traceback" not in err
    assert list(tmp_path.glob("runs/optuna/tiny.journal.torn-*"))
    assert all(json.loads(line) for line in path.read_bytes().splitlines())
    assert {t.state.name for t in load_study(tmp_path).trials} <= {"COMPLETE", "FAIL"}
    _, children = runs(uri)
    keys = [r.data.tags["harness.key"] for r in children if r.info.status == "FINISHED"]
    assert len(keys) == len(set(keys)) == 2  # no grid point logged twice
    assert main(["sweep", str(exp), "--tracking-uri", uri]) == 0  # and readable since


def test_journal_corrupt_in_the_middle_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.journal"
    path.write_bytes(b'{"op_code": 0}\n{"op_co\n{"op_code": 1}\n')
    with pytest.raises(HarnessError, match=r"x.journal line 2 is corrupt"):
        repair_journal(path)


def test_lost_journal_reruns_nothing_mlflow_finished(swept: tuple[Path, str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the grid ran again and every point was logged twice in MLflow."""
    exp, uri = swept
    journal(tmp_path).unlink()
    capsys.readouterr()
    assert main(["sweep", str(exp), "--tracking-uri", uri]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "2 finished trial(s) found in MLflow" in err and "0 to run" in err
    _, children = runs(uri)
    assert len(children) == 2
    trials = load_study(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert {t.user_attrs["mlflow_run_id"] for t in trials} == {r.info.run_id for r in children}


def test_sweep_and_report_say_when_the_stores_disagree(swept: tuple[Path, str],
                                                       tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """MLflow lost a run (a copied, older store): the report was on a subset, silently."""
    exp, uri = swept
    _, children = runs(uri)
    MlflowClient(tracking_uri=uri).delete_run(children[0].info.run_id)
    capsys.readouterr()
    assert main(["sweep", str(exp), "--tracking-uri", uri]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "Optuna and MLflow disagree: Optuna 2 complete; MLflow 1 complete" in err
    assert "1 Optuna trial(s) without an MLflow run" in err
    assert main(["report", "tiny", "--tracking-uri", uri, "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "warning: Optuna and MLflow disagree" in err
    assert "Optuna and MLflow disagree" in (tmp_path / "r" / "report.md").read_text()
