"""Tiled restoration as a generator: yields TileDone events, returns the restored image.

Memory stays bounded for huge images: tiles are read from the input and normalised one batch
at a time, the blend weights are separable (outer products of 1-D windows), and the result
is converted back to the input dtype in row chunks. The only full-size float buffer is the
float32 accumulator of the slice being restored.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace

import numpy as np

from .blur import MIN_FIT_SIDE, BlurEstimate, condition_planes, focus_map, noise_std, uniform_map
from .databar import detect_databar
from .device import auto_tile, autocast, pick_device
from .events import BlurIdentified, TileDone
from .imaging import is_gray_rgb, normalised, value_range
from .metrics import shows_structure

CHUNK_ROWS = 512
NON_FINITE_OUTPUT = ("the model's output holds NaN or infinite values: its weights are broken (e.g. a "
                     "fine-tuning that diverged); use other weights")
MIN_SIDE = 32  # smaller images hold no SEM structure worth restoring (and no sharpness score)


@dataclass
class RestoreOptions:
    tile: int | None = None  # None: chosen from image size and free memory
    overlap: int = 64
    device: str = "auto"
    batch: int | None = None
    float32: bool = False  # return float32 in the input's value range instead of its dtype
    keep_databar: bool = True  # copy a detected SEM info bar through unchanged
    ensemble: bool = False  # average the 8 flips/rotations: 8 network passes for a little more quality
    value_range: tuple[float, float] | None = None  # intensities mapped to [0, 1]; None: automatic
    strength: float = 1.0  # 0: the input unchanged, 1: the network's output; blended linearly in between
    blur: BlurEstimate | None = None  # kernel-aware models: the blur to undo; None: estimated per region


def plane_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, cols) of the planes an image of this shape is restored as (RGB(A) last axis aside)."""
    if is_colour_layout(shape):
        return shape[-3], shape[-2]
    return shape[-2], shape[-1]


