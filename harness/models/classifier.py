"""A front-end and a network as one module: what a trial trains, logs, streams and exports.

    net = Classifier(frontend, model, labels)     # (B, 16000) float32 in [-1, 1) -> (B, K) logits

`harness.models.build_pipeline` builds the pair from registry names; this module holds them
together once they are trained.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class Classifier(nn.Module):
    """(B, T) float32 waveform in [-1, 1) -> (B, n_classes) float32 logits: front-end, then
    network.

    `labels[i]` is the word of logit i (empty when the caller has no names). The front-end
    runs without gradients, as in training (harness.training.loop.forward); batches of int16
    clips are `audio / 32768`.
    """

    def __init__(self, frontend: nn.Module, model: nn.Module,
                 labels: Sequence[str] = ()) -> None:
        super().__init__()
        self.frontend = frontend
        self.model = model
        self.labels = list(labels)

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            features = self.frontend(x)
        return self.model(features).float()
