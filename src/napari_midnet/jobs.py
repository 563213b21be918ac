"""The generators the napari workers run (Qt-free, so tests can drive them synchronously)."""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .events import TileDone
from .registry import ModelRegistry
from .restore import RestoreOptions, pick_device, restore
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


def device_job(requested: str = "auto") -> str:
    """Resolve the device off the GUI thread (it imports torch) when the dock opens.

    Also imports torch._dynamo, which the first optimizer of a fine-tuning run would otherwise
    import: part of that import holds the GIL for about 0.25 s, a visible freeze mid-run
    (measured with scripts/measure_responsiveness.py finetune) but not while the dock opens.
    """
    import torch._dynamo  # noqa: F401

    return pick_device(requested)
