"""The deblur job the dock runs in a worker (Qt-free, so tests drive it synchronously)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..events import BlurIdentified, TileDone, tap
from ..imaging import LARGE_PLANE, central_square
from ..io.files import TiffPlane, read_image, read_tiff_layout, single_plane_pixels, write_tiff, write_tiff_by_rows
from ..io.paths import is_zarr_folder, write_failure
from ..io.stores import ZarrPlane, results_folder, write_zarr_by_rows
from ..metrics import STRUCTURE_CROP
from ..models.weights import LoadedModel
from ..restoration.restore import MIN_SIDE, RestoreOptions, plane_shape, resolve_options, restore, restore_planes
from .readouts import compute_readout, middle_gray_plane


@dataclass
class DeblurOutcome:
    data: np.ndarray
    provenance: dict  # stored as layer.metadata["midnet"]
    blur_log: object = None  # BlurLog: the blur a kernel-aware model was given (with focus maps)
    sigma_map: np.ndarray | None = None  # the first plane's blur map (px), when the dock asked for it


class BlurLog:
    """The BlurIdentified events of one restoration (kernel-aware models), for the record."""

    def __init__(self):
        self.events: list[BlurIdentified] = []

    def note(self, event) -> str:
        """A progress-bar note callback that keeps the blur events (and adds no text)."""
        if isinstance(event, BlurIdentified):
            self.events.append(event)
        return ""

    def sentence(self) -> str:
        first = self.events[0]
        how = "given" if first.given else "estimated"
        more = f" (slice 1 of {len(self.events)})" if len(self.events) > 1 else ""
        return f"blur {how}{more}: {first.estimate.describe()}"

    def record(self) -> dict | None:
        if not self.events:
            return None
        return {"source": "given" if self.events[0].given else "estimated (napari_midnet.blur.estimate, focus map)",
                "slices": [event.estimate.as_dict() for event in self.events]}


class JobRun:
    """What every deblur job records once: when it started, the model, the options as they ran
    (resolved for the image: tile, device) and the blur it was given or found; its `provenance`
    is the result's record."""

    def __init__(self, loaded: LoadedModel, options: RestoreOptions):
        self.loaded, self.options, self.start, self.blur_log = loaded, options, time.monotonic(), BlurLog()

    def restore(self, image) -> Generator[TileDone | BlurIdentified, None, np.ndarray]:
        """An in-memory image (a plane or a stack) restored."""
        self.options = resolve_options(self.options, plane_shape(np.shape(image)))
        return (yield from tap(restore(image, self.loaded.model, self.options), self.blur_log.note))

    def restore_streamed(self, plane, scratch_dir: str) -> Generator[TileDone | BlurIdentified, None, object]:
        """A lazy 2-D plane restored, its rows in a scratch (a RestoredPlane the caller closes)."""
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
        options = resolve_options(self.options, plane.shape)
        self.options = replace(options, scratch_dir=options.scratch_dir or scratch_dir)
        done = []
        yield from tap(restore_planes(plane, self.loaded.model, self.options,
                                      lambda index, count, restored: done.append(restored)), self.blur_log.note)
        return done[0]

    def provenance(self, **extra) -> dict:
        return provenance(self.loaded, self.options, self.blur_log) | extra

    def seconds(self) -> float:
        return round(time.monotonic() - self.start, 3)


def deblur_job(loaded: LoadedModel, options: RestoreOptions, image: np.ndarray, show_focus_map: bool = False
               ) -> Generator[TileDone | BlurIdentified, None, DeblurOutcome]:
    """The dock's job for an in-memory layer (a plane or a stack); the outcome carries the focus
    map a kernel-aware model was given when `show_focus_map`."""
    run = JobRun(loaded, options)
    data = yield from run.restore(image)
    events = run.blur_log.events
    sigma_map = events[0].focus_map.sigma_map() if events and show_focus_map else None
    return DeblurOutcome(data, run.provenance(seconds=run.seconds()), run.blur_log, sigma_map)


@dataclass
class FileDeblurred:
    """One file restored by `deblur_file`: what the command line reports of it."""

    source: Path
    target: Path
    readout: object  # readouts.Readout of the middle gray plane
    blur: str  # the blur a kernel-aware model was given, in words ("" for blind models)
    seconds: float


STREAM_ABOVE = LARGE_PLANE  # a single-plane TIFF larger than this is deblurred streaming


def deblur_file(loaded: LoadedModel, options: RestoreOptions, source: Path, target: Path, overwrite: bool,
                stream: bool | None = None) -> Generator[TileDone | BlurIdentified, None, FileDeblurred]:
    """Read, restore and write one file, keeping its instrument metadata and recording what ran:
    the command line's unit of work, in one process or as a task on a cluster worker.

    A zarr and a single-plane TIFF above STREAM_ABOVE pixels (or any, with `stream`) stream:
    read by region, the restored rows kept in a scratch file beside the output, written as a
    tiled (pyramidal when large) TIFF or an OME-Zarr: memory depends on the image width, not its
    height. The pixels are the in-memory path's (one job); the readout is of the central crop.
    """
    run = JobRun(loaded, options)
    if stream if stream is not None else streams(source):
        try:
            with open_plane(source) as plane:
                restored = yield from run.restore_streamed(plane, str(target.parent))
                before, after = write_restored(source, target, plane, restored, run.provenance(), overwrite)
        except OSError as error:
            if error.errno is None:  # already a sentence of ours
                raise
            raise OSError(f"could not write {target} ({write_failure(error)}); nothing was written") from None
    else:
        image = read_image(source)
        restored = yield from run.restore(image)
        write_tiff(target, restored, overwrite=overwrite, layout=read_tiff_layout(source),
                   provenance=run.provenance(source=source.name))
        before, after = middle_gray_plane(image), middle_gray_plane(restored)
    return file_deblurred(source, target, before, after, run)


