"""The tile grid and the buffers of a streamed restoration: overlapping tiles fitted to the
plane with raised-cosine blend weights, the rows some tile still adds to, the finished rows
waiting for the tone (in memory or in a file), and tiles read a band of rows at a time."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ..imaging import LARGE_PLANE, Region

# The tile and the overlap its neighbours share, the same on every device (so CPU and GPU give the
# same pixels); why these: docs/decisions.md. Below MIN_TILE a tile holds too little context.
TILE = 384
OVERLAP = 64
MIN_TILE = 16


def auto_tile(height: int, width: int) -> int:
    return min(TILE, max(height, width))


class BandCache:
    """Tiles read from the rows of their band (the last two bands kept), so a plane stored by
    rows (a stripped TIFF, a dask array chunked by rows) is read once, not once per tile."""

    def __init__(self, plane: Region):
        self.plane, self.bands = plane, {}

    def read(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        if (top, bottom) not in self.bands:
            if len(self.bands) == 2:
                self.bands.pop(next(iter(self.bands)))
            self.bands[top, bottom] = self.plane[top:bottom]
        return self.bands[top, bottom][:, left:right]


def band_capacity(positions: list[tuple[int, int]], tile_h: int, batch: int) -> int:
    """Rows one batch of tiles (in grid order) reaches below its first tile's top."""
    tops = [y for y, _ in positions]
    return max(tops[min(i + batch, len(tops)) - 1] - tops[i] for i in range(0, len(tops), batch)) + tile_h


class PendingRows:
    """The blend accumulator for the rows some tile still adds to; finished rows inside `keep`
    (a band of rows) go to the scratch, their float64 sum kept for the tone: it never holds
    the whole plane."""

    def __init__(self, width: int, capacity: int, scratch: Scratch, first_row: int, keep: tuple[int, int]):
        self.buffer = np.zeros((capacity, width), dtype=np.float32)
        self.scratch, self.top, self.keep, self.total = scratch, first_row, keep, 0.0

    def add(self, y: int, x: int, values: np.ndarray) -> None:
        self.buffer[y - self.top:y - self.top + values.shape[0], x:x + values.shape[1]] += values

    def finish(self, until: int) -> None:
        """Rows above `until` are complete: no later tile reaches them."""
        done = until - self.top
        if done <= 0:
            return
        low, high = max(self.top, self.keep[0]), min(until, self.keep[1])
        if high > low:
            kept = self.buffer[low - self.top:high - self.top]
            self.total += float(kept.sum(dtype=np.float64))
            self.scratch.write(low, kept)
        left = len(self.buffer) - done
        self.buffer[:left] = self.buffer[done:]  # numpy copies overlapping rows safely
        self.buffer[left:] = 0
        self.top = until


class Scratch:
    """The blended float rows of a plane until its tone is known: in memory when small, else in
    an unnamed temporary file, or in `path` (read and written by offset: no memory map, whose
    pages would count as the process's memory)."""

    def __init__(self, shape: tuple[int, int], folder: str | None, path: str | os.PathLike | None = None):
        self.shape = shape
        self.memory = self.file = None
        if path is not None:  # a file made by the caller, shared by the band tasks of one plane
            self.file = open(path, "r+b")  # noqa: SIM115 (closed by close())
        elif shape[0] * shape[1] <= LARGE_PLANE:
            self.memory = np.empty(shape, dtype=np.float32)
        else:
            self.file = tempfile.TemporaryFile(prefix=".napari-midnet-", suffix=".scratch", dir=folder)

    def write(self, top: int, rows: np.ndarray) -> None:
        if self.memory is not None:
            self.memory[top:top + rows.shape[0]] = rows
        else:
            os.pwrite(self.file.fileno(), np.ascontiguousarray(rows).data, top * self.shape[1] * 4)

    def read(self, top: int, bottom: int) -> np.ndarray:
        if self.memory is not None:
            return self.memory[top:bottom].copy()
        block = np.empty((bottom - top, self.shape[1]), dtype=np.float32)
        os.preadv(self.file.fileno(), [block.data], top * self.shape[1] * 4)
        return block

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.memory = self.file = None


class TileGrid:
    """Overlapping tile origins over a (rows, cols) plane, with per-tile blend weights that
    already divide by the summed weights, so each tile adds its final share."""

    def __init__(self, shape: tuple[int, int], tile: int, overlap: int):
        rows, cols = shape
        self.tile_h, self.tile_w = _fitted(rows, tile, overlap), _fitted(cols, tile, overlap)
        row_starts, col_starts = _starts(rows, self.tile_h, overlap), _starts(cols, self.tile_w, overlap)
        row_windows = _windows(row_starts, self.tile_h, rows, overlap)
        col_windows = _windows(col_starts, self.tile_w, cols, overlap)
        row_sum = np.sum(_place(row_windows, row_starts, rows), axis=0)
        col_sum = np.sum(_place(col_windows, col_starts, cols), axis=0)
        self._rows = {y: w / row_sum[y:y + self.tile_h] for y, w in zip(row_starts, row_windows)}
        self._cols = {x: w / col_sum[x:x + self.tile_w] for x, w in zip(col_starts, col_windows)}
        self.positions = [(y, x) for y in row_starts for x in col_starts]

    def weight(self, y: int, x: int) -> np.ndarray:
        return np.outer(self._rows[y], self._cols[x])


def _fitted(length: int, tile: int, overlap: int) -> int:
    """The tile side along an axis: the smallest (a multiple of 16, at most `tile`) that covers
    `length` with as many tiles as `tile` would, so the last tile does not overlap its neighbour
    by most of itself (1280 px at tile 384: four tiles of 368, not four of 384)."""
    if length <= tile:
        return length
    count = -(-(length - overlap) // (tile - overlap))
    side = -(-(length + (count - 1) * overlap) // count)
    return min(max(-(-side // 16) * 16, 2 * overlap + 1), tile)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins covering [0, length), neighbours sharing at least `overlap` pixels."""
    if length <= tile:
        return [0]
    return list(range(0, length - tile, tile - overlap)) + [length - tile]


def _windows(starts: list[int], size: int, length: int, overlap: int) -> list[np.ndarray]:
    """Per-tile 1-D blend windows: raised-cosine ramps where a neighbour overlaps, flat at the
    image border, so the weighted sum is seamless and exact where only one tile covers."""
    windows = []
    for i, start in enumerate(starts):
        window = np.ones(size, dtype=np.float32)
        if i > 0:
            shared = min(overlap, starts[i - 1] + size - start)
            window[:shared] = _ramp(shared)
        if i < len(starts) - 1:
            shared = min(overlap, start + size - starts[i + 1])
            window[size - shared:] = _ramp(shared)[::-1]
        windows.append(window)
    return windows


def _ramp(length: int) -> np.ndarray:
    t = (np.arange(length, dtype=np.float32) + 0.5) / max(length, 1)
    return np.sin(0.5 * np.pi * t) ** 2


def _place(windows: list[np.ndarray], starts: list[int], length: int) -> np.ndarray:
    placed = np.zeros((len(windows), length), dtype=np.float32)
    for row, (window, start) in enumerate(zip(windows, starts)):
        placed[row, start:start + window.size] = window
    return placed
