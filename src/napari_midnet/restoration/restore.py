"""Tiled restoration as a generator: yields TileDone events, hands out restored planes.

Memory depends on the tile size and the image width, not on its height: a plane is read a band
of tiles at a time (any array-like: numpy, memmap, zarr, dask, a TIFF by strips), its whole-
plane statistics (value range, noise, focus map, mean) are taken band by band, the blend
accumulator holds only the rows a tile still adds to, and finished rows wait for the tone in a
scratch (a file on disk for a large plane) that the caller reads back in row blocks.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace

import numpy as np

from ..blur.estimate import (
    MIN_FIT_SIDE,
    BlurEstimate,
    FocusMap,
    banded_focus_map,
    focus_map,
    uniform_map,
)
from ..blur.noise import banded_noise_std
from ..events import BlurIdentified, TileDone
from ..imaging import BAND_ROWS, Region, central_crop, is_gray_rgb, normalised, row_bands, size_text, value_range
from ..io.databar import detect_databar
from ..metrics import STRUCTURE_CROP, shows_structure
from .condition import condition_planes
from .device import Device, auto_batch, pick_device
from .inference import for_inference, forward_tiles
from .tiling import MIN_TILE, OVERLAP, TILE, BandCache, PendingRows, Scratch, TileGrid, auto_tile, band_capacity

MIN_SIDE = 32  # smaller images hold no SEM structure worth restoring (and no sharpness score)


@dataclass
class RestoreOptions:
    tile: int | None = None  # None: chosen from image size and free memory
    overlap: int = OVERLAP
    device: str = Device.AUTO.value
    batch: int | None = None
    float32: bool = False  # return float32 in the input's value range instead of its dtype
    keep_databar: bool = True  # copy a detected SEM info bar through unchanged
    ensemble: bool = False  # average the 8 flips/rotations: 8 network passes for a little more quality
    value_range: tuple[float, float] | None = None  # intensities mapped to [0, 1]; None: automatic
    strength: float = 1.0  # 0: the input unchanged, 1: the network's output; blended linearly in between
    blur: BlurEstimate | None = None  # kernel-aware models: the blur to undo; None: estimated per region
    scratch_dir: str | None = None  # where a huge plane's restored rows wait for their tone; None: the temp folder

    def check(self, shape: tuple[int, int] | None = None) -> None:
        """One sentence (ValueError) naming the option, before any work: for any image, or for a
        plane of `shape` (one no larger than its tile needs no overlap); the command line
        reports it with the option's flag."""
        if self.tile is not None and self.tile < MIN_TILE:
            raise ValueError(f"tile must be at least {MIN_TILE} pixels (leave it out for automatic), got {self.tile}")
        tile = self.tile or TILE
        if (shape is None or max(shape) > tile) and not 0 <= self.overlap < tile // 2:
            named = f"tile {self.tile}" if self.tile else f"the automatic tile (at most {TILE})"
            raise ValueError(f"overlap must be below {tile // 2} for {named} and not negative, got {self.overlap}")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {self.strength}")


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
    return replace(options, device=device, tile=options.tile or auto_tile(*shape))


def validate_image(image) -> None:
    """Raise ValueError with one sentence for images restoration cannot take."""
    if image.dtype == bool or not np.issubdtype(image.dtype, np.number):
        raise ValueError(f"cannot restore an image of dtype {image.dtype}")
    if np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError("cannot restore a complex-valued image")
    if image.ndim < 2 or min(image.shape[-2:]) < 1:
        raise ValueError(f"need a 2-D image or a stack of them, got shape {image.shape}")
    if np.issubdtype(image.dtype, np.floating) and not all(np.isfinite(band).all() for band in row_bands(image)):
        raise ValueError("the image contains NaN or infinite values; replace them first")


def restore(image, model, options: RestoreOptions | None = None
            ) -> Generator[TileDone | BlurIdentified, None, np.ndarray]:
    """Deblur a 2-D image, an (Z|T, Y, X) stack, or RGB(A), into a new array.

    RGB: gray saved as RGB (equal channels) is restored once; true colour is restored per
    channel; alpha passes through unchanged. A kernel-aware model gets each plane's blur (the
    focus map, or `options.blur` everywhere), announced by a BlurIdentified event. A 2-D
    `image` may be lazy (a memmap, zarr or dask array, files.TiffPlane): it is read by region.
    """
    result = None

    def keep(index: int, count: int, plane: RestoredPlane) -> None:
        nonlocal result
        if result is None:
            result = np.empty((count, plane.height, plane.width), dtype=plane.dtype)
        for top in range(0, plane.height, BAND_ROWS):
            result[index, top:top + BAND_ROWS] = plane.rows(top, top + BAND_ROWS)
        plane.close()

    rebuild = yield from restore_planes(image, model, options, keep)
    return rebuild(result)