def streams(source: Path) -> bool:
    """Whether `deblur_file` streams this input (a zarr, or a single-plane TIFF above STREAM_ABOVE)."""
    return is_zarr_folder(source) or single_plane_pixels(source) > STREAM_ABOVE


def open_plane(source: Path) -> TiffPlane | ZarrPlane:
    """The input's plane, read by region (a context manager that closes the file)."""
    return ZarrPlane(source) if is_zarr_folder(source) else TiffPlane(source)


def write_restored(source: Path, target: Path, plane, restored, record: dict, overwrite: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Write a streamed plane in its input's family (tiled TIFF with the instrument metadata, or
    OME-Zarr), then free its scratch; returns the central crops the readout describes."""
    record = record | {"source": source.name, "streamed": True}
    try:
        if is_zarr_folder(source):
            write_zarr_by_rows(target, plane.shape, restored.dtype, restored.rows, {"midnet": record},
                               overwrite=overwrite)
        else:
            write_tiff_by_rows(target, plane.shape, restored.dtype, restored.rows, overwrite=overwrite,
                               layout=read_tiff_layout(source), provenance=record)
        return _central(plane, restored.rows)
    finally:
        restored.close()


def file_deblurred(source: Path, target: Path, before: np.ndarray, after: np.ndarray, run: JobRun) -> FileDeblurred:
    events = run.blur_log.events
    # one plane whose blur was estimated: the readout reuses that estimate (a blur the user gave is no estimate)
    known = events[0].estimate if len(events) == 1 and not events[0].given else None
    readout = compute_readout(before, after, source_blur=known)
    return FileDeblurred(source, target, readout, run.blur_log.sentence() if events else "", run.seconds())


def deblur_to_zarr_job(loaded: LoadedModel, options: RestoreOptions, plane, target: Path
                       ) -> Generator[TileDone | BlurIdentified, None, DeblurOutcome]:
    """The dock's job for a lazy (dask, zarr, multiscale) 2-D layer: streamed, its result written
    to an OME-Zarr at `target` with its pyramid; the outcome's data are the opened levels."""
    run = JobRun(loaded, options)
    restored = yield from run.restore_streamed(plane, str(target.parent))
    record = run.provenance(streamed=True, written_to=str(target))
    try:
        levels = write_zarr_by_rows(target, plane.shape, restored.dtype, restored.rows, {"midnet": record})
    finally:
        restored.close()
    import dask.array as da

    return DeblurOutcome([da.from_zarr(level) for level in levels], record | {"seconds": run.seconds()},
                         run.blur_log)


def result_path(layer_name: str) -> Path:
    """A new OME-Zarr in the per-user results folder for a streamed result of `layer_name`."""
    stem = re.sub(r"[^\w.-]+", "_", layer_name).strip("._") or "image"
    return results_folder() / f"{stem}-deblurred-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.zarr"


def _central(plane, restored_rows) -> tuple[np.ndarray, np.ndarray]:
    """The central STRUCTURE_CROP square of a streamed input and of its result."""
    rows, cols = central_square(plane.shape, STRUCTURE_CROP)
    return plane[rows, cols], restored_rows(rows.start, rows.stop)[:, cols]

def preview_region(corners: np.ndarray, shape: tuple[int, int], margin: int) -> tuple[slice, slice]:
    """The part of a plane on screen (napari's corner pixels of its last two axes: [[top, left],
    [bottom, right]]), grown by `margin` on each side for the network's context and to at
    least MIN_SIDE, within the plane: what Preview deblurs instead of the whole image."""
    region = []
    for axis, length in enumerate(shape):
        low, high = int(max(corners[0][axis], 0)) - margin, int(min(corners[1][axis], length - 1)) + 1 + margin
        short = max(MIN_SIDE - (high - low), 0)
        low, high = max(low - short // 2, 0), min(high + short - short // 2, length)
        region.append(slice(max(min(low, length - MIN_SIDE), 0), max(high, min(MIN_SIDE, length))))
    return region[0], region[1]


def provenance(loaded: LoadedModel, options: RestoreOptions, blur_log: BlurLog | None = None) -> dict:
    """What made a result, for the layer's metadata (dock) and the TIFF description (CLI);
    `options` as resolved (restore.resolve_options): the tile and device that ran."""
    blur = blur_log.record() if blur_log is not None else None
    return ({"blur": blur} if blur else {}) | {
        "version": __version__,
        "model": loaded.name,
        "weights_sha256": loaded.sha256,
        "trained": loaded.trained,
        "tile": options.tile,
        "overlap": options.overlap,
        "strength": options.strength,
        "ensemble": options.ensemble,
        "databar_kept": options.keep_databar,
        "device": options.device,
    }
