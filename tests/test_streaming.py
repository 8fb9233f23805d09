"""Streaming evaluation on planted streams: tone clips an oracle can read, random firers.

Every keyword clip is a pure tone at its label's own frequency (an integer number of
periods in 1 s), so `ToneOracle`, a real nn.Module reading those DFT bins, returns the
true label of whatever tone a window holds: it must score FRR 0 at 0 false alarms.
`RandomFirer` fires a random keyword in each window with probability p; the false-alarm
rate it must show follows from p (see test_random_firer_shows_the_predicted_rate).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from harness.data import Clips, SplitData
from harness.errors import HarnessError
from harness.streaming.evaluate import evaluate_stream
from harness.streaming.infer import THRESHOLDS, detect, posteriors, smooth, window_ends
from harness.streaming.metrics import det_auc, det_table, envelope, frr_at
from harness.streaming.settings import StreamSettings
from harness.streaming.streams import make_stream

LABELS = ["_unknown_", "down", "go", "no", "yes"]  # _unknown_: never a keyword
FREQS = [250, 400, 550, 700, 850]                  # Hz, one per label


def tone_clips(per_label: int = 6, amplitude: float = 0.4) -> Clips:
    t = np.arange(16000) / 16000
    audio = [amplitude * np.sin(2 * np.pi * f * t + k) for f in FREQS for k in range(per_label)]
    labels = np.repeat(np.arange(len(LABELS)), per_label)
    return Clips(np.round(np.array(audio) * 32767).astype(np.int16), labels.astype(np.int64))


def noise_windows(k: int = 8) -> np.ndarray:
    return (np.random.default_rng(1).standard_normal((k, 16000)) * 3000).astype(np.int16)


def split(clips: Clips) -> SplitData:
    return SplitData(train=clips, valid=clips, test=clips, labels=LABELS, dataset="planted",
                     root=Path("."), noise=noise_windows(), task="words30", test_set="planted")


class ToneOracle(nn.Module):
    """(B, 16000) -> (B, 5) logits: gain x the amplitude of each label's DFT bin."""

    def __init__(self, gain: float = 60.0) -> None:
        super().__init__()
        self.register_buffer("bins", torch.tensor(FREQS))
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        amp = torch.fft.rfft(x, dim=-1).abs() * (2 / x.shape[-1])
        return self.gain * amp[:, self.bins]


class RandomFirer(nn.Module):
    """Each window: with probability p a random class gets logit 20, else all are 0."""

    def __init__(self, n_classes: int, p: float, seed: int = 0) -> None:
        super().__init__()
        self.n, self.p = n_classes, p
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = len(x)
        fire = torch.rand(b, generator=self.gen) < self.p
        cls = torch.randint(0, self.n, (b,), generator=self.gen)
        logits = torch.zeros(b, self.n)
        logits[fire.nonzero()[:, 0], cls[fire]] = 20.0
        return logits


def test_stream_layout_truth_and_snr() -> None:
    clips = tone_clips()
    s = StreamSettings(seconds=60, density=10, fillers=5, snr_db=10, seed=3)
    a = make_stream(clips, LABELS, noise_windows(), s)
    assert a.audio.dtype == np.float32 and a.audio.shape == (60 * 16000,)
    assert len(a.onsets) == 10 and len(a.filler_onsets) == 5
    assert set(a.labels) <= {1, 2, 3, 4} and set(a.filler_labels) == {0}
    assert list(a.keywords) == [1, 2, 3, 4]
    every = np.sort(np.concatenate([a.onsets, a.filler_onsets]))
    assert np.diff(every).min() >= s.spacing and every[-1] + 16000 <= len(a.audio)
    b = make_stream(clips, LABELS, noise_windows(), s)
    assert np.array_equal(a.audio, b.audio) and np.array_equal(a.onsets, b.onsets)
    clean = make_stream(clips, LABELS, noise_windows(), StreamSettings(
        seconds=60, density=10, fillers=5, snr_db=None, seed=3))
    assert np.array_equal(clean.onsets, a.onsets)  # the bed is drawn last: same layout
    bed = a.audio.astype(np.float64) - clean.audio
    kw_power = np.mean((clips.audio[clips.labels > 0] / 32768.0) ** 2)
    assert 10 * np.log10(kw_power / np.mean(bed ** 2)) == pytest.approx(10, abs=0.2)
    assert a.int16().dtype == np.int16


