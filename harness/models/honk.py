"""res8 / res15: Tang & Lin 2018, "Deep Residual Learning for Small-Footprint KWS"."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from harness.models.base import register_model


class ResKWS(nn.Module):
    """Honk's SpeechResModel: conv3x3 stem, `n_layers` conv3x3 layers with a skip every two.

    (B, C, F, T') -> (B, n_classes). No biases and BatchNorm without affine parameters, as
    in Honk; BatchNorm follows the residual sum. Dilation 2**(i // 3) for layer i (res15)
    widens the receptive field without pooling. Honk pools its (time, freq) = 101x40 MFCC
    input 4x3; the same pool in this harness's (freq, time) layout is (3, 4).
    """

    input_dims = 2

    def __init__(self, in_channels: int, n_classes: int, n_maps: int = 45, n_layers: int = 6,
                 dilation: bool = False, pool: Sequence[int] | None = None) -> None:
        super().__init__()
        self.min_input = tuple(pool) if pool else (1, 1)
        self.conv0 = nn.Conv2d(in_channels, n_maps, 3, padding=1, bias=False)
        self.pool = nn.AvgPool2d(tuple(pool)) if pool else nn.Identity()
        dil = [2 ** (i // 3) if dilation else 1 for i in range(n_layers)]
        self.convs = nn.ModuleList(
            nn.Conv2d(n_maps, n_maps, 3, padding=d, dilation=d, bias=False) for d in dil)
        self.bns = nn.ModuleList(nn.BatchNorm2d(n_maps, affine=False) for _ in dil)
        self.output = nn.Linear(n_maps, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = skip = self.pool(F.relu(self.conv0(x)))
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True), start=1):
            y = F.relu(conv(x))
            if i % 2 == 0:
                y = skip = y + skip
            x = bn(y)
        return self.output(x.mean(dim=(2, 3)))


HONK = "Tang & Lin 2018, arXiv:1710.10361; castorini/honk utils/model.py"


@register_model(family="resnet", source=HONK, frontend="mfcc")
def res8(in_channels: int, n_classes: int, n_maps: int = 45,
         pool: Sequence[int] = (3, 4)) -> ResKWS:
    """Honk res8 (Tang & Lin 2018): 45 maps, 6 residual layers, 4x3 average pool."""
    return ResKWS(in_channels, n_classes, n_maps, n_layers=6, pool=pool)


@register_model(family="resnet", source=HONK, frontend="mfcc")
def res15(in_channels: int, n_classes: int, n_maps: int = 45) -> ResKWS:
    """Honk res15 (Tang & Lin 2018): 45 maps, 13 dilated residual layers, no pooling."""
    return ResKWS(in_channels, n_classes, n_maps, n_layers=13, dilation=True)
