"""Where the network runs: device choice, precision and the automatic tile size."""

from __future__ import annotations

import ctypes
from enum import StrEnum
from functools import cache


class Device(StrEnum):
    """What the user may ask for; AUTO picks cuda > mps > cpu."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


# Tile pixels per forward: on a CPU larger batches slow every pixel (the activations leave the
# cache); a GPU wants batches (docs/decisions.md).
BATCH_PIXELS = {"cuda": 8 * 256**2, "other": 256**2}


def pick_device(requested: str = Device.AUTO.value) -> str:
    """cuda > mps > cpu for 'auto'; a clear error when an explicit device is missing."""
    import torch

    available = {
        Device.CUDA: torch.cuda.is_available(),
        Device.MPS: getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        Device.CPU: True,
    }
    if requested == Device.AUTO:
        return str(next(name for name in available if available[name]))
    if requested not in available:
        raise ValueError(f"unknown device {requested!r}; choose {', '.join(Device)}")
    if not available[requested]:
        raise ValueError(f"device {requested!r} is not available on this machine")
    return str(Device(requested))


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


# glibc returns large freed blocks to the kernel, so every forward faulted its activations in
# again: keep them for reuse (docs/decisions.md); freed memory above TRIM_BYTES still goes back.
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


def warm_up(requested: str = Device.AUTO.value) -> str:
    """Resolve the device off the GUI thread (it imports torch) when the dock opens.

    Also imports torch._dynamo, which the first optimizer of a fine-tuning run would otherwise
    import: part of that import holds the GIL for about 0.25 s, a visible freeze mid-run
    (measured with scripts/measure_responsiveness.py finetune) but not while the dock opens.
    """
    import torch._dynamo  # noqa: F401

    return pick_device(requested)
