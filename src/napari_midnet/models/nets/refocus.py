"""SRN and MRN: the single- and multi-scale refocusing networks of "Deep learning-based
discriminative refocusing of scanning electron microscopy images for materials science" (seed 002).

From the paper: SRN is conv, ReLU, residual blocks (16 in the paper), conv, a long skip adding the
first ReLU's output to that conv's output, and a final conv; MRN stacks three SRNs at quarter,
half and full resolution, coarse to fine with upsampling between them, and is trained with a loss
on every scale. Chosen here (the paper does not say): EDSR-style residual blocks (conv, ReLU,
conv, no batch norm), a global residual on the image so an untrained net is the identity, area
downsampling for the coarse inputs, bilinear upsampling of each scale's estimate, which the next
scale receives beside its own blurred input, and no weight sharing between the three SRNs.
ModelConfig: `width` channels, `middle_blocks` residual blocks per SRN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import SINGLE_BODY, ModelConfig
from .blocks import CoarseToFine, ResidualBlock, Restorer, downsample, pad_to_multiple, upsample_to, zero_output

SCALES = 3  # MRN: full, half and quarter resolution


class RefocusBody(nn.Module):
    """One SRN: `planes` input planes to a residual on the image plane."""

    def __init__(self, planes: int, width: int, blocks: int):
        super().__init__()
        self.head = nn.Conv2d(planes, width, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.body_end = nn.Conv2d(width, width, 3, padding=1)
        self.tail = zero_output(nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = F.relu(self.head(x))
        return self.tail(self.body_end(self.body(features)) + features)


class SRN(Restorer):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.net = RefocusBody(1 + config.condition_planes, config.width, config.middle_blocks)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        return self.net(inp) + inp[:, :1]


class MRN(CoarseToFine):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        planes = 1 + config.condition_planes
        self.scales = nn.ModuleList(  # coarsest first; finer ones also see the upsampled estimate
            RefocusBody(planes + (index > 0), config.width, config.middle_blocks) for index in range(SCALES))
        self.stride = 2 ** (SCALES - 1)

    def forward_scales(self, inp: torch.Tensor) -> list[torch.Tensor]:
        height, width = inp.shape[-2:]
        padded = pad_to_multiple(inp, self.stride)
        outputs, estimate = [], None
        for index, net in enumerate(self.scales):
            x = downsample(padded, 2 ** (SCALES - 1 - index))
            planes = x if estimate is None else torch.cat([x, upsample_to(estimate, x.shape[-2:])], 1)
            estimate = net(planes) + x[:, :1]
            outputs.append(estimate)
        outputs[-1] = outputs[-1][..., :height, :width]
        return outputs


def _config_reader(architecture: str, prefix: str):
    """A card-less weights reader for SRN (`net.`) or MRN (`scales.0.`, the first of three)."""

    def read(state: dict) -> ModelConfig | None:
        head = state.get(f"{prefix}head.weight")
        if head is None:
            return None
        blocks = {key[len(prefix):].split(".")[1] for key in state if key.startswith(f"{prefix}body.")}
        return ModelConfig(architecture=architecture, width=int(head.shape[0]), middle_blocks=len(blocks),
                           condition_planes=int(head.shape[1]) - 1, **SINGLE_BODY)

    return read


srn_config_from_state = _config_reader("srn", "net.")
mrn_config_from_state = _config_reader("mrn", "scales.0.")
