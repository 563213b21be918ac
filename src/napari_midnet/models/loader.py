"""One way in for every model source: a preset name, a weights file, a bioimage.io package."""

from __future__ import annotations

import os
from pathlib import Path

from ..bundled import bundled_weights
from .config import PRESETS
from .weights import LoadedModel, WeightsError, fresh_model, is_bioimageio_package, load_weights_file
from .zoo.load import load_package


def load_model(spec: str | os.PathLike, allow_untrained: bool = True) -> LoadedModel:
    """Build a model from a preset name (its shipped weights, else untrained), a weights file or a
    bioimage.io package."""
    if isinstance(spec, str) and spec in PRESETS:
        shipped = bundled_weights(spec)
        if shipped is not None:
            loaded = load_weights_file(shipped)
            loaded.name = spec
            return loaded
        if not allow_untrained:
            raise WeightsError(f"no trained weights ship for preset {spec!r}")
        return fresh_model(spec)
    if is_bioimageio_package(spec):
        return load_package(spec)
    return load_weights_file(Path(spec))
