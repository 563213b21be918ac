"""MIDNet: a NAFNet U-Net with soft attention gates on the encoder-decoder skips.

Written from Wang et al., "MIDNet: Deblurring Network for Material Microstructure Images"
(CMC 2024), Chen et al., "Simple Baselines for Image Restoration" (NAFNet, ECCV 2022) and
Oktay et al., "Attention U-Net" (2018). Grayscale in, grayscale out, any H x W.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import DEFAULT_POOL_WINDOW, ModelConfig
from .blocks import ChannelPool, LayerNorm2d, Restorer, SimpleGate, count_blocks, pad_to_multiple


class NAFBlock(nn.Module):
    """Activation-free block: norm, 1x1, 3x3 depthwise, SimpleGate, simplified channel
    attention, 1x1, then a gated 1x1 feed-forward; both residuals start at zero."""

    def __init__(self, channels: int, downscale: int = 1):
        super().__init__()
        hidden = channels * 2
        self.norm1 = LayerNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, hidden, 1)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.gate = SimpleGate()
        self.sca = nn.Sequential(ChannelPool(downscale), nn.Conv2d(channels, channels, 1))
        self.conv3 = nn.Conv2d(channels, channels, 1)
        self.norm2 = LayerNorm2d(channels)
        self.conv4 = nn.Conv2d(channels, hidden, 1)
        self.conv5 = nn.Conv2d(channels, channels, 1)
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.gate(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        y = inp + x * self.beta
        x = self.conv5(self.gate(self.conv4(self.norm2(y))))
        return y + x * self.gamma


class AttentionGate(nn.Module):
    """Soft gate on a skip: alpha = sigmoid(psi(relu(Wx skip + Wg g))), returns skip * alpha."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(channels // 2, 1)
        self.w_skip = nn.Conv2d(channels, inner, 1, bias=False)
        self.w_gate = nn.Conv2d(channels, inner, 1)
        self.psi = nn.Conv2d(inner, 1, 1)

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        q = F.relu(self.w_skip(skip) + self.w_gate(gate))
        return skip * torch.sigmoid(self.psi(q))


class UngatedSkip(nn.Module):
    """NAFNet's plain skip in the gate's place (same call, so the forward has no branch)."""

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return skip


class MIDNet(Restorer):
    """U-Net of NAFBlocks with a global input residual; input N x (1 + condition planes) x H x W,
    the image in [0, 1] first, then the blur condition (blur.encode_condition); output N x 1 x H x W."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        c = self.config
        if len(c.enc_blocks) != len(c.dec_blocks):
            raise ValueError("enc_blocks and dec_blocks must have the same length")
        width = c.width
        self.intro = nn.Conv2d(1 + c.condition_planes, width, 3, padding=1)
        self.ending = nn.Conv2d(width, 1, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        for level, count in enumerate(c.enc_blocks):
            self.encoders.append(nn.Sequential(*[NAFBlock(width, 2**level) for _ in range(count)]))
            self.downs.append(nn.Conv2d(width, width * 2, 2, stride=2))
            width *= 2
        levels = len(c.enc_blocks)
        self.middle = nn.Sequential(*[NAFBlock(width, 2**levels) for _ in range(c.middle_blocks)])
        self.ups = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level, count in zip(range(levels - 1, -1, -1), c.dec_blocks):
            self.ups.append(nn.Sequential(nn.Conv2d(width, width * 2, 1, bias=False), nn.PixelShuffle(2)))
            width //= 2
            self.gates.append(AttentionGate(width) if c.attention_gates else UngatedSkip())
            self.decoders.append(nn.Sequential(*[NAFBlock(width, 2**level) for _ in range(count)]))
        self.stride = 2 ** len(c.enc_blocks)
        self.set_pool_window(DEFAULT_POOL_WINDOW)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        height, width = inp.shape[-2:]
        x = pad_to_multiple(inp, self.stride)
        padded = x
        x = self.intro(x)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.middle(x)
        level = len(skips)
        for up, gate, decoder in zip(self.ups, self.gates, self.decoders):
            level -= 1
            x = up(x)
            x = decoder(x + gate(skips[level], x))
        x = self.ending(x) + padded[:, :1]
        return x[..., :height, :width]


def config_from_state(state: dict) -> ModelConfig | None:
    """The configuration a card-less MIDNet state dict was saved from (None if it is not one):
    width from the first conv, block counts from the numbered keys (encoders.<level>.<block>...),
    attention gates from their presence."""
    intro = state.get("intro.weight")
    if intro is None:
        return None
    middle = {key.split(".")[1] for key in state if key.startswith("middle.")}
    return ModelConfig(width=int(intro.shape[0]), enc_blocks=count_blocks(state, "encoders"),
                       middle_blocks=len(middle), dec_blocks=count_blocks(state, "decoders"),
                       attention_gates=any(key.startswith("gates.") for key in state),
                       condition_planes=int(intro.shape[1]) - 1)
