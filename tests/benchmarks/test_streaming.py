"""Streaming evaluation throughput: seconds of audio scanned per second.

    pytest tests/benchmarks/test_streaming.py --benchmark-enable     # or: nox -s bench

A 30 s stream of the benchmark's tone clips over white noise (harness.streaming.streams),
seed_cnn at width 0.25 behind each front-end, the default 100 ms hop (10 windows per
second of audio):
  scan   harness.streaming.infer.posteriors: the stream on the device, cut into windows by
         unfold, 512 windows per forward pass, softmax
  score  smoothing, detections at every threshold, the DET table (the host's part)
`items` is seconds of audio, so items/s is the real-time factor's inverse: above 1 the
evaluation runs faster than the audio plays. No target: the figure is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from harness.data import Clips
from harness.models import build_pipeline
from harness.models.classifier import Classifier
from harness.streaming.infer import THRESHOLDS, detect, posteriors, smooth
from harness.streaming.metrics import det_table
from harness.streaming.settings import StreamSettings
from harness.streaming.streams import Stream, make_stream

SECONDS = 30
NAMES = [f"w{i}" for i in range(30)]


@pytest.fixture(scope="module")
def stream(tone_clips: tuple[np.ndarray, np.ndarray]) -> Stream:
    audio, labels = tone_clips
    clips = Clips(audio, labels % len(NAMES))
    return make_stream(clips, NAMES, np.zeros((0, 16000), np.int16),
                       StreamSettings(seconds=SECONDS, density=10, fillers=0))


@pytest.mark.parametrize("frontend", ["complex", "log_mel", "log_power"])
def test_stream_scan(frontend: str, stream: Stream, device: torch.device,
                     measure: Callable[..., Any]) -> None:
    fe, model = build_pipeline(frontend, "seed_cnn", len(NAMES), {}, {"width": 0.25})
    net = Classifier(fe, model).to(device).eval()
    hop = StreamSettings().hop
    post = measure(lambda: posteriors(net, stream.audio, hop=hop, device=device),
                   items=SECONDS, role=frontend, group="streaming scan (audio s/s)",
                   hop=hop, windows=(len(stream.audio) - 16000) // hop + 1)
    assert post.shape == ((len(stream.audio) - 16000) // hop + 1, len(NAMES))


def test_stream_score(stream: Stream, measure: Callable[..., Any]) -> None:
    rng = np.random.default_rng(0)
    post = rng.dirichlet(np.full(len(NAMES), 0.3), size=(len(stream.audio) - 16000) // 1600 + 1)
    s = StreamSettings()

    def score() -> pd.DataFrame:
        det = detect(smooth(post, s.windows(s.smooth_ms)), stream.keywords, THRESHOLDS,
                     s.windows(s.refractory_ms))
        return det_table(det, stream, hop=s.hop, tolerance=8000)

    table = measure(score, items=SECONDS, role="score", group="streaming score (audio s/s)")
    assert len(table) == (len(stream.keywords) + 1) * len(THRESHOLDS)
