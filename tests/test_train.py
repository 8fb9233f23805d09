"""Trainer tests with real torch: a tiny front-end and CNN, class-dependent tones in noise."""

from __future__ import annotations

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from conftest import make_speech_commands
from torch import nn

from harness.cli import main
from harness.data import Clips
from harness.errors import HarnessError
from harness.training.checkpoint import load_checkpoint, save_checkpoint
from harness.training.config import TrainConfig
from harness.training.device import resolve_device, seed_everything
from harness.training.loop import DivergedError, EpochResult, evaluate, fit, frontend_throughput
from harness.training.lr_find import lr_range_test, write_lr_find

N_CLASSES = 4
T = 4000  # 0.25 s at 16 kHz: the trainer does not care about the clip length
TIMING = {"epoch_seconds", "train_samples_per_s", "eval_samples_per_s", "peak_memory_mb"}


def tones(n: int, seed: int, shift: int = 0) -> Clips:
    """Class k is a tone at 400 * 2**k Hz with random phase and level, in white noise.

    `shift` relabels clip k as (k + shift) % N_CLASSES: a valid set the model cannot fit.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, n)
    t = np.arange(T) / 16000
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    level = rng.uniform(0.1, 0.5, (n, 1))
    wave = level * np.sin(2 * np.pi * 400 * 2.0 ** labels[:, None] * t + phase)
    wave += rng.normal(0, 0.1, (n, T))
    audio = np.clip(wave * 32768, -32768, 32767).astype(np.int16)
    return Clips(audio, ((labels + shift) % N_CLASSES).astype(np.int64))


class TinyFrontend(nn.Module):
    """(B, T) float32 -> (B, 1, 32, T // 256 + 1): log power STFT, pooled 4x in frequency."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(256))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x, 256, hop_length=256, window=self.window, return_complex=True)
        power = torch.log1p(spec.abs().pow(2))[:, None, :128]
        return nn.functional.avg_pool2d(power, (4, 1))


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout2d(0.1), nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            # Average over time only: the tone's frequency is the class.
            nn.AdaptiveAvgPool2d((16, 1)), nn.Flatten(), nn.Dropout(0.2),
            nn.Linear(16 * 16, N_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class NaNOnCall(TinyCNN):
    """Returns NaN logits from its `bad`-th call in training mode."""

    def __init__(self, bad: int) -> None:
        super().__init__()
        self.bad, self.calls = bad, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.bad:
                out = out * math.nan
        return out


def build(seed: int = 0) -> tuple[TinyFrontend, TinyCNN]:
    seed_everything(seed)
    return TinyFrontend(), TinyCNN()


def cfg(**kw) -> TrainConfig:
    """One-cycle to 1e-2 (learns the tones in 4 epochs), best weights kept: the tests of
    weight keeping read the best; the recipes' own values are tested at the end."""
    return TrainConfig(**{"recipe": "as_written", "lr": 1e-2, "test_weights": "best",
                          "epochs": 4, "batch_size": 32, "device": "cpu", **kw})


def state_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny models gain nothing from threads, and on a shared 2-core machine busy OpenMP
    # threads waiting for each other made these tests up to 30x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data() -> dict[str, Clips]:
    return {"train": tones(256, 1), "valid": tones(64, 2), "test": tones(128, 3),
            "wrong": tones(64, 2, shift=1)}


@pytest.fixture(scope="module")
def trained(data):
    frontend, model = build()
    results = list(fit(model, frontend, data["train"], data["valid"], cfg()))
    return frontend, model, results


def test_learns_far_above_chance(trained, data):
    frontend, model, results = trained
    assert len(results) == 4 and [r.epoch for r in results] == [1, 2, 3, 4]
    assert results[-1].train_loss < results[0].train_loss
    test = evaluate(model, frontend, data["test"], cfg())
    assert test.acc > 0.9  # chance is 0.25
    assert test.confusion.shape == (N_CLASSES, N_CLASSES) and test.confusion.dtype == np.int64
    assert test.confusion.sum() == 128
    assert test.confusion.sum(1).tolist() == np.bincount(data["test"].labels, minlength=4).tolist()
    assert np.trace(test.confusion) / 128 == pytest.approx(test.acc)
    assert not model.training


def test_throughput_figures_present_and_positive(trained, data):
    frontend, _, results = trained
    for r in results:
        assert all(getattr(r, f) > 0 for f in TIMING)
        assert 0 < r.lr <= cfg().lr
    assert frontend_throughput(frontend, data["test"], cfg()) > 0
    assert evaluate(trained[1], frontend, data["test"], cfg()).samples_per_s > 0


def test_best_flags_and_restored_weights(trained, data):
    frontend, model, results = trained
    best = min(results, key=lambda r: r.valid_loss)
    running = [r.valid_loss < min([math.inf] + [p.valid_loss for p in results[:i]])
               for i, r in enumerate(results)]
    assert [r.is_best for r in results] == running
    assert evaluate(model, frontend, data["valid"], cfg()).loss == pytest.approx(best.valid_loss)


def test_early_stopping_stops_and_restores_best_epoch(data):
    # Valid labels are shifted by one class: the better the model fits, the worse valid gets.
    frontend, model = build()
    results = list(fit(model, frontend, data["train"], data["wrong"], cfg(epochs=20, patience=2)))
    best = min(results, key=lambda r: r.valid_loss)
    assert len(results) == best.epoch + 2 < 20
    assert not any(r.is_best for r in results[-2:])
    restored = evaluate(model, frontend, data["wrong"], cfg())
    assert restored.loss == pytest.approx(best.valid_loss, rel=1e-6)
    assert restored.loss < results[-1].valid_loss


def test_caller_stopping_early_leaves_best_weights_without_close(data):
    frontend, model = build()
    epochs = fit(model, frontend, data["train"], data["wrong"], cfg(epochs=6, patience=6))
    seen = [next(epochs) for _ in range(3)]  # a pruner stops here; the generator is not closed
    best = min(seen, key=lambda r: r.valid_loss)
    assert not model.training
    assert evaluate(model, frontend, data["wrong"], cfg()).loss == pytest.approx(best.valid_loss)
    epochs.close()
    assert evaluate(model, frontend, data["wrong"], cfg()).loss == pytest.approx(best.valid_loss)


def test_same_seed_same_results_on_cpu(data):
    def run(seed: int) -> tuple[list[EpochResult], nn.Module]:
        frontend, model = build(seed)
        results = list(fit(model, frontend, data["train"], data["valid"], cfg(epochs=2, seed=seed)))
        return results, model

    def strip(results: list[EpochResult]) -> list[dict]:
        return [{k: v for k, v in dataclasses.asdict(r).items() if k not in TIMING}
                for r in results]

    (a, model_a), (b, model_b), (c, _) = run(0), run(0), run(1)
    assert strip(a) == strip(b)
    assert state_equal(model_a, model_b)
    assert strip(a) != strip(c)


def test_nan_loss_raises_diverged_error_with_epoch_and_step(data):
    frontend, model = TinyFrontend(), NaNOnCall(bad=3)
    with pytest.raises(DivergedError, match=r"epoch 1, step 3 of 8") as info:
        list(fit(model, frontend, data["train"], data["valid"], cfg()))
    assert (info.value.epoch, info.value.step) == (1, 3)


def test_divergence_in_a_later_epoch_leaves_the_best_weights(data):
    seed_everything(0)
    frontend, model = TinyFrontend(), NaNOnCall(bad=2 * 8 + 5)  # epoch 3, step 5
    seen = []
    with pytest.raises(DivergedError, match=r"epoch 3, step 5 of 8"):
        for r in fit(model, frontend, data["train"], data["valid"], cfg()):
            seen.append(r)
    assert len(seen) == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    best = min(seen, key=lambda r: r.valid_loss)
    assert evaluate(model, frontend, data["valid"], cfg()).loss == pytest.approx(best.valid_loss)


def test_huge_lr_diverges(data):
    frontend, model = build()
    with pytest.raises(DivergedError, match="epoch 1"):
        list(fit(model, frontend, data["train"], data["valid"], cfg(lr=1e30)))


def test_checkpoint_round_trips_with_weights_only(trained, data, tmp_path):
    frontend, model, _ = trained
    path = save_checkpoint(frontend, model, tmp_path / "sub" / "best.pt")
    state = torch.load(path, weights_only=True)
    assert set(state) == {"frontend", "model"} and set(state["model"]) == set(model.state_dict())
    fresh_frontend, fresh = build(seed=7)
    load_checkpoint(fresh_frontend, fresh, path)
    assert state_equal(model, fresh)
    assert evaluate(fresh, fresh_frontend, data["test"], cfg()).acc == \
        evaluate(model, frontend, data["test"], cfg()).acc
    old = tmp_path / "model_only.pt"  # the format before front-ends were saved
    torch.save(model.state_dict(), old)
    assert state_equal(model, load_checkpoint(TinyFrontend(), build(seed=8)[1], old))
    with pytest.raises(HarnessError, match="no such file"):
        load_checkpoint(fresh_frontend, fresh, tmp_path / "missing.pt")


def test_checkpoint_keeps_a_learned_frontends_weights(tmp_path):
    """`harness train --checkpoint` with a learned front-end: both halves come back."""
    from harness.models import build_pipeline

    def pipeline() -> tuple[nn.Module, nn.Module]:
        return build_pipeline("pcen", "seed_cnn", N_CLASSES, frontend_opts={"n_mels": 16},
                              model_opts={"width": 0.125, "padding": 1})

    frontend, model = pipeline()
    with torch.no_grad():  # as after training: away from the initial values
        for p in frontend.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = save_checkpoint(frontend, model, tmp_path / "pcen.pt")
    fresh_frontend, fresh = pipeline()
    assert not state_equal(frontend, fresh_frontend)
    load_checkpoint(fresh_frontend, fresh, path)
    assert state_equal(frontend, fresh_frontend) and state_equal(model, fresh)
    x = torch.randn(2, T)
    with torch.no_grad():
        assert torch.equal(model.eval()(frontend(x)), fresh.eval()(fresh_frontend(x)))
    old = tmp_path / "model_only.pt"
    torch.save(model.state_dict(), old)
    with pytest.raises(HarnessError, match="network's weights only"):
        load_checkpoint(fresh_frontend, fresh, old)


@pytest.mark.parametrize("opts", [{"channels_last": True}, {"amp": True}])
def test_speed_options_stay_correct_on_cpu(data, opts):
    frontend, model = build()
    results = list(fit(model, frontend, data["train"], data["valid"], cfg(epochs=2, **opts)))
    assert all(math.isfinite(r.valid_loss) for r in results)
    assert evaluate(model, frontend, data["test"], cfg(**opts)).acc > 0.5


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("staged", [False, True])
def test_cuda_paths(data, staged, monkeypatch):
    # staged: the data "does not fit", so batches go through pinned memory.
    monkeypatch.setattr("harness.training.device.DEVICE_DATA_FRACTION", 0.0 if staged else 0.5)
    frontend, model = build()
    opts = {"device": "cuda", "amp": True, "channels_last": True}
    results = list(fit(model, frontend, data["train"], data["valid"], cfg(**opts)))
    assert all(math.isfinite(r.valid_loss) and r.peak_memory_mb > 0 for r in results)
    assert evaluate(model, frontend, data["test"], cfg(**opts)).acc > 0.5


def test_partial_batches_and_small_splits(data):
    # 100 clips at batch 32: 3 training steps a epoch (4 dropped); evaluation keeps all.
    small = Clips(data["train"].audio[:100], data["train"].labels[:100])
    frontend, model = build()
    results = list(fit(model, frontend, small, small, cfg(epochs=2)))
    assert len(results) == 2
    assert evaluate(model, frontend, small, cfg()).confusion.sum() == 100
    # Fewer clips than a batch: one smaller batch a epoch.
    tiny = Clips(small.audio[:10], small.labels[:10])
    assert len(list(fit(model, frontend, tiny, tiny, cfg(epochs=1)))) == 1


def test_config_and_device_errors():
    for bad in ({"epochs": 0}, {"batch_size": 0}, {"lr": 0.0}, {"patience": -1},
                {"recipe": "as_planned"}, {"schedule": "cosine"}, {"beta1": 1.0},
                {"test_weights": "middle"}, {"recipe": "as_written", "beta1": 0.5}):
        with pytest.raises(HarnessError):
            TrainConfig(**bad)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(HarnessError, match="expected auto"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(HarnessError, match="CUDA is not available"):
            resolve_device("cuda")


def test_lr_range_test_writes_csv_and_png(data, tmp_path):
    frontend, model = build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = lr_range_test(model, frontend, data["train"], cfg(), min_lr=1e-5, max_lr=10.0,
                           steps=30)
    assert 1e-5 <= result.suggested_lr <= 10.0
    assert result.suggested_lr == pytest.approx(result.min_loss_lr / 10)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    csv_path, png_path = write_lr_find(result, tmp_path / "lr")
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == len(result.lrs) >= 5
    assert float(rows[0]["lr"]) == pytest.approx(1e-5)
    assert png_path.read_bytes()[:4] == b"\x89PNG"


# --- the commands, end to end on a Speech Commands folder ----------------------------

@pytest.fixture(scope="module")
def sc_root(tmp_path_factory) -> str:
    # 4 words x 8 speakers x 3 clips: 60 train, 12 valid, 12 test (speaker-disjoint).
    root = tmp_path_factory.mktemp("sc") / "sc"
    return str(make_speech_commands(root, speakers=8, clips_per_speaker=3))


def test_train_command_json(sc_root, tmp_path, capsys):
    ckpt = tmp_path / "best.pt"
    argv = ["train", "--root", sc_root, "--frontend",
            "complex", "--frontend-opt", "n_fft=256", "--frontend-opt", "win_length=256",
            "--model", "seed_cnn", "--model-opt", "width=0.125", "--epochs", "2",
            "--batch-size", "16", "--device", "cpu", "--checkpoint", str(ckpt), "--json"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)  # stdout holds the JSON object alone
    assert [e["epoch"] for e in report["epochs"]] == [1, 2]
    assert set(report["epochs"][0]) == {f.name for f in dataclasses.fields(EpochResult)}
    assert 0 <= report["test"]["acc"] <= 1 and math.isfinite(report["test"]["loss"])
    t = report["throughput"]
    assert t["device"] == "cpu"
    assert t["train_samples_per_s"] > 0 and t["eval_samples_per_s"] > 0
    assert t["frontend_samples_per_s"] > 0
    assert report["labels"] == ["no", "off", "on", "yes"]
    assert "valid loss" in err and "test: loss" in err
    assert "recipe as_ran: constant lr 0.0004, betas (0.95, 0.999)" in err
    assert report["config"]["lr"] == 4e-4 and report["config"]["beta1"] == 0.95
    assert all(e["lr"] == pytest.approx(4e-4) and e["beta1"] == 0.95 for e in report["epochs"])
    assert report["tested_epoch"] == 2 and report["stop_reason"] == "epoch_cap"
    assert set(torch.load(ckpt, weights_only=True)["model"]) > {"classifier.4.weight"}


def test_train_command_flags_a_diverged_run(sc_root, tmp_path, capsys):
    """--lr 1e3 ended at chance with a test loss of 1e10 and exit 0 ("NOT converged"), while a
    sweep tags the same run `diverged`: both judge it now (harness.training.trial)."""
    ckpt = tmp_path / "w.pt"
    argv = ["train", "--root", sc_root, "--frontend", "log_power", "--frontend-opt",
            "hop_length=400", "--model-opt", "width=0.125", "--model-opt", "padding=1",
            "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--lr", "1e3",
            "--checkpoint", str(ckpt), "--json"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "above 10 x the chance level" in json.loads(out)["diverged"]
    assert err.splitlines()[-1].startswith("error: training diverged: test loss ")
    assert "DIVERGED" in err and not ckpt.exists()


def test_train_config_keeps_recipe_keys_as_recipe_has_them():
    """TrainConfig spells each recipe key again (for its type hints): the two agree, in
    order, each `<Recipe's type> | None = None`."""
    from harness.training.recipes import RECIPE_KEYS, Recipe

    recipe = {f.name: f.type for f in dataclasses.fields(Recipe)}
    fields = [f for f in dataclasses.fields(TrainConfig) if f.name in recipe]
    assert [f.name for f in fields] == list(RECIPE_KEYS)
    assert all(f.type == f"{recipe[f.name]} | None" and f.default is None for f in fields)


def test_train_command_errors(sc_root, capsys):
    base = ["train", "--root", sc_root, "--epochs", "1"]
    assert main([*base, "--device", "tpu"]) == 2
    assert main([*base, "--lr", "0"]) == 2
    assert main([*base, "--model-opt", "width"]) == 2
    err = capsys.readouterr().err
    assert "device 'tpu'" in err and "lr=0.0" in err and "--model-opt 'width'" in err


def test_lr_find_command_writes_csv_and_png(sc_root, tmp_path, capsys):
    argv = ["lr-find", "--root", sc_root, "--frontend", "log_mel", "--frontend-opt",
            "n_mels=32", "--model", "seed_cnn", "--model-opt", "width=0.125", "--model-opt",
            "padding=1", "--batch-size",
            "16", "--steps", "8",
            "--min-lr", "1e-4", "--max-lr", "1", "--out", str(tmp_path / "lr")]
    assert main(argv) == 0
    assert "suggested one-cycle peak: --recipe as_written --lr" in capsys.readouterr().err
    assert (tmp_path / "lr" / "lr_find.csv").read_text().startswith("step,lr,loss,smoothed_loss")
    assert (tmp_path / "lr" / "lr_find.png").stat().st_size > 0
    assert main([*argv[:-2], "--min-lr", "1", "--max-lr", "0.1"]) == 2


# --- recipes --------------------------------------------------------------------------

def test_as_ran_values_reach_the_optimizer_and_stay(data):
    """as_ran: Adam at a constant 4e-4 with betas (0.95, 0.999), as the post's code ran."""
    from harness.training.recipes import RECIPES, build_optimizer

    recipe = RECIPES.create("as_ran")
    model = TinyCNN()
    optimizer, _ = build_optimizer(model.parameters(), recipe, steps_per_epoch=8)
    assert isinstance(optimizer, torch.optim.Adam)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["betas"], group["weight_decay"]) == (4e-4, (0.95, 0.999), 0.0)
    frontend, model = build()
    results = list(fit(model, frontend, data["train"], data["valid"],
                       TrainConfig(epochs=3, batch_size=32, device="cpu")))
    assert [r.lr for r in results] == [4e-4] * 3 and [r.beta1 for r in results] == [0.95] * 3


def test_as_written_starts_where_as_ran_stayed_then_cycles():
    """One-cycle's state at step 0 is as_ran's for the whole run: lr 1e-2 / 25, beta1 0.95."""
    from harness.training.recipes import RECIPES, build_optimizer

    optimizer, scheduler = build_optimizer(TinyCNN().parameters(), RECIPES.create("as_written"),
                                           steps_per_epoch=10)
    group = optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(4e-4) and group["betas"] == (0.95, 0.999)
    lrs, beta1s = [], []
    for _ in range(50 * 10):
        optimizer.step()
        scheduler.step()
        lrs.append(group["lr"])
        beta1s.append(group["betas"][0])
    peak = int(np.argmax(lrs))
    assert max(lrs) == pytest.approx(1e-2) and peak == pytest.approx(0.3 * 500, abs=2)
    assert min(beta1s) == pytest.approx(0.85) and int(np.argmin(beta1s)) == peak


def test_last_weights_are_what_a_last_weights_recipe_tests(data):
    frontend, model = build()
    results = list(fit(model, frontend, data["train"], data["wrong"],
                       cfg(epochs=20, patience=2, test_weights="last")))
    assert results[-1].stop == "early_stopping" and len(results) < 20
    assert not results[-1].is_best
    held = evaluate(model, frontend, data["wrong"], cfg())
    assert held.loss == pytest.approx(results[-1].valid_loss, rel=1e-6)
    assert held.loss > min(r.valid_loss for r in results)
    assert held.predictions.shape == (64,) and (held.predictions < N_CLASSES).all()


def test_min_delta_needs_a_real_improvement(data):
    frontend, model = build()
    results = list(fit(model, frontend, data["train"], data["valid"],
                       cfg(epochs=6, patience=1, min_delta=10.0)))
    assert [r.is_best for r in results] == [True, False]  # nothing beats the first by 10
    assert results[-1].stop == "early_stopping"


def test_stop_reasons_and_the_convergence_rule():
    from harness.training.recipes import converged

    def run(*rows: tuple[float, bool, str]) -> list[EpochResult]:
        return [EpochResult(epoch=i + 1, train_loss=1, train_acc=0, valid_loss=1, valid_acc=0,
                            lr=lr, beta1=0.95, epoch_seconds=1, train_samples_per_s=1,
                            eval_samples_per_s=1, peak_memory_mb=1, is_best=best, stop=stop)
                for i, (lr, best, stop) in enumerate(rows)]

    flat = 4e-4
    assert converged(run((flat, True, ""), (flat, False, ""), (flat, False, "early_stopping")))
    assert not converged(run((flat, True, ""), (flat, True, "epoch_cap")))  # still falling
    assert converged(run((flat, True, ""), (flat, False, "epoch_cap")))     # levelled off
    # stopped early while a one-cycle LR was still climbing: the LR, not the model, stopped it
    assert not converged(run((1e-3, True, ""), (2e-3, False, ""), (3e-3, False, "early_stopping")))
    assert converged(run((3e-3, True, ""), (2e-3, False, ""), (1e-3, False, "early_stopping")))
    assert not converged(run((flat, True, "")))  # pruned or interrupted: no stop
    assert not converged([])



def test_list_recipes_shows_every_value(capsys) -> None:
    assert main(["list", "recipes", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"as_ran", "as_written", "honk_res15"}
    assert {k: rows["as_ran"][k] for k in ("lr", "schedule", "beta1", "beta2", "epochs",
                                            "patience", "test_weights")} == \
        {"lr": 4e-4, "schedule": "constant", "beta1": 0.95, "beta2": 0.999, "epochs": 50,
         "patience": 3, "test_weights": "last"}
    assert rows["as_written"]["schedule"] == "one_cycle" and rows["as_written"]["lr"] == 1e-2
    assert {k: rows["as_written"][k] for k in ("optimizer", "shift_ms", "noise_prob")} == \
        {"optimizer": "adam", "shift_ms": 0.0, "noise_prob": 0.0}  # the study: no augmentation
    assert main(["list", "recipes"]) == 0 and "as_written" in capsys.readouterr().out


def test_workers_share_the_cores_out() -> None:
    import os

    from harness.sweep.worker_processes import threads_per_worker

    cores = len(os.sched_getaffinity(0))
    assert threads_per_worker(1) == cores
    assert threads_per_worker(cores) == 1 and threads_per_worker(cores * 4) == 1


def test_honk_res15_recipe_is_sgd_with_a_step_schedule() -> None:
    """Honk's res15 command: SGD momentum 0.9, wd 1e-5, LR 0.1 -> 0.01 -> 0.001 at 3000, 6000."""
    from harness.training.recipes import RECIPES, build_optimizer

    recipe = RECIPES.create("honk_res15")
    assert (recipe.epochs, recipe.batch_size, recipe.shift_ms, recipe.noise_prob,
            recipe.noise_volume) == (26, 64, 100.0, 0.8, 0.1)
    optimizer, scheduler = build_optimizer(TinyCNN().parameters(), recipe, steps_per_epoch=400)
    assert isinstance(optimizer, torch.optim.SGD)
    group = optimizer.param_groups[0]
    assert (group["momentum"], group["weight_decay"], group["nesterov"]) == (0.9, 1e-5, False)
    lrs = []
    for _ in range(7000):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[2999] == pytest.approx(0.1) and lrs[3000] == pytest.approx(0.01)
    assert lrs[5999] == pytest.approx(0.01) and lrs[6000] == pytest.approx(0.001)


@pytest.mark.parametrize("keys, message", [
    ({"schedule": "step"}, "a step schedule needs milestones"),
    ({"milestones": "10"}, "milestones need schedule"),
    ({"schedule": "step", "milestones": "20,10"}, "increasing step counts"),
    ({"optimizer": "sgd", "schedule": "one_cycle"}, "one_cycle cycles Adam's beta1"),
    ({"optimizer": "rmsprop"}, "optimizer='rmsprop': use one of adam, sgd"),
])
def test_optimizer_and_step_schedule_checks(keys, message) -> None:
    with pytest.raises(HarnessError, match=message):
        TrainConfig(**keys)


def test_sgd_fit_logs_momentum_as_beta1() -> None:
    cfg = TrainConfig(recipe="honk_res15", epochs=1, batch_size=32, device="cpu",
                      shift_ms=0.0, noise_prob=0.0, milestones="2", lr=0.05)
    torch.manual_seed(0)
    (r,) = list(fit(TinyCNN(), TinyFrontend(), tones(96, 0), tones(32, 1), cfg))
    assert r.beta1 == 0.9 and r.lr == pytest.approx(0.005)  # 3 steps: past milestone 2
