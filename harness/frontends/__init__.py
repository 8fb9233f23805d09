"""Front-ends: a batch of waveforms (B, T) -> features (B, C, F, T'), registered by name.

    fe = create_frontend("complex", n_fft=1024)
    feats = fe(wave)                  # (B, 16000) float32 in [-1, 1] -> (B, 2, 513, 101)
    fe.output_shape(16000)            # (2, 513, 101); fe.channels == 2
    list_frontends("log*")            # ['log1p_magnitude', 'log_mel', 'log_power']

The STFT family and its defaults (the reference study's) are described in `stft`.

Adding a front-end: one factory below, decorated `@register_stft_frontend(family)` if it
takes the STFT options (`**stft`), else `@register_frontend(family=...)`; its docstring's
first line is its description in `harness list frontends`, its family ("magnitude":
phase discarded, "complex": phase kept) decides which side of the report's finding it is,
and `learns=True` marks one whose parameters train with the model.

The package holds one file per family: `base` (the registry and the `Frontend` module),
`stft` (the fixed STFT family and its shared options), `waveform` (the raw clip),
`learnable` (learned_stft, pcen), `filterbanks` (sincnet, leaf).
Importing the package registers every entry.
"""

from harness.frontends.base import (
    FRONTENDS,
    SAMPLE_RATE,
    STUDY_SOURCE,
    Frontend,
    FrontendFn,
    create_frontend,
    list_frontends,
    register_frontend,
)
from harness.frontends.filterbanks import leaf, sincnet
from harness.frontends.learnable import PCEN, STFTConv, learned_stft, pcen
from harness.frontends.stft import STFT_DEFAULTS, WINDOWS, register_stft_frontend
from harness.frontends.waveform import waveform

__all__ = [
    "FRONTENDS", "PCEN", "SAMPLE_RATE", "STFT_DEFAULTS", "STUDY_SOURCE", "WINDOWS", "Frontend",
    "FrontendFn", "STFTConv", "create_frontend", "leaf", "learned_stft", "list_frontends",
    "pcen", "register_frontend", "register_stft_frontend", "sincnet", "waveform",
]
