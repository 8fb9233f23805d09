"""bc_resnet: Broadcasted residual learning (Kim et al. 2021, arXiv:2106.04140).

Ported from Qualcomm-AI-research/bcresnet (bcresnet.py, subspectralnorm.py): a 5x5
stem, four stages of BC-ResBlocks (2, 2, 4, 4 blocks; frequency stride 2 at the first
block of stages 2 and 3), a depthwise 5x5 + pointwise classifier. `width` is the
paper's tau: BC-ResNet-tau has base channels 8 x tau (BC-ResNet-1: 8, BC-ResNet-8: 64).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from harness.errors import HarnessError
from harness.models.base import register_model

SSN_GROUPS = 5  # sub-bands of SubSpectralNorm, as bcresnet.py uses it


class SubSpectralNorm(nn.Module):
    """BatchNorm per frequency sub-band: (B, C, F, T), F split into `groups` equal bands,
    each with its own statistics and affine parameters (subspectralnorm.py, affine="Sub")."""

    def __init__(self, channels: int, groups: int = SSN_GROUPS) -> None:
        super().__init__()
        self.groups = groups
        self.norm = nn.BatchNorm2d(channels * groups)

    def forward(self, x: Tensor) -> Tensor:
        b, c, f, t = x.shape
        return self.norm(x.reshape(b, c * self.groups, f // self.groups, t)).view(b, c, f, t)


def conv_bn(c_in: int, c_out: int, kernel: tuple[int, int], stride: tuple[int, int] = (1, 1),
            groups: int = 1, dilation: tuple[int, int] = (1, 1), norm: str = "bn",
            act: str = "relu") -> nn.Sequential:
    """Conv2d (no bias, "same" padding scaled by dilation) -> BN or SSN -> ReLU/SiLU/none:
    bcresnet.py's ConvBNReLU."""
    padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation,
                                         groups, bias=False)]
    layers.append(SubSpectralNorm(c_out) if norm == "ssn" else nn.BatchNorm2d(c_out))
    if act != "none":
        layers.append(nn.SiLU(inplace=True) if act == "swish" else nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BCResBlock(nn.Module):
    """f2: [1x1 transition] -> depthwise 3x1 over frequency -> SSN; average over
    frequency; f1: depthwise 1x3 over time (dilation 2**stage) -> BN -> SiLU -> 1x1 ->
    Dropout2d(0.1); the time output is broadcast back over frequency and added to f2's,
    plus the input unless the channels change; then ReLU."""

    def __init__(self, c_in: int, c_out: int, stage: int, stride: tuple[int, int]) -> None:
        super().__init__()
        self.transition = c_in != c_out
        f2: list[nn.Module] = [conv_bn(c_in, c_out, (1, 1))] if self.transition else []
        f2.append(conv_bn(c_out, c_out, (3, 1), (stride[0], 1), groups=c_out, norm="ssn",
                          act="none"))
        self.f2 = nn.Sequential(*f2)
        self.f1 = nn.Sequential(
            conv_bn(c_out, c_out, (1, 3), (1, stride[1]), groups=c_out,
                    dilation=(1, 2 ** stage), act="swish"),
            nn.Conv2d(c_out, c_out, 1, bias=False), nn.Dropout2d(0.1))

    def forward(self, x: Tensor) -> Tensor:
        aux = self.f2(x)
        out = self.f1(aux.mean(dim=2, keepdim=True)) + aux
        if not self.transition:
            out = out + x
        return F.relu(out, inplace=True)


class BCResNet(nn.Module):
    """(B, C, F, T') -> (B, n_classes). F must survive three halvings into a multiple of
    SubSpectralNorm's 5 sub-bands (40 mel bins do: 20, 10, 5)."""

    input_dims = 2

    def __init__(self, in_channels: int, n_classes: int, width: float = 8.0,
                 input_shape: Sequence[int] = (40, 101)) -> None:
        super().__init__()
        bins = [math.ceil(input_shape[0] / 2 ** k) for k in (1, 2, 3)]
        if any(b % SSN_GROUPS for b in bins):
            raise HarnessError(
                f"bc_resnet: {input_shape[0]} frequency bins halve to {bins}, not all multiples "
                f"of {SSN_GROUPS} (SubSpectralNorm's sub-bands); use 40 (n_mels=40 or "
                f"n_mfcc=40) or another multiple of 40")
        base = int(8 * width)
        c = [base * 2, base, int(base * 1.5), base * 2, int(base * 2.5), base * 4]
        self.head = conv_bn(in_channels, c[0], (5, 5), (2, 1))
        blocks = []
        for stage, n in enumerate((2, 2, 4, 4)):
            for i in range(n):
                stride = (2, 1) if stage in (1, 2) and i == 0 else (1, 1)
                blocks.append(BCResBlock(c[stage] if i == 0 else c[stage + 1], c[stage + 1],
                                         stage, stride))
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Conv2d(c[-2], c[-2], (5, 5), padding=(0, 2), groups=c[-2], bias=False),
            nn.Conv2d(c[-2], c[-1], 1, bias=False), nn.BatchNorm2d(c[-1]), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(c[-1], n_classes, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.blocks(self.head(x))).flatten(1)


@register_model(family="compact", source="Kim et al. 2021, arXiv:2106.04140; "
                "Qualcomm-AI-research/bcresnet bcresnet.py", frontend="log_mel",
                frontend_opts={"n_mels": 40})
def bc_resnet(in_channels: int, n_classes: int, width: float = 8.0,
              input_shape: Sequence[int] = (40, 101)) -> BCResNet:
    """BC-ResNet (Kim et al. 2021): broadcasted residual blocks; width=1 / 8 is -1 / -8."""
    if not width > 0:
        raise HarnessError(f"bc_resnet width={width!r}: expected a positive tau, e.g. 1 or 8")
    return BCResNet(in_channels, n_classes, width, input_shape)
