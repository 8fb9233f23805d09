"""matchboxnet: MatchboxNet BxRxC (Majumdar & Ginsburg 2020, arXiv:2004.08531).

Ported from NVIDIA NeMo's configs (examples/asr/conf/matchboxnet/matchboxnet_3x1x64_v1.yaml;
3x2x64 is the same with `repeat: 2`) and its JasperBlock: 1-D time-channel separable
convolutions over the feature frames, "same" padding, BatchNorm (eps 1e-3), ReLU. A
prologue (128 filters, kernel 11), B residual blocks of R sub-blocks with C filters and
kernels 13, 15, 17, ... (2 more per block), two epilogues (128 filters: kernel 29 with
dilation 2, then kernel 1 not separable), average over time, a linear classifier.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from harness.errors import HarnessError
from harness.models.base import register_model


def sub_block(c_in: int, c_out: int, kernel: int, dilation: int = 1,
              separable: bool = True) -> list[nn.Module]:
    """[depthwise k (no bias) ->] pointwise (no bias) -> BatchNorm1d: NeMo's
    _get_conv_bn_layer; the activation is the caller's (it follows the residual sum)."""
    pad = dilation * (kernel - 1) // 2
    if separable:
        convs = [nn.Conv1d(c_in, c_in, kernel, padding=pad, dilation=dilation, groups=c_in,
                           bias=False), nn.Conv1d(c_in, c_out, 1, bias=False)]
    else:
        convs = [nn.Conv1d(c_in, c_out, kernel, padding=pad, dilation=dilation, bias=False)]
    return [*convs, nn.BatchNorm1d(c_out, eps=1e-3)]


class JasperBlock(nn.Module):
    """`repeat` sub-blocks; with `residual`, a 1x1 conv + BN of the block's input is added
    before the last ReLU (NeMo adds it even when the channels match)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, repeat: int = 1,
                 dilation: int = 1, residual: bool = True, separable: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(repeat):
            layers += sub_block(c_in if i == 0 else c_out, c_out, kernel, dilation, separable)
            if i < repeat - 1:
                layers += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers)
        self.residual = nn.Sequential(*sub_block(c_in, c_out, 1, separable=False)) \
            if residual else None
        self.out = nn.Sequential(nn.ReLU(inplace=True), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        if self.residual is not None:
            y = y + self.residual(x)
        return self.out(y)


class MatchboxNet(nn.Module):
    """(B, C, F, T') -> (B, n_classes): the C x F features of each frame are the 1-D
    convolutions' input channels (NeMo's feat_in), so the network is sized to F."""

    input_dims = 2

    def __init__(self, in_channels: int, n_classes: int, blocks: int = 3, repeat: int = 2,
                 width: int = 64, input_shape: Sequence[int] = (64, 101),
                 dropout: float = 0.0) -> None:
        super().__init__()
        feat_in = in_channels * input_shape[0]
        layers = [JasperBlock(feat_in, 128, 11, residual=False, dropout=dropout)]
        c_in = 128
        for b in range(blocks):
            layers.append(JasperBlock(c_in, width, 13 + 2 * b, repeat, dropout=dropout))
            c_in = width
        layers += [JasperBlock(c_in, 128, 29, dilation=2, residual=False, dropout=dropout),
                   JasperBlock(128, 128, 1, residual=False, separable=False, dropout=dropout)]
        self.encoder = nn.Sequential(*layers)
        self.decoder = nn.Linear(128, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x.flatten(1, 2)).mean(dim=2))


@register_model(family="compact", source="Majumdar & Ginsburg 2020, arXiv:2004.08531; NVIDIA "
                "NeMo examples/asr/conf/matchboxnet/ and JasperBlock", frontend="mfcc",
                frontend_opts={"n_mfcc": 64, "n_mels": 64})
def matchboxnet(in_channels: int, n_classes: int, blocks: int = 3, repeat: int = 2,
                width: int = 64, input_shape: Sequence[int] = (64, 101),
                dropout: float = 0.0) -> MatchboxNet:
    """MatchboxNet 3x2x64 (Majumdar & Ginsburg 2020): separable 1-D convs over frames."""
    if min(blocks, repeat, width) < 1:
        raise HarnessError(f"matchboxnet blocks={blocks}, repeat={repeat}, width={width}: "
                           "each must be at least 1 (the paper's 3x2x64 is 3, 2, 64)")
    return MatchboxNet(in_channels, n_classes, blocks, repeat, width, input_shape, dropout)
