"""Checkpoints: a trained pipeline's weights, front-end and network, in one file.

    save_checkpoint(frontend, model, "runs/best.pt")
    load_checkpoint(frontend, model, "runs/best.pt")   # into freshly built modules

Tensors only, so `torch.load(..., weights_only=True)` reads them without running code.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from harness.errors import HarnessError


def save_checkpoint(frontend: nn.Module, model: nn.Module, path: str | Path) -> Path:
    """Write {"frontend": state_dict, "model": state_dict} (tensors only, loadable with
    weights_only=True): a learned front-end's weights (learned_stft, pcen, sincnet, leaf)
    are half of what was trained; a fixed one's are its buffers (windows, filterbanks)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"frontend": _unwrapped(frontend).state_dict(),
                "model": _unwrapped(model).state_dict()}, path)
    return path


def load_checkpoint(frontend: nn.Module, model: nn.Module, path: str | Path) -> nn.Module:
    """Load a checkpoint written by save_checkpoint into both (any device); returns `model`.

    A file holding the model's state_dict alone (written before front-ends were saved) loads
    into the model when the front-end learns nothing, else HarnessError.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise HarnessError(f"checkpoint {path}: no such file") from None
    if set(state) != {"frontend", "model"}:  # the model's state_dict alone
        if next(frontend.parameters(), None) is not None:
            raise HarnessError(f"checkpoint {path} holds the network's weights only, not the "
                               "learned front-end's: train again with --checkpoint")
        state = {"frontend": _unwrapped(frontend).state_dict(), "model": state}
    _unwrapped(frontend).load_state_dict(state["frontend"])
    _unwrapped(model).load_state_dict(state["model"])
    return model


def _unwrapped(module: nn.Module) -> nn.Module:
    return getattr(module, "_orig_mod", module)  # torch.compile's wrapper holds the original
