"""The streaming evaluation end to end: a sweep with [stream] on, the report's section, and
`harness stream RUN_ID` on a pipeline logged as a sweep logs it (harness.tracking.logged_model), all
against a real SQLite MLflow store and real WAV folders."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import make_speech_commands
from mlflow.tracking import MlflowClient
from test_sweep import new_tracking_uri, sweep_tiny

from harness.cli import main
from harness.data import load_splits
from harness.models import build_pipeline
from harness.models.classifier import Classifier
from harness.tracking.logged_model import log_pipeline
from harness.tracking.runs import Tracker
from harness.training.config import TrainConfig
from harness.training.loop import fit

pytestmark = pytest.mark.slow
STREAM = "\n[stream]\nenabled = true\nseconds = 30\nhop_ms = 200\ndensity = 8\n"
METRICS = ("stream_frr_at_1fa_h", "stream_frr_at_0.5fa_h", "stream_det_auc", "stream_hours",
           "stream_clip_macs", "stream_macs_per_audio_s", "stream_cpu_s_per_audio_s",
           "stream_audio_s_per_s")


def test_sweep_with_stream_logs_metrics_figure_and_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    uri, children = sweep_tiny(tmp_path, STREAM)
    client = MlflowClient(uri)
    assert len(children) == 2
    for run in children:
        assert set(METRICS) <= set(run.data.metrics)
        assert 0 <= run.data.metrics["stream_frr_at_1fa_h"] <= 1
        assert run.data.metrics["stream_hours"] == pytest.approx(30 / 3600)
        # 5 windows a second at a 200 ms hop: the stream costs 5 clips a second
        assert run.data.metrics["stream_macs_per_audio_s"] == pytest.approx(
            5 * run.data.metrics["stream_clip_macs"])
        assert json.loads(run.data.tags["harness.stream"])["hop_ms"] == 200
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"stream_det.csv", "stream_keywords.csv", "stream_det.png"} <= names
    out = tmp_path / "report"
    assert main(["report", "tiny", "--tracking-uri", uri, "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Streaming: false rejects at a false-alarm budget" in md
    assert "complex vs magnitude: no verdict: fewer than 5 pairs" in md
    assert (out / "figures" / "stream_det.png").stat().st_size > 1000
    table = pd.read_csv(out / "stream.csv")
    assert set(table["config"]) == {"complex", "magnitude"} and (table["n"] == 1).all()


def test_stream_command_scores_a_logged_model(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    uri = new_tracking_uri(tmp_path)
    root = make_speech_commands(tmp_path / "sc", words=("no", "on", "yes"), speakers=5)
    data = load_splits(None, root)
    torch.manual_seed(0)
    frontend, model = build_pipeline("log_power", "seed_cnn", len(data.labels),
                                     {"hop_length": 400}, {"width": 0.125, "padding": 1})
    for _ in fit(model, frontend, data.train, data.valid, TrainConfig(epochs=1, batch_size=8)):
        pass
    tracker = Tracker("logged", uri)
    run = tracker.trial(0, {"frontend": "log_power", "model": "seed_cnn", "data.dataset": None,
                            "data.root": str(root), "data.split": "official",
                            "data.split_seed": None})
    log_pipeline(run.client, run.run_id, Classifier(frontend, model), data.labels)  # as a trial
    run.finish("COMPLETE")
    capsys.readouterr()
    assert main(["stream", run.run_id, "--tracking-uri", uri, "--set", "seconds=30",
                 "--set", "density=8", "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["seconds"] == 30 and 0 <= out["stream_frr_at_1fa_h"] <= 1
    logged = MlflowClient(uri).get_run(run.run_id).data
    assert logged.metrics["stream_det_auc"] == pytest.approx(out["stream_det_auc"])
    assert json.loads(logged.tags["harness.stream"])["density"] == 8


def test_stream_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    uri = new_tracking_uri(tmp_path)
    run = Tracker("bare", uri).trial(0, {"frontend": "complex"})
    assert main(["stream", run.run_id, "--tracking-uri", uri]) == 2
    assert "logged no model" in capsys.readouterr().err
    assert main(["stream", "0" * 32, "--tracking-uri", uri]) == 2
    assert "no run '000" in capsys.readouterr().err
    assert main(["stream", run.run_id, "--tracking-uri", uri, "--set", "hop=3"]) == 2
    assert "--set: unknown key 'hop'" in capsys.readouterr().err