def is_colour_layout(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 3 and shape[-1] in (3, 4) and shape[-2] > 4


def resolve_options(options: RestoreOptions, shape: tuple[int, int]) -> RestoreOptions:
    """The options as they will run on planes of `shape`: the device and tile chosen once, so
    the record names what ran (not 'auto')."""
    device = pick_device(options.device)
    return replace(options, device=device, tile=options.tile or auto_tile(*shape, device))


def validate_image(image: np.ndarray) -> None:
    """Raise ValueError with one sentence for images restoration cannot take."""
    if image.dtype == bool or not np.issubdtype(image.dtype, np.number):
        raise ValueError(f"cannot restore an image of dtype {image.dtype}")
    if np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError("cannot restore a complex-valued image")
    if image.ndim < 2 or min(image.shape[-2:]) < 1:
        raise ValueError(f"need a 2-D image or a stack of them, got shape {image.shape}")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise ValueError("the image contains NaN or infinite values; replace them first")


def restore(image: np.ndarray, model, options: RestoreOptions | None = None
            ) -> Generator[TileDone | BlurIdentified, None, np.ndarray]:
    """Deblur a 2-D image, an (Z|T, Y, X) stack, or RGB(A).

    RGB: gray saved as RGB (equal channels) is restored once; true colour is restored per
    channel; alpha passes through unchanged. A kernel-aware model gets each plane's blur (the
    focus map, or `options.blur` everywhere), announced by a BlurIdentified event.
    """
    import torch

    options = options or RestoreOptions()
    image = np.asarray(image)
    validate_image(image)
    planes, rebuild = _as_planes(image)
    height, width = planes.shape[-2:]
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"the image is {width} x {height} pixels; MIDNet needs at least {MIN_SIDE} x {MIN_SIDE}")
    options = resolve_options(options, (height, width))
    device, tile = options.device, options.tile
    if tile < 16:
        raise ValueError("tile size must be at least 16 pixels")
    if not 0.0 <= options.strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {options.strength}")
    if max(height, width) > tile and not 0 <= options.overlap < tile // 2:
        raise ValueError(f"overlap must be between 0 and {tile // 2 - 1} for tile {tile}")
    if getattr(model, "restores_whole_planes", False):
        return (yield from _restore_whole_planes(planes, rebuild, model, options))
    batch = options.batch or (8 if device == "cuda" else 4)
    conditioned = model.config.condition_planes > 0
    lo, hi = options.value_range or value_range(image)
    bar = detect_databar(planes[0]) if options.keep_databar or conditioned else None
    # the blur is always read above an info bar, even when the bar itself is restored
    blur_rows = bar if bar is not None else height
    bar = bar if options.keep_databar else None
    rows = bar if bar is not None else height
    out_dtype = np.float32 if options.float32 else image.dtype
    result = np.empty(planes.shape, dtype=out_dtype)

    channels_last = torch.channels_last
    model = _for_inference(model, device)
    precision = autocast(device)
    views = DIHEDRAL if options.ensemble else DIHEDRAL[:1]
    for index in range(planes.shape[0]):
        # Nothing to deblur (a flat or pure-noise plane, where the network could only invent a
        # pattern), or nothing of the network's output wanted (strength 0): it passes through.
        if options.strength == 0 or not shows_structure(planes[index, :rows]):
            result[index] = _to_dtype(planes[index].astype(np.float32), out_dtype)
            continue
        # Each view writes through the same view of the accumulator, so its result lands back
        # in the image's own orientation without an explicit inverse transform.
        spots = None
        if conditioned:
            spots, identified = plane_spots(planes[index, :rows], lo, hi, options.blur, index, blur_rows)
            yield identified
        accumulator = np.zeros((rows, width), dtype=np.float32)
        grids = [_TileGrid(view(accumulator).shape, tile, options.overlap) for view in views]
        total = sum(len(grid.positions) for grid in grids)
        done = 0
        for view, grid, turn in zip(views, grids, DIHEDRAL_SPOT_TURNS):
            source, target = view(planes[index, :rows]), view(accumulator)
            turned = None if spots is None else turned_spots(spots, view, *turn)
            for first in range(0, len(grid.positions), batch):
                chunk = grid.positions[first:first + batch]
                tiles = normalised(np.stack([source[y:y + grid.tile_h, x:x + grid.tile_w] for y, x in chunk]), lo, hi)
                inputs = tiles[:, None]
                if turned is not None:
                    extra = np.stack([condition_planes(values, turned[:, y:y + grid.tile_h, x:x + grid.tile_w],
                                                       identified.estimate.noise)
                                      for values, (y, x) in zip(tiles, chunk)])
                    inputs = np.concatenate([inputs, extra], axis=1)
                with torch.inference_mode(), precision:
                    inp = torch.from_numpy(inputs).to(device).contiguous(memory_format=channels_last)
                    restored = model(inp).float().cpu().numpy()[:, 0]
                if not np.isfinite(restored).all():
                    raise ValueError(NON_FINITE_OUTPUT)
                if options.strength != 1.0:
                    restored = tiles + options.strength * (restored - tiles)
                for (y, x), values in zip(chunk, restored):
                    target[y:y + grid.tile_h, x:x + grid.tile_w] += values * grid.weight(y, x)
                done += len(chunk)
                yield TileDone(done, total, index, planes.shape[0])
        # Defocus moves signal around but keeps its total (the spot integrates to one), so the
        # restored plane keeps the input's mean exactly: a dark or bright frame outside what the
        # network saw in training keeps its tone, and a near-flat one stays as it was.
        tone = _plane_mean(planes[index, :rows]) - lo - _plane_mean(accumulator) * (hi - lo) / len(views)
        for y in range(0, rows, CHUNK_ROWS):
            block = accumulator[y:y + CHUNK_ROWS]
            block *= (hi - lo) / len(views)
            block += lo + tone
            result[index, y:y + block.shape[0]] = _to_dtype(block, out_dtype)
        if rows < height:
            result[index, rows:] = planes[index, rows:]
    return rebuild(result)


def _restore_whole_planes(planes: np.ndarray, rebuild, model, options: RestoreOptions
                          ) -> Generator[TileDone, None, np.ndarray]:
    """A foreign bioimage.io model (zoo.ZooModel): each plane whole through its own pipeline,
    which normalises and blocks as its package says; float32 out, in the model's own units."""
    if options.strength != 1.0 or options.ensemble or options.blur is not None:
        raise ValueError(f"{model.name} is a foreign bioimage.io model: strength, ensemble and a given blur "
                         "apply to napari-midnet's own models only")
    result = np.empty(planes.shape, dtype=np.float32)
    for index in range(planes.shape[0]):
        result[index] = model.restore_plane(planes[index])
        yield TileDone(1, 1, index, planes.shape[0])
    return rebuild(result)


def plane_spots(plane: np.ndarray, lo: float, hi: float, given: BlurEstimate | None, index: int,
                blur_rows: int) -> tuple[np.ndarray, BlurIdentified]:
    """A kernel-aware network's spot per pixel ((3, rows, cols): sxx, sxy, syy) for one plane:
    its focus map (read on the first `blur_rows`, above an info bar, and carried on below), or
    the blur the user gave, with the plane's measured noise."""
    shape = plane.shape
    plane_01 = normalised(plane[:blur_rows], lo, hi)
    if given is None:
        # a plane under the estimator's minimum is mirrored up to it (one window, the whole plane)
        short = [(0, max(MIN_FIT_SIDE - side, 0)) for side in plane_01.shape]
        padded = np.pad(plane_01, short, mode="symmetric") if any(pad for _, pad in short) else plane_01
        blur_map = replace(focus_map(padded), shape=shape)
        estimate = blur_map.global_estimate
        if padded is not plane_01:
            blur_map = uniform_map(estimate, shape)
    else:
        estimate = BlurEstimate(given.sigma_major_px, given.sigma_minor_px, given.angle_deg, noise_std(plane_01))
        blur_map = uniform_map(estimate, shape)
    return blur_map.covariance_planes(), BlurIdentified(index, estimate, given is not None, blur_map)


