"""Which part of a layer's data the widgets hand to the core (no numerics here)."""

from __future__ import annotations

import numpy as np


def layer_array(layer) -> np.ndarray:
    """Full-resolution data of an image layer as a NumPy array (level 0 of a pyramid)."""
    data = layer.data[0] if layer.multiscale else layer.data
    return np.asarray(data)


def current_index(layer, viewer) -> tuple[int, ...]:
    """Indices of the leading (non-YX) axes of `layer` at the viewer's current position."""
    point = layer.world_to_data(viewer.dims.point)
    leading = layer.ndim - 2
    shape = layer_array(layer).shape
    return tuple(int(np.clip(round(point[axis]), 0, shape[axis] - 1)) for axis in range(leading))


def current_plane(layer, viewer) -> np.ndarray:
    data = layer_array(layer)
    return data[current_index(layer, viewer)] if data.ndim > 2 else data
