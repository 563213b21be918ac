"""The deblur job the dock runs in a worker (Qt-free, so tests drive it synchronously)."""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, replace

import numpy as np

from . import __version__
from .device import pick_device
from .events import TileDone
from .registry import ModelRegistry
from .restore import RestoreOptions, restore
from .state import DeblurSettings
from .weights import LoadedModel


@dataclass
class DeblurOutcome:
    data: np.ndarray
    provenance: dict  # stored as layer.metadata["midnet"]


def deblur_job(image: np.ndarray, registry: ModelRegistry, settings: DeblurSettings
               ) -> Generator[TileDone, None, DeblurOutcome]:
    start = time.monotonic()
    loaded = registry.get(settings.model)
    options = replace(settings, device=pick_device(settings.device))
    data = yield from restore(image, loaded.model, options)
    return DeblurOutcome(data, provenance(loaded, options) | {"seconds": round(time.monotonic() - start, 3)})


def provenance(loaded: LoadedModel, options: RestoreOptions) -> dict:
    """What made a result, for the layer's metadata (dock) and the TIFF description (CLI)."""
    return {
        "version": __version__,
        "model": loaded.name,
        "weights_sha256": loaded.sha256,
        "trained": loaded.trained,
        "tile": options.tile or "auto",
        "overlap": options.overlap,
        "strength": options.strength,
        "ensemble": options.ensemble,
        "databar_kept": options.keep_databar,
        "device": pick_device(options.device),
    }