def restore_planes(image, model, options: RestoreOptions | None, sink
                   ) -> Generator[TileDone | BlurIdentified, None, object]:
    """The deblur job: restore each plane of `image` and hand it to `sink(index, count,
    RestoredPlane)` as soon as it is done; returns the function that rebuilds the image's
    layout from the (count, rows, cols) planes. A lazy 2-D image is read a band of tiles at a
    time and its restored rows wait in a scratch file on disk when large: memory depends on
    the tile size and the image width, not on its height."""
    image, planes, rebuild, options = _checked_planes(image, options)
    if model.restores_whole_planes:
        yield from _restore_whole_planes(planes, model, options, sink)
        return rebuild
    job = _PlaneJob(model, _image_plan(image, planes[0], model, options))
    for index, plane in enumerate(planes):
        sink(index, len(planes), (yield from job.run(plane, index, len(planes))))
    return rebuild


def plan_plane(image, model, options: RestoreOptions | None = None
               ) -> Generator[BlurIdentified, None, PlanePlan]:
    """The plan of a single 2-D (lazy) plane, for restoring it in bands (`restore_band`)."""
    image, planes, _, options = _checked_planes(image, options)
    if len(planes) != 1 or model.restores_whole_planes:
        raise ValueError("restoring in bands takes a single 2-D plane and one of napari-midnet's own models")
    return (yield from _PlaneJob(model, _image_plan(image, planes[0], model, options)).prepare(planes[0], 0))


def _checked_planes(image, options: RestoreOptions | None) -> tuple[object, list[Region], object, RestoreOptions]:
    """The image (a lazy stack loaded), its planes read by region, the function that rebuilds
    its layout, and the options resolved for it; ValueError with one sentence for what cannot
    be restored."""
    options = options or RestoreOptions()
    if not isinstance(image, np.ndarray) and np.ndim(image) != 2:
        image = np.asarray(image)  # lazy stacks and colour: loaded (a 2-D plane streams)
    validate_image(image)
    if isinstance(image, np.ndarray):
        planes, rebuild = _as_planes(image)
        planes = [Region(plane) for plane in planes]
    else:
        planes, rebuild = [Region(image)], lambda out: out[0]
    height, width = planes[0].shape
    if min(height, width) < MIN_SIDE:
        raise ValueError(f"the image is {size_text((height, width))}; MIDNet needs at least {MIN_SIDE} x {MIN_SIDE}")
    options = resolve_options(options, (height, width))
    options.check((height, width))
    return image, planes, rebuild, options


def _image_plan(image, first: Region, model, options: RestoreOptions) -> PlanePlan:
    """What every plane of the image shares: value range, dtype, info-bar rows."""
    lo, hi = value_range(image) if options.value_range is None else options.value_range
    conditioned = model.config.kernel_aware
    bar = detect_databar(first) if options.keep_databar or conditioned else None
    # the blur is always read above an info bar, even when the bar itself is restored
    return PlanePlan(options, lo, hi, np.dtype(np.float32 if options.float32 else image.dtype),
                     rows=bar if bar is not None and options.keep_databar else first.shape[0],
                     blur_rows=bar if bar is not None else first.shape[0], conditioned=conditioned)


@dataclass
class PlanePlan:
    """What restoring a plane needs before its first tile, decided once: the resolved options,
    value range, output dtype, the rows restored (above a kept info bar) and those the blur is
    read on; per plane, whether it has structure to restore and its focus map. Small and
    picklable: a cluster's client plans a huge plane and ships the plan to band tasks."""

    options: RestoreOptions
    lo: float
    hi: float
    dtype: np.dtype
    rows: int
    blur_rows: int
    conditioned: bool
    structured: bool = True
    focus: FocusMap | None = None


