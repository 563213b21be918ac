"""Network architectures, one module each, and the registry that builds them.

A new architecture is a module here, an entry in ARCHITECTURES, and presets in config.py whose
ModelConfig names it; weights files record the configuration, so they rebuild themselves.
"""

from __future__ import annotations

from ..config import PRESETS, ModelConfig
from .midnet import MIDNet
from .midnet import config_from_state as midnet_config_from_state

ARCHITECTURES = {"midnet": MIDNet}  # NAFNet is MIDNet without attention gates (a config flag)
CONFIG_READERS = (midnet_config_from_state,)  # each architecture's reader of card-less weights


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


def config_from_state(state: dict) -> ModelConfig | None:
    """The configuration card-less weights were saved from, by the first architecture that knows them."""
    return next((config for read in CONFIG_READERS if (config := read(state)) is not None), None)
