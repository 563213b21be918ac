"""MIDNet: a NAFNet U-Net with soft attention gates on the encoder-decoder skips.

Written from Wang et al., "MIDNet: Deblurring Network for Material Microstructure Images"
(CMC 2024), Chen et al., "Simple Baselines for Image Restoration" (NAFNet, ECCV 2022) and
Oktay et al., "Attention U-Net" (2018). Grayscale in, grayscale out, any H x W.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from ..config import DEFAULT_POOL_WINDOW, ModelConfig


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """NAFNet's activation replacement: split channels in half and multiply."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class ChannelPool(nn.Module):
    """Simplified channel attention's pooling: the global mean in training, and at inference
    (when `window` is set) the mean over a local window around each pixel, as in TLC (Chu et
    al., 2022). Training crops are smaller than the window, so both agree there; on large images
    local statistics make the result independent of how the image is tiled."""

    def __init__(self):
        super().__init__()
        self.window: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.training or self.window is None or (height <= self.window and width <= self.window):
            return x.mean((2, 3), keepdim=True)
        return box_mean(x, self.window)


def box_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean over a window x window box per pixel (shifted inward at the borders), via an
    integral image: O(H W) whatever the window."""
    height, width = x.shape[-2:]
    box_h, box_w = min(window, height), min(window, width)
    integral = F.pad(x.float(), (1, 0, 1, 0)).cumsum(2).cumsum(3)
    top = (torch.arange(height, device=x.device) - box_h // 2).clamp(0, height - box_h)
    left = (torch.arange(width, device=x.device) - box_w // 2).clamp(0, width - box_w)
    bottom, right = top + box_h, left + box_w

    def corner(rows, cols):
        return integral.index_select(2, rows).index_select(3, cols)

    total = corner(bottom, right) - corner(top, right) - corner(bottom, left) + corner(top, left)
    return (total / (box_h * box_w)).to(x.dtype)


class NAFBlock(nn.Module):
    """Activation-free block: norm, 1x1, 3x3 depthwise, SimpleGate, simplified channel
    attention, 1x1, then a gated 1x1 feed-forward; both residuals start at zero."""

    def __init__(self, channels: int):
        super().__init__()
        hidden = channels * 2
        self.norm1 = LayerNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, hidden, 1)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.gate = SimpleGate()
        self.sca = nn.Sequential(ChannelPool(), nn.Conv2d(channels, channels, 1))
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


class MIDNet(nn.Module):
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
        for count in c.enc_blocks:
            self.encoders.append(nn.Sequential(*[NAFBlock(width) for _ in range(count)]))
            self.downs.append(nn.Conv2d(width, width * 2, 2, stride=2))
            width *= 2
        self.middle = nn.Sequential(*[NAFBlock(width) for _ in range(c.middle_blocks)])
        self.ups = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for count in c.dec_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(width, width * 2, 1, bias=False), nn.PixelShuffle(2)))
            width //= 2
            self.gates.append(AttentionGate(width) if c.attention_gates else nn.Identity())
            self.decoders.append(nn.Sequential(*[NAFBlock(width) for _ in range(count)]))
        self.stride = 2 ** len(c.enc_blocks)
        self.set_pool_window(DEFAULT_POOL_WINDOW)

    def set_pool_window(self, window: int | None) -> None:
        """Local channel-attention window at full resolution (halved per level); None: global."""
        levels = [(encoder, level) for level, encoder in enumerate(self.encoders)]
        levels += [(self.middle, len(self.encoders))]
        levels += [(decoder, len(self.decoders) - 1 - level) for level, decoder in enumerate(self.decoders)]
        for blocks, level in levels:
            for module in blocks.modules():
                if isinstance(module, ChannelPool):
                    module.window = None if window is None else max(window >> level, 4)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        height, width = inp.shape[-2:]
        x = _pad_to_multiple(inp, self.stride)
        padded = x
        x = self.intro(x)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.middle(x)
        for up, gate, decoder, skip in zip(self.ups, self.gates, self.decoders, reversed(skips)):
            x = up(x)
            gated = gate(skip, x) if self.config.attention_gates else skip
            x = decoder(x + gated)
        x = self.ending(x) + padded[:, :1]
        return x[..., :height, :width]


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad bottom/right to the network stride (replicate where the image is too small)."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def config_from_state(state: dict) -> ModelConfig | None:
    """The configuration a card-less MIDNet state dict was saved from (None if it is not one):
    width from the first conv, block counts from the numbered keys (encoders.<level>.<block>...),
    attention gates from their presence."""
    intro = state.get("intro.weight")
    if intro is None:
        return None

    def blocks(prefix: str) -> tuple[int, ...]:
        found: dict[int, set] = {}
        for key in state:
            match = re.match(rf"{prefix}\.(\d+)\.(\d+)\.", key)
            if match:
                found.setdefault(int(match[1]), set()).add(int(match[2]))
        return tuple(len(found[level]) for level in sorted(found))

    middle = {int(m[1]) for key in state if (m := re.match(r"middle\.(\d+)\.", key))}
    return ModelConfig(width=int(intro.shape[0]), enc_blocks=blocks("encoders"), middle_blocks=len(middle),
                       dec_blocks=blocks("decoders"), attention_gates=any(key.startswith("gates.") for key in state),
                       condition_planes=int(intro.shape[1]) - 1)
