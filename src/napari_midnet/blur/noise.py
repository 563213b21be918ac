"""The noise of a frame: the robust white-noise std every blur estimate carries, exact in flat
memory for a plane of any height."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve

from ..imaging import BAND_ROWS

_LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)


def noise_std(image: np.ndarray) -> float:
    """Robust white-noise std: median absolute Laplacian / 0.6745, divided by the kernel's norm
    (sqrt 20). Structure inflates it a little; SEM frames are noise-dominated at 1 px."""
    return banded_noise_std(lambda top, bottom: image[top:bottom], np.shape(image))


def banded_noise_std(read, shape: tuple[int, int]) -> float:
    """`noise_std` of a plane read a band of rows at a time (`read(top, bottom)`), exactly: the
    median is found by counting the responses in fine bins, then sorting only the values of the
    bins that hold it, so a plane of any height is measured in flat memory."""
    height, width = shape
    if height < 3 or width < 3:
        return 0.0

    def responses():
        for top in range(1, height - 1, BAND_ROWS):
            bottom = min(top + BAND_ROWS, height - 1)
            band = np.asarray(read(top - 1, bottom + 1), dtype=np.float64)
            yield np.abs(convolve(band, _LAPLACIAN, mode="reflect")[1:-1, 1:-1]).ravel()

    return float(_median(responses) / 0.6745 / np.sqrt(20.0))


_BIN_SHIFT = 44  # non-negative float64 bit patterns sort as integers; their top 20 bits make the bins


def _median(values) -> float:
    """np.median of the non-negative values that `values()` yields in pieces, read twice."""
    counts = np.zeros(1 << (64 - _BIN_SHIFT), dtype=np.int64)
    for piece in values():
        counts += np.bincount(piece.view(np.int64) >> _BIN_SHIFT, minlength=counts.size)
    total = int(counts.sum())
    ranks = ((total - 1) // 2, total // 2)
    below = np.cumsum(counts)
    bins = np.searchsorted(below, np.array(ranks), side="right")
    kept = [piece[np.isin(piece.view(np.int64) >> _BIN_SHIFT, bins)] for piece in values()]
    chosen, counted = np.unique(np.concatenate(kept), return_counts=True)
    start = below[bins[0]] - counts[bins[0]]  # values below the first chosen bin
    positions = np.cumsum(counted) + start
    low, high = (chosen[np.searchsorted(positions, rank, side="right")] for rank in ranks)
    return (low + high) / 2
