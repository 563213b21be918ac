"""Paths of the bundled sample images (see resources/CREDITS.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_path(name: str) -> Path:
    return Path(str(resources.files("napari_midnet.resources"))) / name


def sample_paths() -> dict[str, Path]:
    """Layer name -> file: a real sharp Zeiss SEM frame and its simulated blurry twin."""
    return {"SEM blurry": resource_path("sem_blurry.tif"), "SEM sharp": resource_path("sem_sharp.tif")}
