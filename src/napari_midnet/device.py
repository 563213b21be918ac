"""Where the network runs: device choice, precision and the automatic tile size."""

from __future__ import annotations

# The tile and the overlap its neighbours share, the same on every device (so CPU and GPU give
# the same pixels). With channel attention pooled over 384 px (config.pool_window), a 384-px tile
# takes the cheap global mean; larger tiles scored lower on the six real JEOL frames (576 px: up
# to -0.09 dB with global pooling, -0.21 dB with a local 384-px window), and a 256-px tile
# spends 1.56x its image's pixels on a 64-px halo (1024^2: 25 tiles) where 368-px tiles with a
# 32-px halo spend 1.16x (9 tiles). Overlap 16 left seams (-0.1 to -0.6 dB within 8 px of the
# blend zones); 32 does not.
TILE = 384
OVERLAP = 32
# Tile pixels per forward. On a CPU more than about 2 x 256^2 at once slows every pixel (the
# activations leave the cache): 9 tiles of 368 px took 1.17x as long in batches of 2, 1.33x in
# 3 and 3.0x in one batch of 9 as one at a time (midnet-s-psf, 2 cores); a GPU wants batches.
BATCH_PIXELS = {"cuda": 8 * 256**2, "other": 256**2}


def pick_device(requested: str = "auto") -> str:
    """cuda > mps > cpu for 'auto'; a clear error when an explicit device is missing."""
    import torch

    available = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if requested == "auto":
        return next(name for name in ("cuda", "mps", "cpu") if available[name])
    if requested not in available:
        raise ValueError(f"unknown device {requested!r}; choose auto, cpu, cuda or mps")
    if not available[requested]:
        raise ValueError(f"device {requested!r} is not available on this machine")
    return requested


def auto_tile(height: int, width: int) -> int:
    return min(TILE, max(height, width))


def auto_batch(device: str, tile_pixels: int) -> int:
    """Tiles per forward: as many as keep about BATCH_PIXELS pixels in one batch."""
    return max(1, round(BATCH_PIXELS["cuda" if device == "cuda" else "other"] / tile_pixels))


def autocast(device: str):
    """bf16 autocast on CUDA (fp16 where bf16 is missing); float32 elsewhere."""
    import contextlib

    import torch

    if device != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def warm_up(requested: str = "auto") -> str:
    """Resolve the device off the GUI thread (it imports torch) when the dock opens.

    Also imports torch._dynamo, which the first optimizer of a fine-tuning run would otherwise
    import: part of that import holds the GIL for about 0.25 s, a visible freeze mid-run
    (measured with scripts/measure_responsiveness.py finetune) but not while the dock opens.
    """
    import torch._dynamo  # noqa: F401

    return pick_device(requested)
