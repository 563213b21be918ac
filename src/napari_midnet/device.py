"""Where the network runs: device choice, precision and the automatic tile size."""

from __future__ import annotations

# The tile and the overlap its neighbours share, the same on every device (so CPU and GPU give
# the same pixels). Tiles up to 384 px take channel attention's cheap global mean
# (config.pool_window). On this 2-core CPU a pixel of a 304-368 px tile costs 1.23-1.26x one of
# a 256-px tile (caches), so 384-px tiles sharing 32 px, though 1.16x the pixels of a 1024^2
# frame against 1.41x, ran no faster, and they cost the kernel-aware model 3 dB on the sharp half
# of half-sharp frames (a tile's condition is its mean spot). 576 px scored lower on the real
# JEOL frames (-0.09 dB); overlap 16 left seams (-0.1 to -0.6 dB within 8 px of blend zones).
TILE = 320
OVERLAP = 64
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
