"""Network architectures, one module each, and the registry that builds them.

A new architecture is a module here, an entry in ARCHITECTURES, and presets in config.py whose
ModelConfig names it; weights files record the configuration, so they rebuild themselves.
"""

from __future__ import annotations

from ..config import PRESETS, Architecture, ModelConfig
from . import meddeblur, midnet, mstsgm, physics, refocus
from .midnet import MIDNet

# NAFNet is MIDNet without attention gates (a config flag)
ARCHITECTURES = {Architecture.MIDNET: MIDNet, Architecture.SRN: refocus.SRN, Architecture.MRN: refocus.MRN,
                 Architecture.MSTSGM: mstsgm.MSTSGM, Architecture.MEDDEBLUR: meddeblur.MedDeblur,
                 Architecture.PHYSICS: physics.UnrolledHQS}
CONFIG_READERS = (midnet.config_from_state, refocus.srn_config_from_state, refocus.mrn_config_from_state,
                  mstsgm.config_from_state, meddeblur.config_from_state)  # readers of card-less weights


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


def macs_per_megapixel(model, side: int = 256) -> float:
    """Multiply-accumulates of the convolutions (all but a few element-wise ops) per input
    megapixel at inference, counted on a side x side input (the default tile): the
    architecture's cost, independent of the CPU."""
    import torch
    from torch import nn

    total = 0

    def count(module, inputs, output):
        nonlocal total
        kernel = module.weight.shape[2] * module.weight.shape[3]
        if isinstance(module, nn.ConvTranspose2d):
            total += inputs[0].numel() * module.out_channels // module.groups * kernel
        else:
            total += output.numel() * module.in_channels // module.groups * kernel

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    training = model.training
    try:  # in eval mode: local channel pooling makes the attention's 1x1 convs full-size at inference
        with torch.inference_mode():
            model.eval()(torch.zeros(1, 1 + model.config.condition_planes, side, side))
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return total * 1e6 / side**2
