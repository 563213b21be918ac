"""Where the network runs: device choice, precision and the automatic tile size."""

from __future__ import annotations

# On this 2-core CPU the network costs about the same per pixel on 256-512 px tiles (1.6-1.9 us
# for midnet-s-psf, channels-last) and 2.6x more on whole 1024^2 frames; a larger tile wastes
# less on the 64-px halo (1024^2: 16 tiles of 304 = 1.41x the pixels, 25 of 256 = 1.56x, 9 of
# 384 = 1.27x). 384 cost the kernel-aware model 0.14 dB on a real JEOL frame (its condition is
# the spot's mean over the tile); 320 stays within 0.05 dB of 256 on all six.
CPU_TILE = 320
BATCH_PIXELS = {"cuda": 8 * 256**2, "other": 4 * 256**2}  # tile pixels per forward (memory stays put)


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


def auto_tile(height: int, width: int, device: str) -> int:
    if device == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info()
        tile = 1024 if free > 8 * 2**30 else 512
    else:
        tile = CPU_TILE
    return min(tile, max(height, width))


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
