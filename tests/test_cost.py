"""Cost of every entry (harness.models.cost): MACs with FFTs, params, latency, `harness list`
columns, and the per-trial cost metrics a sweep logs to MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_sweep import new_tracking_uri, runs, tiny_experiment

from harness.cli import main
from harness.frontends import create_frontend
from harness.models import build_pipeline, create_model
from harness.models.cost import cost, count_macs, frontend_cost, latency_ms, log_cost
from harness.report import pareto_front
from harness.tracking.runs import Tracker

torch.set_num_threads(1)


def test_fft_and_conv_macs_on_one_scale() -> None:
    """complex: 101 real FFTs of 512 points at 2.5 n log2 n FLOPs; learned_stft: the same
    transform as a strided conv, 514 kernels x 512 taps x 101 frames."""
    assert count_macs(create_frontend("complex"), (16000,)) == 101 * int(2.5 * 512 * 9 / 2)
    assert count_macs(create_frontend("learned_stft"), (16000,)) == 514 * 512 * 101
    assert count_macs(create_frontend("waveform"), (16000,)) == 0
    model = create_model("kwt", in_channels=1, n_classes=12)  # attention matmuls counted
    blocks = sum(p.numel() for n, p in model.blocks.named_parameters()
                 if n.endswith("weight") and p.dim() == 2)
    linear = 40 * 64 * 98 + blocks * 99 + 64 * 12  # 98 frames in, 99 tokens, 1 class token
    attention = 12 * 2 * 99 * 99 * 64  # scores and weighted sum, 12 layers
    assert count_macs(model, (1, 40, 98)) == linear + attention


def test_pipeline_cost_is_the_sum_of_its_parts() -> None:
    fe, model = build_pipeline("learned_stft", "res8", 12, model_opts=dict(n_maps=8))
    fe_cost = frontend_cost(fe)
    total = cost(fe, model, latency=True)
    assert total.frontend_params == fe_cost.params == 514 * 512
    assert total.params == fe_cost.params + sum(p.numel() for p in model.parameters())
    assert total.macs == fe_cost.macs + count_macs(model, fe.output_shape())
    assert total.latency_ms is not None and total.latency_ms > 0
    assert fe_cost.latency_ms is None  # measured only when asked
    assert torch.get_num_threads() == 1  # latency_ms restores the thread count
    assert latency_ms(fe, (16000,)) > 0


@pytest.mark.filterwarnings("ignore:At least one mel filterbank")
def test_list_json_has_cost_columns(capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table's headers on one line
    assert main(["list", "frontends", "--json"]) == 0
    fes = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("pcen", "sincnet", "leaf", "learned_stft"):
        assert fes[name]["learns"] and fes[name]["params"] > 0 and fes[name]["macs"] > 0
    assert fes["complex"]["params"] == 0 and fes["complex"]["latency_ms"] is None
    assert main(["list", "models", "--json"]) == 0
    models = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("bc_resnet", "matchboxnet", "kwt"):
        assert models[name]["params"] > 0 and models[name]["macs"] > 0, name
    assert models["bc_resnet"]["frontend"] == "log_mel"
    assert models["bc_resnet"]["input_shape"] == [1, 40, 101]
    assert models["matchboxnet"]["frontend_opts"] == {"n_mfcc": 64, "n_mels": 64}
    assert main(["list", "models", "m5", "--json", "--latency"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["latency_ms"] > 0
    assert main(["list", "frontends", "complex", "--latency"]) == 0
    assert "ms (CPU, b=1)" in capsys.readouterr().out


def test_log_cost_writes_metrics_to_the_trial_run(tmp_path: Path) -> None:
    uri = new_tracking_uri(tmp_path)
    tracker = Tracker("cost", uri)
    run = tracker.trial(0, {"frontend": "pcen", "model": "res8"})
    fe, model = build_pipeline("pcen", "res8", 4, frontend_opts=dict(n_mels=40),
                               model_opts=dict(n_maps=8))
    logged = log_cost(run, fe, model)
    metrics = tracker.client.get_run(run.run_id).data.metrics
    assert metrics["params"] == logged.params and metrics["frontend_params"] == 3 * 40
    assert metrics["macs"] == logged.macs > 0 and metrics["latency_ms"] > 0


@pytest.mark.slow
def test_sweep_logs_each_trials_cost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A learnable front-end in a real sweep: its parameters count in the trial's params."""
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=1, seeds="[0]",
                          space='frontend = ["learned_stft", "complex"]')
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", uri]) == 0
    _, children = runs(uri)
    by_fe = {r.data.params["frontend"]: r.data.metrics for r in children}
    assert set(by_fe) == {"learned_stft", "complex"}
    assert by_fe["learned_stft"]["params"] - by_fe["complex"]["params"] == 514 * 512
    assert by_fe["learned_stft"]["frontend_macs"] > by_fe["complex"]["frontend_macs"] > 0
    assert all(m["latency_ms"] > 0 and m["macs"] > 0 for m in by_fe.values())

    out = tmp_path / "report"
    assert main(["report", "tiny", "--tracking-uri", uri, "--out", str(out)]) == 0
    table = pd.read_csv(out / "comparison.csv").set_index("frontend")
    assert table.loc["learned_stft", "params"] == by_fe["learned_stft"]["params"]
    assert table.loc["complex", "macs"] < table.loc["learned_stft", "macs"]
    assert table["pareto"].any() and (table["latency_ms"] > 0).all()
    assert (out / "figures" / "accuracy_vs_macs.png").stat().st_size > 0
    md = (out / "report.md").read_text()
    assert "MACs" in md and "Pareto" in md and "accuracy_vs_macs" in md


def test_pareto_front() -> None:
    macs = pd.Series([1.0, 2.0, 3.0, 2.0, float("nan"), 1.0])
    acc = pd.Series([0.5, 0.7, 0.6, 0.7, 0.9, 0.4])
    # (3, 0.6) is beaten by (2, 0.7); (1, 0.4) by (1, 0.5); the two (2, 0.7) tie, both kept
    assert pareto_front(macs, acc) == [True, True, False, True, False, False]
