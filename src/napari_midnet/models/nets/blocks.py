"""Building blocks shared by the architectures, and the interface every architecture keeps.

Every network is a `Restorer`: N x (1 + condition planes) x H x W in (the image in [0, 1] first,
then the blur condition of condition.condition_planes), N x 1 x H x W out, any H x W. Coarse-to-fine
networks also give their coarser outputs (`forward_scales`), which training scores at every scale.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig


class Restorer(nn.Module):
    """What the tiler, the trainer and the weights loader need of an architecture
    (`models.weights.RestoringModel`): it takes tiles."""

    restores_whole_planes = False

    def forward_scales(self, inp: torch.Tensor) -> list[torch.Tensor]:
        """The outputs from coarse to fine; the last is `forward`'s. One for single-scale nets."""
        return [self(inp)]

    def set_pool_window(self, window: int | None) -> None:
        """Local channel-attention window in full-resolution pixels (None: global pooling)."""
        for module in self.modules():
            if isinstance(module, ChannelPool):
                module.window = None if window is None else max(window // module.downscale, 4)


class CoarseToFine(Restorer):
    """A multi-scale network: subclasses give `forward_scales`; the finest output is the result."""

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        return self.forward_scales(inp)[-1]


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor: F.layer_norm on the NHWC view, one
    fused kernel (2-4x faster here than mean and variance ops; on a channels-last tensor the
    view is contiguous), the same numbers to 1e-6."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.layer_norm(x.permute(0, 2, 3, 1), self.weight.shape, self.weight, self.bias, self.eps)
        return normed.permute(0, 3, 1, 2)


class SimpleGate(nn.Module):
    """NAFNet's activation replacement: split channels in half and multiply."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class ChannelPool(nn.Module):
    """Channel attention's pooling: the global mean in training, and at inference (when `window`
    is set) the mean over a local window around each pixel, as in TLC (Chu et al., 2022).
    Training crops are smaller than the window, so both agree there; on large images local
    statistics make the result independent of how the image is tiled. `downscale`: how much
    smaller than the input this block's feature maps are (the window shrinks with them)."""

    def __init__(self, downscale: int = 1):
        super().__init__()
        self.downscale = downscale
        self.window: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if self.training or self.window is None or (height <= self.window and width <= self.window):
            return x.mean((2, 3), keepdim=True)
        return box_mean(x, self.window)


def box_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean over a window x window box per pixel, the box shifted inward at the borders: the
    box sums where the box fits whole (running sums along rows, then columns), edge-replicated
    back to full size. O(H W) whatever the window, and plain slicing (scriptable, exportable)."""
    height, width = x.shape[-2], x.shape[-1]
    box_h, box_w = min(window, height), min(window, width)
    sums = _sums_where_box_fits(_sums_where_box_fits(x.float(), box_h, 2), box_w, 3)
    sums = F.pad(sums, [box_w // 2, box_w - 1 - box_w // 2, box_h // 2, box_h - 1 - box_h // 2], mode="replicate")
    return (sums / (box_h * box_w)).to(x.dtype)


def _sums_where_box_fits(x: torch.Tensor, box: int, dim: int) -> torch.Tensor:
    """Sums of `box` consecutive values along `dim` (2 or 3), one per position the box fits."""
    lead = [0, 0, 1, 0] if dim == 2 else [1, 0, 0, 0]
    running = F.pad(x, lead).cumsum(dim)
    fits = x.shape[dim] - box + 1
    return running.narrow(dim, box, fits) - running.narrow(dim, 0, fits)


class ResidualBlock(nn.Module):
    """conv 3x3, ReLU, conv 3x3, plus the input (EDSR-style, no normalisation)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ResidualDenseBlock(nn.Module):
    """Zhang et al. 2018: each 3x3 conv + ReLU sees all earlier features (dense), a 1x1 conv
    fuses them back to `channels`, plus the input (residual)."""

    def __init__(self, channels: int, growth: int, layers: int = 3):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Conv2d(channels + index * growth, growth, 3, padding=1) for index in range(layers))
        self.fuse = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(F.relu(layer(torch.cat(features, 1))))
        return x + self.fuse(torch.cat(features, 1))


def zero_output(conv: nn.Conv2d) -> nn.Conv2d:
    """An output conv starting at zero: with the global residual, an untrained net is the
    identity (as MIDNet's zero-init residual scales make it), so training starts from no harm."""
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad bottom/right to the network stride (replicate where the image is too small)."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Area (mean) downsampling by an integer factor: the multi-scale inputs."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def upsample_to(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def ungated_unet_config(architecture: str, state: dict, middle_blocks: int, image_planes: int) -> ModelConfig:
    """The ModelConfig of card-less weights of a U-Net without attention gates (MSTSGM,
    MedDeblur): width and condition planes from `head.weight`, blocks per level from the keys.
    `image_planes`: input planes before the condition (MedDeblur's recurrence adds one)."""
    head = state["head.weight"]
    return ModelConfig(architecture=architecture, width=int(head.shape[0]), enc_blocks=count_blocks(state, "encoders"),
                       middle_blocks=middle_blocks, dec_blocks=count_blocks(state, "decoders"),
                       attention_gates=False, condition_planes=int(head.shape[1]) - image_planes)


def count_blocks(state: dict, prefix: str) -> tuple[int, ...]:
    """Blocks per level in card-less weights, from keys `<prefix>.<level>.<block>.`."""
    found: dict[int, set] = {}
    for key in state:
        match = re.match(rf"{re.escape(prefix)}\.(\d+)\.(\d+)\.", key)
        if match:
            found.setdefault(int(match[1]), set()).add(int(match[2]))
    return tuple(len(found[level]) for level in sorted(found))
