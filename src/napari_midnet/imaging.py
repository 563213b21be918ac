"""Small image primitives the tiler, training, pairs, readouts, metrics and export share
(numpy only, importing nothing of the package: a leaf every module may use)."""

from __future__ import annotations

import numpy as np

BAND_ROWS = 512  # rows of a plane read (or held) at a time by whole-plane work
LARGE_PLANE = 2**24  # pixels (4096^2): a plane above this streams, its restored rows wait in a file


def size_text(shape: tuple[int, ...]) -> str:
    """A plane's size as every message writes it: width x height, in pixels."""
    return f"{shape[-1]} x {shape[-2]} px"


def value_range(image) -> tuple[float, float]:
    """Intensities mapped to [0, 1] for the network: uint8 by its dtype range (as in training),
    anything else by its own min and max (16-bit SEM data rarely fills 0..65535). A lazy array
    (Region, zarr, dask) is read a band of rows at a time."""
    if image.dtype == np.uint8:
        return 0.0, 255.0
    if isinstance(image, np.ndarray):
        lo, hi = float(image.min()), float(image.max())
    else:
        extremes = np.array([(band.min(), band.max()) for band in row_bands(image)], dtype=np.float64)
        lo, hi = float(extremes[:, 0].min()), float(extremes[:, 1].max())
    return lo, (hi if hi > lo else lo + 1.0)


def row_bands(image, rows: int = BAND_ROWS):
    """The array a band of its first axis at a time, as numpy (a lazy array read band by band)."""
    for top in range(0, image.shape[0], rows):
        yield np.asarray(image[top:top + rows])


class Region:
    """A 2-D plane (numpy, memmap, zarr or dask array, files.TiffPlane) whose slices read only
    themselves, as numpy; `limited(rows)` is the same plane cut to its first rows."""

    def __init__(self, array, rows: int | None = None):
        self.array = array
        self.shape = (array.shape[0] if rows is None else rows, array.shape[1])
        self.dtype = np.dtype(array.dtype)
        self.ndim = 2

    def limited(self, rows: int) -> Region:
        return Region(self.array, rows)

    def __getitem__(self, key) -> np.ndarray:
        key = tuple(part for part in (key if isinstance(key, tuple) else (key,)) if part is not Ellipsis)
        rows, cols = (*key, slice(None))[:2]
        if isinstance(rows, slice):
            rows = slice(*rows.indices(self.shape[0]))
        elif not -self.shape[0] <= rows < self.shape[0]:
            raise IndexError(f"row {rows} is outside a plane of {self.shape[0]} rows")
        else:
            rows = rows % self.shape[0]
        return np.asarray(self.array[rows, cols])


def normalised(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float32 with lo -> 0 and hi -> 1."""
    return (np.asarray(image).astype(np.float32) - lo) / (hi - lo)


def is_gray_rgb(colour: np.ndarray) -> bool:
    """An (..., 3) array whose three channels are equal: gray saved as RGB."""
    return bool(np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 0], colour[..., 2]))


def central_crop(image: np.ndarray, side: int) -> np.ndarray:
    """The central side x side view of the last two axes (all of an axis shorter than that)."""
    return image[(..., *central_square(image.shape[-2:], side))]


def central_square(shape: tuple[int, int], side: int) -> tuple[slice, slice]:
    """(rows, cols) of the central side x side square of a plane (all of an axis shorter than that)."""
    return tuple(slice(max((length - side) // 2, 0), max((length - side) // 2, 0) + min(side, length))
                 for length in shape)


def mask_bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the True pixels of a 2-D mask (bottom and right exclusive)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
