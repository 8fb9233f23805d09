"""Networks, registered by name; each maps front-end features to (B, n_classes) logits.

    model = create_model("seed_cnn", in_channels=2, n_classes=30, width=0.25)
    frontend, model = build_pipeline("complex", "seed_cnn", n_classes=30)
    list_models("res*")               # ['res15', 'res8']

A model declares the rank of one example it takes in `input_dims`: 2 for spectrograms
(B, C, F, T'), 1 for waveforms (B, C, T); and may declare the smallest example it takes
in `min_input`, (F, T') or (T,). `build_pipeline` checks both against the front-end
before anything trains, and sizes the first layer to the front-end's channels.

Adding a model: one `@register_model` factory taking `in_channels`, `n_classes` and
keyword options; its docstring's first line (with its source) is its description.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.errors import HarnessError
from harness.frontends import STUDY_SOURCE, Frontend, create_frontend, list_frontends
from harness.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")
register_model = MODELS.register
list_models = MODELS.list


def create_model(name: str, *, in_channels: int, n_classes: int, **kwargs: Any) -> nn.Module:
    """Build the model `name`; unknown names and options raise HarnessError."""
    return MODELS.create(name, in_channels=in_channels, n_classes=n_classes, **kwargs)


# --- seed_cnn: the reference study's network ------------------------------------

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


# --- res8 / res15: Tang & Lin 2018, "Deep Residual Learning for Small-Footprint KWS" ---

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


@register_model(family="resnet", source=HONK)
def res8(in_channels: int, n_classes: int, n_maps: int = 45,
         pool: Sequence[int] = (3, 4)) -> ResKWS:
    """Honk res8 (Tang & Lin 2018): 45 maps, 6 residual layers, 4x3 average pool."""
    return ResKWS(in_channels, n_classes, n_maps, n_layers=6, pool=pool)


@register_model(family="resnet", source=HONK)
def res15(in_channels: int, n_classes: int, n_maps: int = 45) -> ResKWS:
    """Honk res15 (Tang & Lin 2018): 45 maps, 13 dilated residual layers, no pooling."""
    return ResKWS(in_channels, n_classes, n_maps, n_layers=13, dilation=True)


# --- m5: raw-waveform 1-D CNN ---------------------------------------------------------

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


# --- pairing a front-end with a model -----------------------------------------------

_RANKS = {1: "waveforms (C, T)", 2: "spectrograms (C, F, T')"}  # by input_dims


def input_dims(model: str) -> int:
    """Rank of one example `model` takes: 2 for (C, F, T'), 1 for (C, T)."""
    # Built on the meta device: no memory, no init cost, no draw from the global RNG.
    with torch.device("meta"):
        return create_model(model, in_channels=1, n_classes=2).input_dims


def build_pipeline(frontend: str, model: str, n_classes: int,
                   frontend_opts: dict[str, Any] | None = None,
                   model_opts: dict[str, Any] | None = None,
                   n_samples: int = 16000) -> tuple[Frontend, nn.Module]:
    """Front-end `frontend` and model `model` sized to its output, or a HarnessError.

    Fails before any training when the model cannot take the front-end's output: the
    wrong rank (a 2-D model on `waveform`, `m5` on a spectrogram) names both and what to
    use instead; features smaller than the model's `min_input` say which option to change.
    """
    fe = create_frontend(frontend, **(frontend_opts or {}))
    shape = fe.output_shape(n_samples)
    kwargs = dict(in_channels=fe.channels, n_classes=n_classes, **(model_opts or {}))
    with torch.device("meta"):  # checks the options and reads the model's needs for free
        probe = create_model(model, **kwargs)
    rank = len(shape) - 1
    if probe.input_dims != rank:
        models = [m for m in list_models() if input_dims(m) == rank]
        fe_dims = {f: len(create_frontend(f).output_shape()) - 1 for f in list_frontends()}
        frontends = [f for f, dims in fe_dims.items() if dims == probe.input_dims]
        raise HarnessError(
            f"model {model!r} takes {_RANKS[probe.input_dims]} but front-end {frontend!r} "
            f"gives {_RANKS[rank]}, {shape} per clip; use model {model!r} with front-end "
            f"{' | '.join(frontends)}, or front-end {frontend!r} with model {' | '.join(models)}"
        )
    min_input = getattr(probe, "min_input", None)
    if min_input and any(n < m for n, m in zip(shape[1:], min_input, strict=True)):
        raise HarnessError(
            f"front-end {frontend!r} gives {shape} per clip, smaller than model {model!r}'s "
            f"minimum {min_input} (after the channel dim); use a longer clip, more bins "
            f"(n_mels, n_mfcc, n_fft), a smaller hop_length"
            + (f", or {probe.min_input_fix}" if getattr(probe, "min_input_fix", "") else "")
        )
    return fe, create_model(model, **kwargs)


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass of `model` on one example of `input_shape`
    ((C, F, T') or (C, T)), counted by torch.utils.flop_counter (FLOPs / 2), in eval mode.

    The counter sees matmuls and convolutions, which is where the compute is; elementwise
    work (BatchNorm, ReLU, pooling) is not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        x = torch.zeros(1, *input_shape, device=param.device if param is not None else "cpu")
        with FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2

