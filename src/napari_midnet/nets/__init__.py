"""Network architectures, one module each, and the registry that builds them.

A new architecture is a module here, an entry in ARCHITECTURES, and presets in config.py whose
ModelConfig names it; weights files record the configuration, so they rebuild themselves.
"""

from __future__ import annotations

from ..config import PRESETS, ModelConfig
from .midnet import MIDNet

ARCHITECTURES = {"midnet": MIDNet}  # NAFNet is MIDNet without attention gates (a config flag)


def build_model(preset_or_config: str | ModelConfig):
    """A freshly initialised network for a preset name or an explicit configuration."""
    if isinstance(preset_or_config, ModelConfig):
        config = preset_or_config
    elif preset_or_config in PRESETS:
        config = PRESETS[preset_or_config].config
    else:
        raise ValueError(f"unknown preset {preset_or_config!r}; choose one of {', '.join(PRESETS)}")
    if config.architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {config.architecture!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[config.architecture](config)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
