"""What ships inside the package: the trained weights and the sample images (resources/)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_path(name: str) -> Path:
    return Path(str(resources.files("napari_midnet.resources"))) / name


def sample_paths() -> dict[str, Path]:
    """Layer name -> file: a real sharp Zeiss SEM frame and its simulated blurry twin."""
    return {"SEM blurry": resource_path("sem_blurry.tif"), "SEM sharp": resource_path("sem_sharp.tif")}


def bundled_weights(preset: str) -> Path | None:
    """The shipped weights file for a preset, or None if none ships."""
    path = resource_path(f"{preset}.safetensors")
    return path if path.is_file() else None