def test_stream_errors_name_the_fix() -> None:
    with pytest.raises(HarnessError, match="holds at most 5 clips at 2 s spacing, not 10"):
        StreamSettings(seconds=10, density=60, fillers=0)  # at the file's reading
    with pytest.raises(HarnessError, match="'maybe' is not a label"):
        make_stream(tone_clips(), LABELS, noise_windows(),
                    StreamSettings(seconds=10, keywords=("maybe",)))


def test_posteriors_match_clip_by_clip_inference() -> None:
    audio = np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1
    net = ToneOracle()
    post = posteriors(net, audio, hop=1600, batch=7)  # batches that do not divide W
    assert post.shape == (21, 5)
    j = 13
    direct = torch.softmax(net(torch.from_numpy(audio[j * 1600:j * 1600 + 16000])[None]), -1)
    np.testing.assert_allclose(post[j], direct[0].numpy(), rtol=1e-5, atol=1e-6)
    assert window_ends(21, 1600)[-1] == len(audio)


def test_smoothing_is_chen_et_al_causal_average() -> None:
    post = np.arange(12, dtype=np.float32).reshape(6, 2)
    out = smooth(post, 3)
    np.testing.assert_allclose(out[0], post[0])
    np.testing.assert_allclose(out[1], post[:2].mean(0))
    np.testing.assert_allclose(out[5], post[3:6].mean(0))


def test_detect_rising_edges_and_refractory() -> None:
    top = np.array([0, .9, .9, 0, .9, 0, 0, 0, .9, .9], np.float32)
    scores = np.stack([1 - top, top], axis=1)
    det = detect(scores, np.array([1]), np.array([0.5]), refractory=1)
    assert list(det.window) == [1, 4, 8]
    det = detect(scores, np.array([1]), np.array([0.5]), refractory=4)
    assert list(det.window) == [1, 8]  # 4 falls within 4 windows of 1


@pytest.mark.parametrize("smooth_ms", [100, 300])
def test_oracle_scores_frr_0_at_0_false_alarms(smooth_ms: float) -> None:
    s = StreamSettings(seconds=60, density=12, fillers=6, snr_db=20, seed=0,
                       smooth_ms=smooth_ms)
    result = evaluate_stream(ToneOracle(), split(tone_clips()), s, measure_cost=False)
    assert result.occurrences == 12
    assert frr_at(result.det, 0.0) == 0.0 and det_auc(result.det) == 0.0
    best = result.det[(result.det["keyword"] == "all") & (result.det["frr"] == 0)]
    assert (best["false_alarms"] == 0).any()
    assert result.summary["stream_frr_at_1fa_h"] == 0.0
    # the keywords' own rows, and fillers (_unknown_) never among them
    assert set(result.keywords["keyword"]) == {"all", "down", "go", "no", "yes"}


