"""MSTSGM: multi-scale temporal-spatial guided model (Pei et al., Signal Processing: Image
Communication; seed 003), a MIMO-UNet-family network.

From the paper's description: a MIMO-UNet base (an encoder-decoder of residual blocks at three
scales, the blurred image also entering at half and quarter size through shallow convolution
modules, an output at every scale, trained with a content + frequency loss at every scale), plus
multi-scale feature decoupling (MSFD), a temporal convolution network (TCN) refining the
bottleneck features, and edge-attention-guided reconstruction (EAGR) in the decoder.
Only the README was at hand, so the modules' insides are chosen here:
- MSFD: each encoder level splits its features into a low band (2x2 mean, upsampled) and the high
  band (the rest), convolves each and adds both back.
- TCN: dilated 1-D convolutions (dilations 1, 2, 4) treating each feature row, then each column,
  as a sequence. An SEM frame is a sequence in fact: the beam scans it row by row, so drift and
  charging vary along it.
- EAGR: a fixed Laplacian of the decoder features, turned into a sigmoid attention that
  reweights those features (x + x * attention).
- Loss: the project's L1 + edge + FFT loss at every scale (content + frequency, as in the family).
ModelConfig: `width` channels at full resolution (doubling per level), `enc_blocks` and
`dec_blocks` residual blocks per level (three levels), `middle_blocks` TCN stages.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .blocks import (
    CoarseToFine,
    ResidualBlock,
    downsample,
    pad_to_multiple,
    ungated_unet_config,
    upsample_to,
    zero_output,
)

LEVELS = 3
TCN_DILATIONS = (1, 2, 4)
_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


class ShallowInput(nn.Module):
    """MIMO-UNet's shallow convolution module: features of a downsampled input."""

    def __init__(self, planes: int, channels: int):
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(planes, channels // 2, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(channels // 2, channels, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


class FeatureFusion(nn.Module):
    """MIMO-UNet's fusion of encoder features with the shallow features: x + conv(x * s)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, shallow: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x * shallow)


class FrequencyDecoupling(nn.Module):
    """MSFD (chosen form): low band and high band convolved apart and added back."""

    def __init__(self, channels: int):
        super().__init__()
        self.low = nn.Conv2d(channels, channels, 3, padding=1)
        self.high = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = upsample_to(F.avg_pool2d(x, 2), x.shape[-2:])
        return x + self.low(low) + self.high(x - low)


class ScanlineTCN(nn.Module):
    """TCN (chosen form): residual dilated 1-D convolutions along rows, then along columns."""

    def __init__(self, channels: int):
        super().__init__()
        self.rows = nn.ModuleList(nn.Conv2d(channels, channels, (1, 3), padding=(0, d), dilation=(1, d))
                                  for d in TCN_DILATIONS)
        self.columns = nn.ModuleList(nn.Conv2d(channels, channels, (3, 1), padding=(d, 0), dilation=(d, 1))
                                     for d in TCN_DILATIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for along_rows, along_columns in zip(self.rows, self.columns):
            x = x + along_columns(F.relu(along_rows(x)))
        return x


class EdgeAttention(nn.Module):
    """EAGR (chosen form): attention from the features' Laplacian magnitude."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("laplacian", torch.tensor(_LAPLACIAN).expand(channels, 1, 3, 3).clone(),
                             persistent=False)
        self.attend = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        edges = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.laplacian.to(x.dtype), groups=x.shape[1])
        return x + x * torch.sigmoid(self.attend(torch.cat([x, edges.abs()], 1)))


def _blocks(channels: int, count: int) -> nn.Sequential:
    return nn.Sequential(*[ResidualBlock(channels) for _ in range(count)])


class MSTSGM(CoarseToFine):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        if len(c.enc_blocks) != LEVELS or len(c.dec_blocks) != LEVELS:
            raise ValueError(f"mstsgm has {LEVELS} levels: enc_blocks and dec_blocks need {LEVELS} counts")
        planes, widths = 1 + c.condition_planes, [c.width * 2**level for level in range(LEVELS)]
        self.head = nn.Conv2d(planes, widths[0], 3, padding=1)
        self.shallow = nn.ModuleList(ShallowInput(planes, w) for w in widths[1:])
        self.fuse = nn.ModuleList(FeatureFusion(w) for w in widths[1:])
        self.decouple = nn.ModuleList(FrequencyDecoupling(w) for w in widths)
        self.encoders = nn.ModuleList(_blocks(w, n) for w, n in zip(widths, c.enc_blocks))
        self.downs = nn.ModuleList(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1) for w in widths[:-1])
        self.tcn = nn.Sequential(*[ScanlineTCN(widths[-1]) for _ in range(c.middle_blocks)])
        self.ups = nn.ModuleList(nn.ConvTranspose2d(2 * w, w, 2, stride=2) for w in reversed(widths[:-1]))
        self.merges = nn.ModuleList(nn.Conv2d(2 * w, w, 1) for w in reversed(widths[:-1]))
        self.edges = nn.ModuleList(EdgeAttention(w) for w in reversed(widths))
        self.decoders = nn.ModuleList(_blocks(w, n) for w, n in zip(reversed(widths), c.dec_blocks))
        self.outs = nn.ModuleList(zero_output(nn.Conv2d(w, 1, 3, padding=1)) for w in reversed(widths))
        self.stride = 2 ** (LEVELS - 1)

    def forward_scales(self, inp: torch.Tensor) -> list[torch.Tensor]:
        height, width = inp.shape[-2:]
        padded = pad_to_multiple(inp, self.stride)
        inputs = [downsample(padded, 2**level) for level in range(LEVELS)]
        x = self.encoders[0](self.decouple[0](self.head(padded)))
        skips = [x]
        for level in range(1, LEVELS):
            x = self.fuse[level - 1](self.downs[level - 1](x), self.shallow[level - 1](inputs[level]))
            x = self.encoders[level](self.decouple[level](x))
            skips.append(x)
        x = self.tcn(x)
        outputs = []
        for index, level in enumerate(range(LEVELS - 1, -1, -1)):
            if index:
                x = self.merges[index - 1](torch.cat([self.ups[index - 1](x), skips[level]], 1))
            x = self.decoders[index](self.edges[index](x))
            outputs.append(self.outs[index](x) + inputs[level][:, :1])
        outputs[-1] = outputs[-1][..., :height, :width]
        return outputs


def config_from_state(state: dict) -> ModelConfig | None:
    if "head.weight" not in state or "shallow.0.convs.0.weight" not in state:
        return None
    stages = {key.split(".")[1] for key in state if key.startswith("tcn.")}
    return ungated_unet_config("mstsgm", state, middle_blocks=len(stages), image_planes=1)
