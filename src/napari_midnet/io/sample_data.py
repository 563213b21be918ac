"""napari sample data: a real sharp SEM frame and its simulated blurry twin."""

from __future__ import annotations

from ..bundled import sample_paths
from .reader import read_sem_tiff


def sem_sample() -> list[tuple]:
    """Two layers, 'SEM sharp' then 'SEM blurry' (added last, so the blurry one is on top and
    active: the first click on Deblur restores it), with the Zeiss pixel size as scale."""
    layers = []
    for name, path in reversed(sample_paths().items()):
        data, kwargs, kind = read_sem_tiff(path)[0]
        layers.append((data, {**kwargs, "name": name, "colormap": "gray"}, kind))
    return layers
