"""Zarr and OME-Zarr: planes read by region, results written by row bands with their pyramid.

Both the command line (a `.zarr` input gives a `.zarr` output) and the dock (a lazy layer's
result) use these; the reduced levels are 2x2 means of the level above, like the TIFF's.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from .files import TILE_SIDE, ImageReadError, pyramid_levels, reduced_rows
from .paths import user_data_folder, write_failure

NGFF_VERSION = "0.5"


class ZarrPlane:
    """The full-resolution 2-D plane of a zarr array or (OME-)Zarr group, read by region;
    leading axes of length 1 (t, c, z of an OME-Zarr) are looked through."""

    def __init__(self, path: Path):
        import zarr

        self.path = Path(path)
        try:
            node = zarr.open(self.path, mode="r")
            array = node if isinstance(node, zarr.Array) else node[_full_resolution_path(node)]
        except (KeyError, ValueError, OSError, TypeError) as error:  # zarr raises these for broken stores
            raise ImageReadError(f"cannot read {self.path.name} as a zarr image ({type(error).__name__}: "
                                 f"{str(error).splitlines()[0] if str(error) else ''})") from None
        shape = tuple(array.shape)
        if len(shape) < 2 or any(side != 1 for side in shape[:-2]):
            raise ImageReadError(f"{self.path.name} holds an array of shape {shape}; "
                                 f"{_why_not_a_plane(shape)}")
        self.array, self._lead = array, (0,) * (len(shape) - 2)
        self.shape, self.dtype, self.ndim = shape[-2:], np.dtype(array.dtype), 2

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = (*(key if isinstance(key, tuple) else (key,)), slice(None))[:2]
        return np.asarray(self.array[(*self._lead, rows, cols)])

    def close(self) -> None:
        """Nothing to close (zarr opens chunks as it reads them); here for `with` like TiffPlane."""

    def __enter__(self) -> ZarrPlane:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _full_resolution_path(group) -> str:
    """The first dataset of an OME-Zarr's multiscales (0.5 under 'ome', 0.4 at the top), else '0'."""
    attributes = dict(group.attrs)
    multiscales = attributes.get("ome", attributes).get("multiscales")
    return multiscales[0]["datasets"][0]["path"] if multiscales else "0"


def _why_not_a_plane(shape: tuple) -> str:
    if (len(shape) >= 3 and shape[-3] in (3, 4)) or shape[-1] in (3, 4):
        return ("that looks like colour channels; napari-midnet deblurs gray SEM planes: save one channel "
                "(or a gray conversion) as its own zarr")
    return "napari-midnet streams single 2-D planes from zarr: save each plane as its own zarr, or the stack as a TIFF"


def write_zarr_by_rows(path: Path, shape: tuple[int, int], dtype, rows, attributes: dict | None = None,
                       overwrite: bool = False, levels: int | None = None) -> list:
    """Write a 2-D image that `rows(top, bottom)` hands out a band at a time as an OME-Zarr
    (NGFF 0.5) group with its pyramid (halved down to 1024 px unless `levels` is given),
    into a temp folder renamed over `path` when complete. Returns the opened levels, largest first."""
    import zarr

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (use --overwrite to replace it)")
    dtype = np.dtype(dtype)
    levels = pyramid_levels(shape, above=0) if levels is None else levels
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        group = zarr.open_group(tmp, mode="w")
        for level in range(levels + 1):
            factor = 2**level
            size = (shape[0] // factor, shape[1] // factor)
            array = group.create_array(str(level), shape=size, chunks=(TILE_SIDE, TILE_SIDE), dtype=dtype,
                                       fill_value=0, dimension_names=("y", "x"))
            for top in range(0, size[0], TILE_SIDE):
                bottom = min(top + TILE_SIDE, size[0])
                array[top:bottom] = rows(top, bottom) if factor == 1 else reduced_rows(rows, top, bottom, size[1],
                                                                                       factor, dtype)
        group.attrs.update((attributes or {}) | {"ome": _multiscales(levels)})
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except OSError as error:
        raise OSError(f"could not write {path} ({write_failure(error)}); nothing was written") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    opened = zarr.open_group(path, mode="r")
    return [opened[str(level)] for level in range(levels + 1)]


def _multiscales(levels: int) -> dict:
    datasets = [{"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": [2.0**level] * 2}]}
                for level in range(levels + 1)]
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    return {"version": NGFF_VERSION, "multiscales": [{"name": "deblurred", "axes": axes, "datasets": datasets}]}


def results_folder() -> Path:
    """The per-user folder where the dock writes results too large to hold in memory."""
    return user_data_folder() / "results"
