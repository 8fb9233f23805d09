"""harness.evaluation.robustness: SNR mixing, fixed noise draws, sweep metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from test_sweep import new_tracking_uri, runs, tiny_experiment
from test_train import TinyCNN, TinyFrontend, tones

from harness.cli import main
from harness.errors import HarnessError
from harness.evaluation.robustness import metric_names, mix_at_snr, noise_picks, robustness
from harness.training.config import TrainConfig
from harness.training.loop import evaluate, fit


def test_mix_reaches_the_snr_and_leaves_silence_alone() -> None:
    g = torch.Generator().manual_seed(0)
    x = 0.2 * torch.randn(4, 16000, generator=g)
    x[3] = 0  # digital silence: no SNR to meet
    noise = 0.05 * torch.randn(4, 16000, generator=g)
    for db in (20.0, 5.0, 0.0):
        added = mix_at_snr(x, noise, db) - x
        snr = 10 * torch.log10(x[:3].pow(2).mean(1) / added[:3].pow(2).mean(1))
        torch.testing.assert_close(snr, torch.full((3,), db), atol=0.01, rtol=0)
        assert torch.equal(mix_at_snr(x, noise, db)[3], x[3])


def test_noise_picks_are_fixed_and_skip_silent_windows() -> None:
    noise = np.ones((5, 100), np.int16)
    noise[[1, 3]] = 0
    picks = noise_picks(noise, 200)
    assert np.array_equal(picks, noise_picks(noise, 200))
    assert set(picks) == {0, 2, 4}
    with pytest.raises(HarnessError, match="all silent"):
        noise_picks(np.zeros((3, 100), np.int16), 10)


def test_no_shift_and_no_noise_is_the_plain_test_accuracy() -> None:
    cfg = TrainConfig(epochs=2, batch_size=32, device="cpu")
    torch.manual_seed(0)
    model, frontend = TinyCNN(), TinyFrontend()
    list(fit(model, frontend, tones(96, 0), tones(32, 1), cfg))
    test = tones(50, 2)
    noise = (np.random.default_rng(0).standard_normal((3, 16000)) * 1000).astype(np.int16)
    plain = evaluate(model, frontend, test, cfg).acc
    got = robustness(model, frontend, test, noise, cfg, shifts_ms=(0,), snrs_db=(300,))
    assert got == pytest.approx({"robust_shift_0ms_acc": plain, "robust_snr_300db_acc": plain})
    full = robustness(model, frontend, test, noise, cfg)
    assert list(full) == metric_names() and all(0 <= v <= 1 for v in full.values())
    assert full == robustness(model, frontend, test, noise, cfg)  # fixed seed: repeatable
    assert "robust_shift_-200ms_acc" in full and "robust_snr_0db_acc" in full


@pytest.mark.slow
def test_sweep_logs_shift_and_snr_metrics(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    tracking_uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=1, space='frontend = ["complex"]', seeds="[0]")
    text = exp.read_text().replace('recipe = "as_written"',
                                   'recipe = "as_written"\nrobustness = true\nshift_ms = 100.0'
                                   '\nnoise_prob = 0.8\nfreq_masks = 1')
    exp.write_text(text)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri]) == 0
    _, (child,) = runs(tracking_uri)
    assert child.data.tags["state"] == "COMPLETE", child.data.tags.get("fail_reason")
    metrics = child.data.metrics
    assert set(metric_names()) <= set(metrics)
    shifts = [k for k in metrics if k.startswith("robust_shift_")]
    snrs = [k for k in metrics if k.startswith("robust_snr_")]
    assert len(shifts) >= 4 and len(snrs) >= 4
    params = child.data.params
    assert (params["robustness"], params["shift_ms"], params["noise_prob"]) == \
        ("True", "100.0", "0.8")
    history = MlflowClient(tracking_uri).get_metric_history(child.info.run_id,
                                                            "robust_snr_0db_acc")
    assert [m.step for m in history] == [0]
