"""Restoring by the physics: half-quadratic splitting unrolled into a few stages, each an exact
data step with the identified spot (closed form in the Fourier domain) followed by a MIDNet prior
step told the stage's noise level, the prior's weights shared by every stage (USRNet, Zhang, Van
Gool, Timofte, CVPR 2020; DPIR, Zhang et al., TPAMI 2021).

The network never learns to invert a spot: the data step applies the forward model y = k * x + n
exactly, so a spot it never met in training is undone as well as one it did, and the prior only
learns what a sharp SEM frame looks like. It is a kernel-aware model like `midnet-s-psf` (the same
input planes: the image, then `restoration.condition`'s planes), so the tiler, the ensemble and
the focus map serve it unchanged: each tile is deconvolved block by block with each block's mean
spot (a focus edge or a tilted sample inside one tile), the blocks blended bilinearly.

The output is one last data step that leaves every frequency the spot did not attenuate as it was
measured (the prior fills in only what the blur took), so a 0-px spot gives the input back
exactly, at any noise level: a deblurrer, not a denoiser.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import CONDITION_PLANES, Architecture, ModelConfig
from .blocks import Restorer
from .midnet import MIDNet

# The noise levels the prior is told, stage by stage: log-spaced from PRIOR_NOISE_START down to
# the frame's noise (never below PRIOR_NOISE_END). Below PRIOR_NOISE_END the last data step leans
# on the measured frame, not the prior: a clean in-focus frame comes back as it was.
PRIOR_NOISE_START = 0.1
PRIOR_NOISE_END = 0.01
DATA_PAD = 32  # px reflected around a tile before the FFTs (a spot's wrap-around stays outside)
NOISE_PLANE_SCALE = 10.0  # the prior's noise-level plane: beta x this (near [0, 1])
# The largest side deconvolved with one spot: a training crop is one block, a 384-px tile three by
# three, so a sharp half beside a blurred one is not deconvolved with their mean (half-sharp check).
SPOT_BLOCK = 160


def spot_from_condition(condition: torch.Tensor, blocks: tuple[int, int] = (1, 1)
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """((N, 3, *blocks): the mean sxx, sxy, syy of each block's spot in px^2, (N,): the noise
    std) from the first four condition planes (`restoration.condition.encode_spot`, inverted)."""
    size, astig_a, astig_b, noise = condition[:, 0], condition[:, 1], condition[:, 2], condition[:, 3]
    rms = torch.exp2(4 * size) - 1
    trace = 2 * rms * rms
    sxx = (trace + astig_a * (trace + 1)) / 2
    syy = (trace - astig_a * (trace + 1)) / 2
    sxy = astig_b * (trace + 1) / 2
    covariance = F.adaptive_avg_pool2d(torch.stack([sxx, sxy, syy], 1), blocks)
    return covariance, noise.mean(dim=(1, 2)) / 20.0


def spot_varies(covariance: torch.Tensor) -> bool:
    """Whether the blocks' spots (N, 3, By, Bx) differ by more than 2 % of their size (+0.02 px^2)."""
    mean = covariance.mean(dim=(2, 3), keepdim=True)
    tolerance = 0.02 * (mean[:, 0] + mean[:, 2]).abs().amax() + 0.02
    return bool((covariance - mean).abs().amax() > tolerance)


def block_weights(blocks: tuple[int, int], shape: tuple[int, int], pad: int, like: torch.Tensor) -> torch.Tensor:
    """(blocks[0] * blocks[1], H + 2 pad, W + 2 pad): each block's share of every pixel, bilinear
    between block centres (a partition of unity), constant over the reflected margin."""
    count = blocks[0] * blocks[1]
    one_hot = torch.eye(count, dtype=like.dtype, device=like.device).reshape(count, 1, *blocks)
    weights = F.interpolate(one_hot, size=shape, mode="bilinear", align_corners=False)
    return F.pad(weights, (pad, pad, pad, pad), mode="replicate")[:, 0]


