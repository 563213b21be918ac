"""Reading and atomically writing images; the CLI and the training data loaders share it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .weights import atomic_path

IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp"}


class ImageReadError(ValueError):
    """An input that cannot be read as an image; the message is one sentence."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read TIFF (all pages as a stack), PNG, JPEG or BMP without changing dtype."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"input not found: {path}")
    if path.is_dir():
        raise ImageReadError(f"{path} is a folder")
    try:
        if path.suffix.lower() in {".tif", ".tiff"}:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                return series.asarray()
        from skimage import io as skio

        return np.asarray(skio.imread(path))
    except Exception as error:  # image libraries raise many different errors for bad files
        raise ImageReadError(f"cannot read {path.name} as an image ({type(error).__name__}: {error})") from None


def collect_inputs(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand folders into their image files (sorted); files are kept as given."""
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found.extend(sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(item)
    return found


def write_tiff(path: str | os.PathLike, image: np.ndarray, overwrite: bool = False,
               metadata: dict | None = None) -> None:
    """Write a TIFF through a temp file and rename, so a crash never leaves half an output."""
    import tifffile

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (use --overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        photometric = "rgb" if image.ndim == 3 and image.shape[-1] in (3, 4) else "minisblack"
        tifffile.imwrite(tmp, image, photometric=photometric, metadata=metadata,
                         bigtiff=image.nbytes > 2**31)