class _PlaneJob:
    """Restores one plane after another to a plan made once for the image."""

    def __init__(self, model, plan: PlanePlan):
        self.plan, self.source_model, self._model = plan, model, None

    @property
    def model(self):
        """The network as it runs (a copy on the device), made on first use: planning needs none."""
        if self._model is None:
            self._model = for_inference(self.source_model, self.plan.options.device)
        return self._model

    def run(self, plane: Region, index: int, count: int
            ) -> Generator[TileDone | BlurIdentified, None, RestoredPlane]:
        plan = yield from self.prepare(plane, index)
        if not plan.structured:
            return RestoredPlane(plane, plan.dtype, rows=0)
        scratch = Scratch((plan.rows, plane.shape[1]), plan.options.scratch_dir)
        total = yield from self.blend(plane, plan, (0, plan.rows), scratch, index, count)
        return finished_plane(plane, plan, scratch, total)

    def prepare(self, plane: Region, index: int) -> Generator[BlurIdentified, None, PlanePlan]:
        """This plane's plan: passed through when it has nothing to deblur (a flat or pure-noise
        plane, where the network could only invent a pattern) or nothing of the network's output
        is wanted (strength 0); a kernel-aware network's focus map."""
        plan = self.plan
        above = plane.limited(plan.rows)
        if plan.options.strength == 0 or not shows_structure(central_crop(above, STRUCTURE_CROP)):
            return replace(plan, structured=False)
        if not plan.conditioned:
            return plan
        focus, identified = plane_focus(plane.limited(plan.blur_rows), (plan.rows, plane.shape[1]), plan.lo, plan.hi,
                                        plan.options.blur, index)
        yield identified
        return replace(plan, focus=focus)

    def blend(self, plane: Region, plan: PlanePlan, band: tuple[int, int], scratch: Scratch, index: int,
              count: int) -> Generator[TileDone, None, float]:
        """Blend the network's tiles into rows [band) of the plane's global tile grid, written to
        `scratch` as they finish; returns their float64 sum (for the tone)."""
        options, focus = plan.options, plan.focus
        above = plane.limited(plan.rows)
        grid = TileGrid(above.shape, options.tile, options.overlap)
        top, bottom = band
        positions = [(y, x) for y, x in grid.positions if y < bottom and y + grid.tile_h > top]
        batch = options.batch or auto_batch(options.device, grid.tile_h * grid.tile_w)
        tiles_of = BandCache(above)
        pending = PendingRows(above.shape[1], band_capacity(positions, grid.tile_h, batch), scratch,
                               positions[0][0], band)
        for first in range(0, len(positions), batch):
            chunk = positions[first:first + batch]
            tiles = normalised(np.stack([tiles_of.read(y, y + grid.tile_h, x, x + grid.tile_w) for y, x in chunk]),
                               plan.lo, plan.hi)
            inputs = tiles[:, None]
            if focus is not None:
                extra = np.stack([condition_planes(values, focus.covariance_region(slice(y, y + grid.tile_h),
                                                                                   slice(x, x + grid.tile_w)),
                                                   focus.global_estimate.noise)
                                  for values, (y, x) in zip(tiles, chunk)])
                inputs = np.concatenate([inputs, extra], axis=1)
            restored = forward_tiles(self.model, inputs, options.device, options.ensemble, plan.conditioned)
            if options.strength != 1.0:
                restored = tiles + options.strength * (restored - tiles)
            for (y, x), values in zip(chunk, restored):
                pending.add(y, x, values * grid.weight(y, x))
            pending.finish(positions[first + batch][0] if first + batch < len(positions) else bottom)
            yield TileDone(min(first + batch, len(positions)), len(positions), index, count)
        return pending.total


def restore_band(plane, model, plan: PlanePlan, band: tuple[int, int], scratch: Scratch
                 ) -> Generator[TileDone, None, float]:
    """Rows [band) of a planned plane into a shared `scratch` (a task of a band-parallel
    restore: every tile of the global grid that reaches the band, its share inside the band):
    returns their float64 sum, which `finished_plane` needs of all bands."""
    return (yield from _PlaneJob(model, plan).blend(Region(plane), plan, band, scratch, 0, 1))


def band_bounds(plan: PlanePlan, width: int, tile_rows: int) -> list[tuple[int, int]]:
    """Rows of a planned plane cut into bands of `tile_rows` rows of its tile grid (each band's
    task also runs the tiles reaching into it from the band above: the halo)."""
    grid = TileGrid((plan.rows, width), plan.options.tile, plan.options.overlap)
    starts = sorted({y for y, _ in grid.positions})[::tile_rows] + [plan.rows]
    return list(zip(starts[:-1], starts[1:]))


