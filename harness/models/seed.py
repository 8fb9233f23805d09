"""seed_cnn: the reference study's network."""

from __future__ import annotations

from torch import Tensor, nn

from harness.errors import HarnessError
from harness.frontends import STUDY_SOURCE
from harness.models.base import register_model


class SeedCNN(nn.Module):
    """Five conv3x3 blocks, global average pool, two-layer classifier.

    (B, C, F, T') -> (B, n_classes). Each block is conv (with bias) -> BatchNorm2d -> ReLU
    [-> 2x2 max pool on the first four] -> Dropout2d. The conv biases are redundant before
    BatchNorm, but the study had them: they are the 992 parameters that make 1,849,342.
    `width` scales every channel count and the classifier's hidden size (512).

    `padding=0` is the study's network: R torch's `nn_conv2d(..., kernel_size = 3)` pads 0
    by default (docs/replication.md). On a 2 x 257 x 101 clip it costs 0.310 G MACs
    against 0.478 G with `padding=1` (same parameters), and needs at least 78 x 78 input.
    """

    input_dims = 2

    def __init__(self, in_channels: int, n_classes: int, width: float = 1.0,
                 conv_dropout: float = 0.2, dropout: float = 0.5, padding: int = 0) -> None:
        super().__init__()
        if padding not in (0, 1):
            raise HarnessError(f"seed_cnn padding={padding!r}: use 0 (the study's) or 1")
        # (F, T') the input needs: four (conv, 2x2 pool) blocks and a last conv each leave >= 1.
        self.min_input = (16, 16) if padding else (78, 78)
        self.min_input_fix = "" if padding else "model option padding=1 (takes 16 x 16)"
        chans = [max(1, round(c * width)) for c in (32, 64, 128, 256, 512)]
        blocks, c_in = [], in_channels
        for i, c_out in enumerate(chans):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=padding), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True)]
            blocks += [nn.MaxPool2d(2)] if i < 4 else []
            blocks += [nn.Dropout2d(conv_dropout)]
            c_in = c_out
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(c_in, c_in), nn.BatchNorm1d(c_in), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(c_in, n_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


@register_model(family="cnn", source=STUDY_SOURCE)
def seed_cnn(in_channels: int, n_classes: int, width: float = 1.0, conv_dropout: float = 0.2,
             dropout: float = 0.5, padding: int = 0) -> SeedCNN:
    """Reference study's 5-block CNN, 32-64-128-256-512 channels, padding 0 as it ran."""
    if not width > 0:
        raise HarnessError(f"seed_cnn width={width!r}: expected a positive scale, e.g. 0.25")
    return SeedCNN(in_channels, n_classes, width, conv_dropout, dropout, padding)
