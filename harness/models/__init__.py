"""Networks, registered by name; each maps front-end features to (B, n_classes) logits.

    model = create_model("seed_cnn", in_channels=2, n_classes=30, width=0.25)
    frontend, model = build_pipeline("complex", "seed_cnn", n_classes=30)
    list_models("res*")               # ['res15', 'res8']

A model declares the rank of one example it takes in `input_dims`: 2 for spectrograms
(B, C, F, T'), 1 for waveforms (B, C, T); and may declare the smallest example it takes
in `min_input`, (F, T') or (T,). `build_pipeline` checks both against the front-end
before anything trains, sizes the first layer to the front-end's channels, and passes
the front-end's (F, T') to a factory that takes `input_shape` (docs/architecture.md,
"The model contract").

Adding a model: one `@register_model` factory taking `in_channels`, `n_classes` and
keyword options; its docstring's first line (with its source) is its description, and
`frontend=`/`frontend_opts=` on the entry name its paper's input.

The package holds one file per family: `base` (the registry), `seed` (the reference
CNN), `honk` (res8/res15), `m5` (raw waveform), the compact KWS networks `bcresnet`,
`matchboxnet` and `kwt`, and `pipeline` (pairing a front-end with a model). Importing
the package registers every entry.
"""

from harness.models.base import MODELS, create_model, list_models, register_model
from harness.models.bcresnet import BCResNet
from harness.models.cost import count_macs  # re-exported: its home is harness.models.cost
from harness.models.honk import ResKWS
from harness.models.kwt import KWT
from harness.models.m5 import M5
from harness.models.matchboxnet import MatchboxNet
from harness.models.pipeline import (
    build_pipeline,
    default_frontend,
    input_dims,
    takes_input_shape,
)
from harness.models.seed import SeedCNN

__all__ = [
    "KWT", "M5", "MODELS", "BCResNet", "MatchboxNet", "ResKWS", "SeedCNN", "build_pipeline",
    "count_macs", "create_model", "default_frontend", "input_dims", "list_models",
    "register_model", "takes_input_shape",
]