def transfer_function(covariance: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(N, ..., H, W//2+1) for covariances (N, 3, ...): a Gaussian spot's MTF exp(-2 pi^2 f^T C f),
    real and positive."""
    fy = torch.fft.fftfreq(shape[0], device=covariance.device)[:, None]
    fx = torch.fft.rfftfreq(shape[1], device=covariance.device)[None, :]
    sxx, sxy, syy = (covariance[:, i, ..., None, None] for i in range(3))
    return torch.exp(-2 * math.pi**2 * (sxx * fx * fx + 2 * sxy * fx * fy + syy * fy * fy))


def data_step(measured_spectrum: torch.Tensor, mtf: torch.Tensor, estimate: torch.Tensor, alpha: torch.Tensor,
              shape: tuple[int, int], weights: torch.Tensor | None = None, keep_intact: bool = False) -> torch.Tensor:
    """argmin_x |y - k*x|^2 + alpha |x - z|^2 in closed form, (K Y + alpha Z) / (K^2 + alpha), for
    each block's MTF (N, B, ...) and the results blended by `weights` (B, H, W) when B > 1.
    `keep_intact`: alpha x (1 - K^2) per frequency, so what the blur left intact is the measurement's
    (noise and grain included: a deblurrer, not a denoiser) and what it took is the prior's."""
    alpha = alpha[:, None, None, None]
    if keep_intact:
        alpha = alpha * (1 - mtf**2)
    numerator = mtf * measured_spectrum + alpha * torch.fft.rfft2(estimate)
    restored = torch.fft.irfft2(numerator / (mtf**2 + alpha), s=shape)
    return restored if weights is None else (restored * weights).sum(1, keepdim=True)


class UnrolledHQS(Restorer):
    """`stages` prior steps between exact data steps; config.width etc. size the MIDNet prior
    (which takes the estimate and a noise-level plane), config.condition_planes is the kernel-aware
    input every deblur hands it."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig(architecture=Architecture.PHYSICS, condition_planes=CONDITION_PLANES)
        c = self.config
        if c.condition_planes < 4:
            raise ValueError("the physics restorer reads the spot from the kernel-aware condition planes")
        self.prior = MIDNet(ModelConfig(width=c.width, enc_blocks=c.enc_blocks, middle_blocks=c.middle_blocks,
                                        dec_blocks=c.dec_blocks, attention_gates=c.attention_gates,
                                        condition_planes=1))
        self.stride = self.prior.stride
        # alpha = weight x noise^2 / beta^2 (DPIR's lambda), learned in log form; 0.23 as DPIR starts
        self.log_weight = nn.Parameter(torch.full((1,), math.log(0.23)))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        height, width = inp.shape[-2:]
        blocks = (math.ceil(height / SPOT_BLOCK), math.ceil(width / SPOT_BLOCK))
        covariance, noise = spot_from_condition(inp[:, 1:5], blocks)
        if blocks != (1, 1) and not spot_varies(covariance):  # one spot (a frame's estimate, --blur): one step
            covariance = covariance.mean(dim=(2, 3), keepdim=True)
        pad = min(DATA_PAD, height - 1, width - 1)
        measured = F.pad(inp[:, :1], (pad, pad, pad, pad), mode="reflect")
        shape = measured.shape[-2:]
        mtf = transfer_function(covariance.flatten(2), shape)
        weights = block_weights(blocks, (height, width), pad, inp) if mtf.shape[1] > 1 else None
        spectrum = torch.fft.rfft2(measured)
        noise = noise.clamp_min(1e-4)
        weight = self.log_weight.exp()
        final = noise.clamp_min(PRIOR_NOISE_END)
        estimate = measured
        for stage in range(self.config.stages):
            fraction = stage / max(self.config.stages - 1, 1)
            beta = PRIOR_NOISE_START ** (1 - fraction) * final**fraction
            estimate = data_step(spectrum, mtf, estimate, weight * noise**2 / beta**2, shape, weights)
            level = (beta * NOISE_PLANE_SCALE)[:, None, None, None].expand_as(estimate)
            estimate = self.prior(torch.cat([estimate, level], 1))
        restored = data_step(spectrum, mtf, estimate, weight * noise**2 / final**2, shape, weights, keep_intact=True)
        return restored[..., pad:pad + height, pad:pad + width]
