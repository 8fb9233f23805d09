"""One streaming evaluation of one trained pipeline: stream -> posteriors -> detections -> DET.

    result = evaluate_stream(Classifier(frontend, model), data, StreamSettings(seconds=600))
    result.summary          # {"stream_frr_at_1fa_h": ..., "stream_det_auc": ..., ...}
    result.det              # the DET table (metrics.DET_COLUMNS)

The stream is built from the split's test clips and noise windows (streams.py), so the
network never heard any of it in training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from harness.data import SplitData
from harness.data.speech_commands import SAMPLE_RATE
from harness.errors import HarnessError
from harness.streaming.cost import StreamCost, streaming_cost
from harness.streaming.infer import THRESHOLDS, detect, posteriors, smooth
from harness.streaming.metrics import det_table, per_keyword, summary
from harness.streaming.settings import StreamSettings
from harness.streaming.streams import make_stream


@dataclass(frozen=True)
class StreamResult:
    settings: StreamSettings
    det: pd.DataFrame         # metrics.DET_COLUMNS: per keyword ("all" too) and threshold
    keywords: pd.DataFrame    # metrics.per_keyword: FRR at each budget and DET area
    hours: float              # stream length
    occurrences: int          # keyword clips in the stream
    audio_s_per_s: float      # seconds of audio scanned per second on the evaluation device
    cost: StreamCost | None   # MACs and CPU time per audio second (None when not measured)

    @property
    def summary(self) -> dict[str, float]:
        """Every MLflow metric of the evaluation (`stream_*`)."""
        out = summary(self.det)
        out.update(stream_hours=self.hours, stream_occurrences=float(self.occurrences),
                   stream_audio_s_per_s=self.audio_s_per_s)
        if self.cost is not None:
            out.update(self.cost.metrics())
        return out


def evaluate_stream(net: nn.Module, data: SplitData, settings: StreamSettings,
                    device: torch.device | str = "cpu", *, measure_cost: bool = True
                    ) -> StreamResult:
    """Score `net` ((B, 16000) -> (B, len(data.labels)) logits) on a stream of data's test
    split; `measure_cost` also counts MACs and times it on the CPU (cost.py)."""
    stream = make_stream(data.test, data.labels, data.noise, settings)
    net = net.to(device)
    start = time.perf_counter()
    post = posteriors(net, stream.audio, hop=settings.hop, device=device, batch=settings.batch)
    seconds = time.perf_counter() - start  # posteriors ends with a copy to the host: synced
    if post.shape[1] != len(data.labels):
        raise HarnessError(f"the pipeline gives {post.shape[1]} classes but the data set has "
                           f"{len(data.labels)} labels; evaluate it on the data it was "
                           "trained on")
    scores = smooth(post, settings.windows(settings.smooth_ms))
    det = detect(scores, stream.keywords, THRESHOLDS, settings.windows(settings.refractory_ms))
    table = det_table(det, stream, hop=settings.hop,
                      tolerance=round(settings.tolerance_ms * SAMPLE_RATE / 1000))
    cost = streaming_cost(net, settings.hop, batch=settings.batch) if measure_cost else None
    return StreamResult(settings=settings, det=table, keywords=per_keyword(table),
                        hours=stream.hours, occurrences=len(stream.onsets),
                        audio_s_per_s=stream.seconds / seconds, cost=cost)
