"""Where the network runs: device choice, precision and the automatic tile size."""

from __future__ import annotations

import ctypes
from functools import cache

# The tile and the overlap its neighbours share, the same on every device (so CPU and GPU give
# the same pixels). Tiles up to 384 px take channel attention's cheap global mean
# (config.pool_window); a 1024^2 frame is nine of them (1.27x its pixels, against 1.56x for
# sixteen 320-px tiles). The kernel-aware condition is deconvolved in blocks of at most 256 px
# (condition.WIENER_BLOCK), so the larger tile does not mix the spots of a focus edge. 576 px
# scored lower on the real JEOL frames (-0.09 dB); overlap 16 left seams (-0.1 to -0.6 dB
# within 8 px of blend zones).
TILE = 384
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


# glibc hands allocations above its mmap threshold (at most 32 MB by default) fresh pages from
# the kernel and returns them on free, so every forward of a 384-px tile faulted in and zeroed
# its 38 MB activations again: raising the threshold and the trim threshold lets freed memory be
# reused. Nine 384-px tiles of midnet-s-psf: 1.39 -> 1.23 s (2 cores). Freed memory above
# TRIM_BYTES still goes back to the system.
MMAP_THRESHOLD_BYTES = 1 << 30
TRIM_BYTES = 1 << 30


@cache
def reuse_freed_memory() -> bool:
    """Tell glibc's malloc (Linux) to keep large freed blocks for reuse; once per process.
    False where the C library is not glibc (macOS, Windows, musl): nothing to tune there."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD_BYTES) and mallopt(m_trim_threshold, TRIM_BYTES))


def warm_up(requested: str = "auto") -> str:
    """Resolve the device off the GUI thread (it imports torch) when the dock opens.

    Also imports torch._dynamo, which the first optimizer of a fine-tuning run would otherwise
    import: part of that import holds the GIL for about 0.25 s, a visible freeze mid-run
    (measured with scripts/measure_responsiveness.py finetune) but not while the dock opens.
    """
    import torch._dynamo  # noqa: F401

    return pick_device(requested)
