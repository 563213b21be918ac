"""The deblur job the dock runs in a worker (Qt-free, so tests drive it synchronously)."""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .device import pick_device
from .events import TileDone
from .registry import ModelRegistry
from .restore import RestoreOptions, restore
from .state import DeblurSettings


@dataclass
class DeblurOutcome:
    data: np.ndarray
    provenance: dict  # stored as layer.metadata["midnet"]


def deblur_job(image: np.ndarray, registry: ModelRegistry, settings: DeblurSettings
               ) -> Generator[TileDone, None, DeblurOutcome]:
    start = time.monotonic()
    loaded = registry.get(settings.model)
    device = pick_device(settings.device)
    options = RestoreOptions(tile=settings.tile, overlap=settings.overlap, device=device,
                             keep_databar=settings.keep_databar, ensemble=settings.ensemble,
                             strength=settings.strength)
    data = yield from restore(image, loaded.model, options)
    provenance = {
        "model": loaded.name,
        "weights_sha256": loaded.sha256,
        "trained": loaded.trained,
        "tile": settings.tile or "auto",
        "overlap": settings.overlap,
        "ensemble": settings.ensemble,
        "strength": settings.strength,
        "device": device,
        "seconds": round(time.monotonic() - start, 3),
    }
    return DeblurOutcome(data, provenance)
