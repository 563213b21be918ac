"""Detect the SEM information bar (JEOL/Zeiss/FEI style) at the bottom of a frame."""

from __future__ import annotations

import numpy as np


def detect_databar(image: np.ndarray, max_fraction: float = 0.3) -> int | None:
    """First row of the bottom info bar, or None when there is none.

    A databar row is flat: most of its pixels hold the row's most common value (the bar's
    background), with only text or a scale bar on top. Image rows of an SEM frame are never
    that flat because of shot noise. Walk up from the bottom while rows are flat, allowing
    short runs of busier rows (lines of text).
    """
    if image.ndim != 2 or image.shape[0] < 32:
        return None
    height = image.shape[0]
    limit = int(height * max_fraction)
    fractions = np.array([_mode_fraction(row) for row in _rows_upwards(image, height - limit)])
    flat = fractions > 0.5
    if not flat[:2].any():
        return None
    start = None
    gap = 0
    for offset, is_flat in enumerate(flat):
        if is_flat:
            start, gap = height - 1 - offset, 0
        else:
            gap += 1
            if gap > max(8, height // 64):
                break
    if start is None or height - start < max(8, height // 100):
        return None
    if fractions[: height - start].min() > 0.999:  # uniform rows without any text: dark image, not a bar
        return None
    return start


def _rows_upwards(image, stop: int, block: int = 256):
    """The rows from the bottom up to row `stop`, read a block at a time (a lazy plane too)."""
    for bottom in range(image.shape[0], stop, -block):
        yield from np.asarray(image[max(bottom - block, stop):bottom])[::-1]


def _mode_fraction(row: np.ndarray) -> float:
    _, counts = np.unique(row, return_counts=True)
    return counts.max() / row.size
