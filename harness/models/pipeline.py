"""Pairing a front-end with a model (`build_pipeline`), and the input a model is listed on."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError
from harness.frontends import Frontend, create_frontend, list_frontends
from harness.models.base import MODELS, create_model, list_models

_RANKS = {1: "waveforms (C, T)", 2: "spectrograms (C, F, T')"}  # by input_dims


def input_dims(model: str) -> int:
    """Rank of one example `model` takes: 2 for (C, F, T'), 1 for (C, T)."""
    # Built on the meta device: no memory, no init cost, no draw from the global RNG.
    with torch.device("meta"):
        return create_model(model, in_channels=1, n_classes=2).input_dims


def default_frontend(model: str) -> tuple[str, dict[str, Any]]:
    """The front-end (name, options) `model` is listed and costed on: its registry entry's
    (its paper's input), else `complex` at its defaults, or `waveform` for a 1-D model."""
    info = MODELS.info(model)
    if info.frontend:
        return info.frontend, dict(info.frontend_opts)
    return ("waveform" if input_dims(model) == 1 else "complex"), {}


def takes_input_shape(model: str) -> bool:
    """Whether `model`'s factory takes `input_shape`: the (F, T') or (T,) it is sized to."""
    return "input_shape" in inspect.signature(MODELS.get(model)).parameters


def build_pipeline(frontend: str, model: str, n_classes: int,
                   frontend_opts: dict[str, Any] | None = None,
                   model_opts: dict[str, Any] | None = None,
                   n_samples: int = 16000) -> tuple[Frontend, nn.Module]:
    """Front-end `frontend` and model `model` sized to its output, or a HarnessError.

    Fails before any training when the model cannot take the front-end's output: the
    wrong rank (a 2-D model on `waveform`, `m5` on a spectrogram) names both and what to
    use instead; features smaller than the model's `min_input` say which option to change.
    A model whose factory takes `input_shape` (a transformer's token count, a 1-D
    network's flattened features) is built for the front-end's (F, T') unless given one.
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
    if takes_input_shape(model) and "input_shape" not in kwargs:
        kwargs["input_shape"] = shape[1:]  # token count, flattened features, sub-bands
    return fe, create_model(model, **kwargs)
