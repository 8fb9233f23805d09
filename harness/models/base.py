"""The model registry: `@register_model` factories taking in_channels and n_classes."""

from __future__ import annotations

from typing import Any

from torch import nn

from harness.registry import Registry

MODELS: Registry[nn.Module] = Registry("model")
register_model = MODELS.register
list_models = MODELS.list


def create_model(name: str, *, in_channels: int, n_classes: int, **kwargs: Any) -> nn.Module:
    """Build the model `name`; unknown names and options raise HarnessError."""
    return MODELS.create(name, in_channels=in_channels, n_classes=n_classes, **kwargs)
