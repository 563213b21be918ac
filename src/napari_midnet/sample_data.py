"""napari sample data: a real sharp SEM frame and its simulated blurry twin."""

from __future__ import annotations

from .bundled import sample_paths
from .reader import read_sem_tiff


def sem_sample() -> list[tuple]:
    """Two layers, 'SEM blurry' then 'SEM sharp', with the Zeiss pixel size as scale."""
    layers = []
    for name, path in sample_paths().items():
        data, kwargs, kind = read_sem_tiff(path)[0]
        layers.append((data, {**kwargs, "name": name, "colormap": "gray"}, kind))
    return layers
