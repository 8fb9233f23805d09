"""m5: raw-waveform 1-D CNN (Dai et al. 2017)."""

from __future__ import annotations

from torch import Tensor, nn

from harness.models.base import register_model


class M5(nn.Module):
    """M5 (Dai et al. 2017) as in torchaudio's speech-command tutorial: four conv blocks.

    (B, C, T) -> (B, n_classes) logits (the tutorial's log_softmax is left to the loss).
    Conv1d kernel 80 then 3, 3, 3, each -> BatchNorm1d -> ReLU -> max pool 4, channels
    n, n, 2n, 2n, then a global average pool. The tutorial's stride 16 on 8 kHz audio is a
    2 ms step; on this harness's 16 kHz clips it is 1 ms, and the paper's stride 4 is
    `stride=4`.
    """

    input_dims = 1

    def __init__(self, in_channels: int, n_classes: int, n_channel: int = 32,
                 stride: int = 16) -> None:
        super().__init__()
        # Working back from one output step: 4 pools of 4 and 3 unpadded kernel-3 convs
        # need 424 first-conv outputs, so T >= 80 + 423 * stride (6,848 at stride 16).
        self.min_input = (80 + 423 * stride,)
        chans = [n_channel, n_channel, 2 * n_channel, 2 * n_channel]
        layers, c_in = [], in_channels
        for i, c_out in enumerate(chans):
            conv = (nn.Conv1d(c_in, c_out, 80, stride=stride) if i == 0
                    else nn.Conv1d(c_in, c_out, 3))
            layers += [conv, nn.BatchNorm1d(c_out), nn.ReLU(inplace=True), nn.MaxPool1d(4)]
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.fc = nn.Linear(c_in, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


@register_model(family="cnn1d", source="Dai et al. 2017, arXiv:1610.00087; torchaudio "
                                       "speech_command_classification tutorial")
def m5(in_channels: int, n_classes: int, n_channel: int = 32, stride: int = 16) -> M5:
    """M5 1-D CNN on the raw waveform (torchaudio speech-command tutorial; Dai et al. 2017)."""
    return M5(in_channels, n_classes, n_channel, stride)
