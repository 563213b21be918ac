"""MedDeblur: "Medical Image Deblurring with Residual Dense Spatial-Asymmetric Attention"
(Sharif et al., Mathematics 2023; seed 004).

From the paper: a scale-recurrent network (Tao et al. 2018) over three scales with its weights
shared across them, each scale's deblurred output upsampled into the next, a (ConvLSTM) hidden
state carried from coarse to fine, and an encoder-decoder with skip connections whose blocks are
RD-SAM: a residual dense block followed by spatial-asymmetric attention, i.e. vertical and
horizontal asymmetric convolutions, each pooled over channels (mean and max), a square conv and
a sigmoid (F_V, F_H, summed), and a squeeze-excitation global descriptor F_G.
Chosen here (the paper leaves it open): three dense layers of growth width/2 per block, 3x1 and 1x3
asymmetric convs, one 5x5 square conv shared by both directions, the refined features
x + x * (F_V + F_H) / 2 * F_G, three encoder levels joined by stride-2 convs, additive skips, the
ConvLSTM at the bottleneck, area downsampling of the inputs and a global residual on the image.
ModelConfig: `width` channels (doubling per level), `enc_blocks`/`dec_blocks` RD-SAM blocks per level.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .blocks import (
    ChannelPool,
    CoarseToFine,
    ResidualDenseBlock,
    downsample,
    pad_to_multiple,
    ungated_unet_config,
    upsample_to,
    zero_output,
)

SCALES = 3
LEVELS = 3
SQUARE_KERNEL = 5


class SpatialAsymmetricAttention(nn.Module):
    def __init__(self, channels: int, downscale: int):
        super().__init__()
        self.vertical = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0))
        self.horizontal = nn.Conv2d(channels, channels, (1, 3), padding=(0, 1))
        self.square = nn.Conv2d(2, 1, SQUARE_KERNEL, padding=SQUARE_KERNEL // 2)
        reduced = max(channels // 4, 4)
        self.descriptor = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), ChannelPool(downscale),
                                        nn.Conv2d(channels, reduced, 1), nn.ReLU(), nn.Conv2d(reduced, channels, 1),
                                        nn.Sigmoid())

    def _directional(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return torch.sigmoid(self.square(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = self._directional(self.vertical(x)) + self._directional(self.horizontal(x))
        return x + x * spatial * 0.5 * self.descriptor(x)


class RDSAM(nn.Module):
    def __init__(self, channels: int, downscale: int):
        super().__init__()
        self.dense = ResidualDenseBlock(channels, max(channels // 2, 4))
        self.attention = SpatialAsymmetricAttention(channels, downscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.dense(x))


class ConvLSTM(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.gates = nn.Conv2d(2 * channels, 4 * channels, 3, padding=1)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None):
        hidden, cell = state if state is not None else (torch.zeros_like(x), torch.zeros_like(x))
        i, f, o, g = self.gates(torch.cat([x, hidden], 1)).chunk(4, 1)
        cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
        hidden = torch.sigmoid(o) * torch.tanh(cell)
        return hidden, cell


def _blocks(channels: int, count: int, downscale: int) -> nn.Sequential:
    return nn.Sequential(*[RDSAM(channels, downscale) for _ in range(count)])


class MedDeblur(CoarseToFine):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        if len(c.enc_blocks) != LEVELS or len(c.dec_blocks) != LEVELS:
            raise ValueError(f"meddeblur has {LEVELS} levels: enc_blocks and dec_blocks need {LEVELS} counts")
        widths = [c.width * 2**level for level in range(LEVELS)]
        self.head = nn.Conv2d(2 + c.condition_planes, widths[0], 3, padding=1)  # the planes + the last estimate
        self.encoders = nn.ModuleList(_blocks(w, n, 2**level) for level, (w, n) in enumerate(zip(widths, c.enc_blocks)))
        self.downs = nn.ModuleList(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1) for w in widths[:-1])
        self.cell = ConvLSTM(widths[-1])
        self.decoders = nn.ModuleList(_blocks(w, n, 2**level) for level, w, n
                                      in zip(range(LEVELS - 1, -1, -1), reversed(widths), c.dec_blocks))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(2 * w, w, 2, stride=2) for w in reversed(widths[:-1]))
        self.tail = zero_output(nn.Conv2d(widths[0], 1, 3, padding=1))
        self.stride = 2 ** (SCALES - 1 + LEVELS - 1)

    def forward_scales(self, inp: torch.Tensor) -> list[torch.Tensor]:
        height, width = inp.shape[-2:]
        padded = pad_to_multiple(inp, self.stride)
        outputs, state = [], None
        for scale in range(SCALES - 1, -1, -1):
            x = downsample(padded, 2**scale)
            estimate = x[:, :1] if not outputs else upsample_to(outputs[-1], x.shape[-2:])
            features = self.encoders[0](self.head(torch.cat([x, estimate], 1)))
            skips = [features]
            for down, encoder in zip(self.downs, self.encoders[1:]):
                features = encoder(down(features))
                skips.append(features)
            if state is not None:
                state = tuple(upsample_to(s, features.shape[-2:]) for s in state)
            state = self.cell(features, state)
            features = self.decoders[0](state[0])
            for up, decoder, skip in zip(self.ups, self.decoders[1:], reversed(skips[:-1])):
                features = decoder(up(features) + skip)
            outputs.append(self.tail(features) + x[:, :1])
        outputs[-1] = outputs[-1][..., :height, :width]
        return outputs


def config_from_state(state: dict) -> ModelConfig | None:
    if "head.weight" not in state or "cell.gates.weight" not in state:
        return None
    return ungated_unet_config("meddeblur", state, middle_blocks=0, image_planes=2)  # the image and the estimate
