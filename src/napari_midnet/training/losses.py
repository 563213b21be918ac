"""MIDNet's training loss, written from the paper: L = L1 + 0.05 * edge + 0.01 * FFT; coarse-to-fine
networks take it at every scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F

EDGE_WEIGHT = 0.05
FFT_WEIGHT = 0.01
CHARBONNIER_EPS = 1e-3
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian(x: torch.Tensor) -> torch.Tensor:
    kernel = _LAPLACIAN.to(x.device, x.dtype).view(1, 1, 3, 3).repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=x.shape[1])


def charbonnier(a: torch.Tensor, b: torch.Tensor, eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    return torch.sqrt((a - b) ** 2 + eps**2).mean()


def edge_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return charbonnier(laplacian(output), laplacian(target))


def fft_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the real and imaginary parts of the 2-D spectra."""
    diff = torch.fft.fft2(output.float()) - torch.fft.fft2(target.float())
    return diff.real.abs().mean() + diff.imag.abs().mean()


def midnet_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (F.l1_loss(output, target) + EDGE_WEIGHT * edge_loss(output, target)
            + FFT_WEIGHT * fft_loss(output, target))


def multiscale_loss(outputs: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """midnet_loss of each output (coarse to fine) against the target area-resized to its size:
    the seed networks' loss on every scale; a single output is plain midnet_loss."""
    return sum(midnet_loss(output, target if output.shape == target.shape
                           else F.interpolate(target, size=output.shape[-2:], mode="area"))
               for output in outputs)
