"""Small image primitives the tiler, training, pairs, readouts, metrics and export share
(numpy only, importing nothing of the package: a leaf every module may use)."""

from __future__ import annotations

import numpy as np


def value_range(image: np.ndarray) -> tuple[float, float]:
    """Intensities mapped to [0, 1] for the network: uint8 by its dtype range (as in training),
    anything else by its own min and max (16-bit SEM data rarely fills 0..65535)."""
    if image.dtype == np.uint8:
        return 0.0, 255.0
    lo, hi = float(image.min()), float(image.max())
    return lo, (hi if hi > lo else lo + 1.0)


def normalised(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float32 with lo -> 0 and hi -> 1."""
    return (np.asarray(image).astype(np.float32) - lo) / (hi - lo)


def is_gray_rgb(colour: np.ndarray) -> bool:
    """An (..., 3) array whose three channels are equal: gray saved as RGB."""
    return bool(np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 0], colour[..., 2]))


def central_crop(image: np.ndarray, side: int) -> np.ndarray:
    """The central side x side view of the last two axes (all of an axis shorter than that)."""
    top, left = max((image.shape[-2] - side) // 2, 0), max((image.shape[-1] - side) // 2, 0)
    return image[..., top:top + side, left:left + side]


def mask_bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the True pixels of a 2-D mask (bottom and right exclusive)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