def finished_plane(plane, plan: PlanePlan, scratch: Scratch, total: float) -> RestoredPlane:
    """A plane whose blended rows are all in `scratch` (summing to `total`), with its tone.

    Defocus moves signal around but keeps its total (the spot integrates to one), so the
    restored plane keeps the input's mean exactly: a dark or bright frame outside what the
    network saw in training keeps its tone, and a near-flat one stays as it was."""
    plane = plane if isinstance(plane, Region) else Region(plane)
    above = plane.limited(plan.rows)
    tone = plane_mean(above) - plan.lo - total / (above.shape[0] * above.shape[1]) * (plan.hi - plan.lo)
    return RestoredPlane(plane, plan.dtype, plan.rows, scratch, plan.lo, plan.hi, tone)


class RestoredPlane:
    """A restored plane, handed out by row blocks in the output dtype: its first `rows` from the
    network's blended output (scratch), the rest (an info bar kept) copied from the input."""

    def __init__(self, source: Region, dtype, rows: int, scratch=None, lo=0.0, hi=1.0, tone=0.0):
        self.source, self.dtype, self.restored_rows = source, dtype, rows
        self.scratch, self.lo, self.hi, self.tone = scratch, lo, hi, tone
        self.height, self.width = source.shape

    def rows(self, top: int, bottom: int) -> np.ndarray:
        bottom = min(bottom, self.height)
        split = min(max(top, self.restored_rows), bottom)
        parts = []
        if top < split:
            block = self.scratch.read(top, split)
            block *= self.hi - self.lo
            block += self.lo + self.tone
            parts.append(_to_dtype(block, self.dtype))
        if split < bottom:
            parts.append(_to_dtype(self.source[split:bottom].astype(np.float32), self.dtype))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        if self.scratch is not None:
            self.scratch.close()


def _restore_whole_planes(planes: list[Region], model, options: RestoreOptions, sink
                          ) -> Generator[TileDone, None, None]:
    """A foreign bioimage.io model (zoo.ZooModel): each plane whole through its own pipeline,
    which normalises and blocks as its package says; float32 out, in the model's own units."""
    if options.strength != 1.0 or options.ensemble or options.blur is not None:
        raise ValueError(f"{model.name} is a foreign bioimage.io model: strength, ensemble and a given blur "
                         "apply to napari-midnet's own models only")
    for index, plane in enumerate(planes):
        restored = Region(model.restore_plane(plane[:, :]).astype(np.float32))
        sink(index, len(planes), RestoredPlane(restored, np.float32, rows=0))
        yield TileDone(1, 1, index, len(planes))


def plane_focus(plane: Region, shape: tuple[int, int], lo: float, hi: float, given: BlurEstimate | None,
                index: int) -> tuple[FocusMap, BlurIdentified]:
    """A kernel-aware network's blur for one plane of `shape`: its focus map, read on `plane`
    (the rows above an info bar) and carried on below, or the blur the user gave, with the
    plane's measured noise."""
    read = lambda top, bottom: normalised(plane[top:bottom], lo, hi)  # noqa: E731
    if given is None:
        if min(plane.shape) < MIN_FIT_SIDE:
            # under the estimator's minimum: mirrored up to it (one window, the whole plane)
            short = [(0, max(MIN_FIT_SIDE - side, 0)) for side in plane.shape]
            estimate = focus_map(np.pad(read(0, plane.shape[0]), short, mode="symmetric")).global_estimate
            blur_map = uniform_map(estimate, shape)
        else:
            blur_map = replace(banded_focus_map(read, plane.shape), shape=shape)
            estimate = blur_map.global_estimate
    else:
        estimate = BlurEstimate(given.sigma_major_px, given.sigma_minor_px, given.angle_deg,
                                banded_noise_std(read, plane.shape))
        blur_map = uniform_map(estimate, shape)
    return blur_map, BlurIdentified(index, estimate, given is not None, blur_map)


def plane_mean(plane) -> float:
    """Mean in float64, a row chunk at a time (no full-size float copy of a huge plane)."""
    total = sum(float(plane[y:y + BAND_ROWS].sum(dtype=np.float64)) for y in range(0, plane.shape[0], BAND_ROWS))
    return total / max(plane.shape[0] * plane.shape[1], 1)


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