def turned_spots(spots: np.ndarray, view, transposed: bool, mirrored: bool) -> np.ndarray:
    """The spot planes as seen in a view of the plane: a transpose swaps sxx and syy, a single
    mirror flips the sign of sxy."""
    sxx, sxy, syy = (view(plane) for plane in spots)
    if transposed:
        sxx, syy = syy, sxx
    return np.stack([sxx, -sxy if mirrored else sxy, syy])


def _for_inference(model, device: str):
    """An eval-mode, channels-last copy on `device`: the caller's model (shared by the dock's
    registry, perhaps being fine-tuned) keeps its device, memory format and mode. A TorchScript
    or ONNX runner (backends.py) is used as it is."""
    import copy

    import torch

    if not isinstance(model, torch.nn.Module):
        return model
    return copy.deepcopy(model).to(device=device, memory_format=torch.channels_last).eval()


def _plane_mean(plane: np.ndarray) -> float:
    """Mean in float64, a row chunk at a time (no full-size float copy of a huge plane)."""
    total = sum(float(plane[y:y + CHUNK_ROWS].sum(dtype=np.float64)) for y in range(0, plane.shape[0], CHUNK_ROWS))
    return total / max(plane.size, 1)


# The eight flips and rotations of the plane, as views (self-ensemble, Lim et al. 2017)
DIHEDRAL = (
    lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1], lambda a: a[::-1, ::-1],
    lambda a: a.T, lambda a: a.T[:, ::-1], lambda a: a.T[::-1], lambda a: a.T[::-1, ::-1],
)


# Per view of DIHEDRAL: (transposed, mirrored an odd number of times), what it does to a spot
DIHEDRAL_SPOT_TURNS = ((False, False), (False, True), (False, True), (False, False),
                       (True, False), (True, True), (True, True), (True, False))


class _TileGrid:
    """Overlapping tile origins over a (rows, cols) plane, with per-tile blend weights that
    already divide by the summed weights, so each tile adds its final share."""

    def __init__(self, shape: tuple[int, int], tile: int, overlap: int):
        rows, cols = shape
        self.tile_h, self.tile_w = min(tile, rows), min(tile, cols)
        row_starts, col_starts = _starts(rows, tile, overlap), _starts(cols, tile, overlap)
        row_windows = _windows(row_starts, self.tile_h, rows, overlap)
        col_windows = _windows(col_starts, self.tile_w, cols, overlap)
        row_sum = np.sum(_place(row_windows, row_starts, rows), axis=0)
        col_sum = np.sum(_place(col_windows, col_starts, cols), axis=0)
        self._rows = {y: w / row_sum[y:y + self.tile_h] for y, w in zip(row_starts, row_windows)}
        self._cols = {x: w / col_sum[x:x + self.tile_w] for x, w in zip(col_starts, col_windows)}
        self.positions = [(y, x) for y in row_starts for x in col_starts]

    def weight(self, y: int, x: int) -> np.ndarray:
        return np.outer(self._rows[y], self._cols[x])


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


def _to_dtype(block: np.ndarray, dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(block), info.min, info.max).astype(dtype)
    return block.astype(dtype, copy=False)


def _as_planes(image: np.ndarray):
    """View the input as (N, Y, X) planes and return a function that rebuilds its layout."""
    height, width = image.shape[-2:]
    if is_colour_layout(image.shape):
        colour = image[..., :3]
        alpha = image[..., 3:]
        height, width = image.shape[-3:-1]
        lead = image.shape[:-3]
        if is_gray_rgb(colour):
            planes = colour[..., 0].reshape(-1, height, width)

            def rebuild(out):
                gray = out.reshape(*lead, height, width)[..., None]
                return np.concatenate([gray, gray, gray, alpha.astype(out.dtype)], axis=-1)
        else:
            planes = np.moveaxis(colour, -1, 0).reshape(-1, height, width)

            def rebuild(out):
                rgb = np.moveaxis(out.reshape(3, *lead, height, width), 0, -1)
                return np.concatenate([rgb, alpha.astype(out.dtype)], axis=-1)
        return planes, rebuild
    shape = image.shape
    return image.reshape(-1, height, width), lambda out: out.reshape(shape)