def test_a_deaf_model_misses_everything() -> None:
    class Deaf(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(len(x), 5)

    s = StreamSettings(seconds=60, density=10, fillers=0, seed=1)
    result = evaluate_stream(Deaf(), split(tone_clips()), s, measure_cost=False)
    assert frr_at(result.det, 1.0) == 1.0 and det_auc(result.det) == 1.0


@pytest.mark.parametrize("p", [0.05, 0.2])
def test_random_firer_shows_the_predicted_rate(p: float) -> None:
    """No smoothing, no refractory, no keyword clips: every detection is a false alarm.
    A window's top keyword score passes 0.5 when it fires a keyword, with probability
    q = p * 4/5 (one class of 5, `_unknown_`, is no keyword); a detection starts at
    window j when j passes and j-1 did not, or passed with another of the k = 4
    keywords: P = q ((1 - q) + q (1 - 1/k)) = q (1 - q/k). Expected false alarms W P;
    the observed count lies within 4 binomial standard deviations."""
    s = StreamSettings(seconds=60, density=0, fillers=0, snr_db=20, smooth_ms=100,
                       refractory_ms=100)
    stream = make_stream(tone_clips(), LABELS, noise_windows(), s)
    post = posteriors(RandomFirer(5, p, seed=7), stream.audio, hop=s.hop)
    det = detect(smooth(post, 1), stream.keywords, THRESHOLDS, refractory=1)
    table = det_table(det, stream, hop=s.hop, tolerance=8000)
    row = table[(table["keyword"] == "all") & np.isclose(table["threshold"], 0.5)].iloc[0]
    q, k = p * 4 / 5, 4
    rate = q * (1 - q / k)
    expected = len(post) * rate
    assert abs(row["false_alarms"] - expected) < 4 * math.sqrt(expected * (1 - rate))
    assert row["fa_per_hour"] == pytest.approx(row["false_alarms"] / stream.hours)


def test_frr_at_and_auc_on_a_hand_made_curve() -> None:
    det = pd.DataFrame({"keyword": "all", "threshold": [0.1, 0.5, 0.9], "occurrences": 10,
                        "hits": [9, 8, 5], "false_alarms": [8, 2, 0],
                        "frr": [0.1, 0.2, 0.5], "fa_per_hour": [8.0, 2.0, 0.0]})
    assert frr_at(det, 0.0) == 0.5 and frr_at(det, 1.0) == 0.5 and frr_at(det, 2.0) == 0.2
    # 0.5 on [0, 2), 0.2 on [2, 8), 0.1 on [8, 10]: (1 + 1.2 + 0.2) / 10
    assert det_auc(det) == pytest.approx(0.24)
    np.testing.assert_allclose(envelope(det, np.array([0, 1.9, 2, 9])), [0.5, 0.5, 0.2, 0.1])


def test_settings_from_a_table() -> None:
    assert StreamSettings.from_table(None) is None
    assert StreamSettings.from_table({"enabled": False, "seconds": 5}) is None
    s = StreamSettings.from_table({"enabled": True, "seconds": 60, "hop_ms": 50,
                                   "keywords": ["yes"]})
    assert s is not None and s.hop == 800 and s.keywords == ("yes",) and s.seconds == 60.0
    with pytest.raises(HarnessError, match="unknown key 'hop'"):
        StreamSettings.from_table({"enabled": True, "hop": 5})
    with pytest.raises(HarnessError, match=r"seconds = -1\.0: must be > 0"):
        StreamSettings.from_table({"enabled": True, "seconds": -1})


def test_experiment_file_stream_table(tmp_path: Path) -> None:
    from harness.sweep.experiment_file import load_experiment

    base = 'name = "s"\n[train]\nmodel = "seed_cnn"\nfrontend = "complex"\n'
    plain = tmp_path / "plain.toml"
    plain.write_text(base)
    on = tmp_path / "on.toml"
    on.write_text(base + '[stream]\nenabled = true\nseconds = 600\nkeywords = ["yes"]\n')
    bad = tmp_path / "bad.toml"
    bad.write_text(base + "[stream]\nenabled = true\nsecs = 600\n")
    assert load_experiment(plain).stream is None
    exp = load_experiment(on)
    assert exp.stream == StreamSettings(seconds=600, keywords=("yes",))
    assert exp.identity == load_experiment(plain).identity  # evaluation does not fork a study
    with pytest.raises(HarnessError, match=r"bad\.toml: \[stream\]: unknown key 'secs'"):
        load_experiment(bad)


def test_streaming_and_comparison_macs_agree_for_an_stft_frontend() -> None:
    """One MAC count (harness.models.cost.count_macs): a stream's clip MACs are the
    comparison table's, FFTs included (the `complex` front-end is an FFT and nothing else)."""
    from harness.models import build_pipeline
    from harness.models.classifier import Classifier
    from harness.models.cost import cost
    from harness.streaming.cost import streaming_cost

    opts = {"n_fft": 160, "win_length": 160, "hop_length": 200}  # quick.toml's
    fe, model = build_pipeline("complex", "seed_cnn", 5, frontend_opts=opts,
                               model_opts={"width": 0.25})
    table = cost(fe, model)
    # 81 frames' real FFTs of 160 points, 5 n log2 n / 2 FLOPs each, a MAC = 2 FLOPs
    assert table.frontend_macs == int(81 * 5 * 160 * math.log2(160) / 2) // 2
    stream = streaming_cost(Classifier(fe, model), hop=8000, seconds=1.5, batch=4)
    assert stream.clip_macs == table.macs
    assert stream.macs_per_audio_s == table.macs * 2  # a window every 0.5 s
