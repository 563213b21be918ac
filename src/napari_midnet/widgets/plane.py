"""Which part of a layer's data the widgets hand to the core (no numerics here)."""

from __future__ import annotations

import numpy as np

from ..imaging import central_crop


def full_resolution(layer):
    """Full-resolution data of an image layer (level 0 of a pyramid), as it is: lazy stays lazy."""
    return layer.data[0] if layer.multiscale else layer.data


def is_lazy(data) -> bool:
    """Data napari reads by region (dask, zarr): deblurred streaming, never loaded whole."""
    return not isinstance(data, np.ndarray)


def layer_array(layer) -> np.ndarray:
    """Full-resolution data of an image layer as a NumPy array."""
    return np.asarray(full_resolution(layer))


def current_index(layer, viewer) -> tuple[int, ...]:
    """Indices of the leading (non-YX) axes of `layer` at the viewer's current position."""
    point = layer.world_to_data(viewer.dims.point)
    leading = layer.ndim - 2
    shape = full_resolution(layer).shape
    return tuple(int(np.clip(round(point[axis]), 0, shape[axis] - 1)) for axis in range(leading))


def current_plane(layer, viewer, crop: int | None = None) -> np.ndarray:
    """The plane on screen, as NumPy (of a lazy stack only that plane is read); with `crop`,
    only its central crop x crop square is read."""
    data = full_resolution(layer)
    plane = data[current_index(layer, viewer)] if data.ndim > 2 else data
    return np.asarray(central_crop(plane, crop) if crop else plane)
