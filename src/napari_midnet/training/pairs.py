"""Training/evaluation data: registered blurry/sharp pairs and sharp-only images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..blur.estimate import BlurEstimate
from ..events import never
from ..imaging import is_gray_rgb, mask_bounds, normalised, size_text, value_range
from ..io.databar import detect_databar
from ..io.files import read_image
from ..io.paths import IMAGE_SUFFIXES
from .registration import Registration, RegistrationError, register_pair, valid_mask, warp_to


@dataclass
class TrainingImage:
    """One image for training or validation, intensities in [0, 1].

    `blurry` is None for sharp-only images (the simulator makes the blurry twin).
    `mask` marks pixels both images really have: inside the registered overlap, above the databar.
    """

    name: str
    sharp: np.ndarray
    blurry: np.ndarray | None
    mask: np.ndarray
    registration: Registration | None = None
    blur: BlurEstimate | None = None  # a real pair's fitted spot: the condition of kernel-aware training

    @property
    def valid_box(self) -> tuple[int, int, int, int]:
        return mask_bounds(self.mask)


@dataclass
class TrainingSource:
    """One image for fine-tuning: a pair (blurry given) or a sharp-only image."""

    name: str
    sharp: np.ndarray
    blurry: np.ndarray | None = None
    origin: str = ""  # layer name or file path, for the model card


class PairError(ValueError):
    """A pair that cannot be used; one sentence for the user."""


def as_gray(image: np.ndarray, name: str) -> np.ndarray:
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        colour = image[..., :3]
        if not is_gray_rgb(colour):
            raise PairError(f"{name} is a colour (RGB) image; training needs grayscale SEM images")
        image = colour[..., 0]
    if image.ndim != 2:
        raise PairError(f"{name} must be a single 2-D grayscale image, got shape {image.shape}")
    return image


def make_pair(name: str, blurry: np.ndarray, sharp: np.ndarray, align: bool = True,
              max_residual: float = 1.5, should_stop: Callable[[], bool] = never) -> TrainingImage:
    """Normalise, detect the databar, and (by default) align sharp onto blurry (registration.py)."""
    blurry = as_gray(np.asarray(blurry), f"{name} (blurry)")
    sharp = as_gray(np.asarray(sharp), f"{name} (sharp)")
    lo, hi = value_range(blurry)
    blurry_f, sharp_f = normalised(blurry, lo, hi), normalised(sharp, lo, hi)
    bar = detect_databar(blurry)
    rows = bar if bar is not None else blurry.shape[0]
    if align:
        sharp_rows = min(rows, _bar_or_height(sharp))
        try:
            registration = register_pair(blurry_f, sharp_f, valid_rows=sharp_rows, max_residual=max_residual,
                                         should_stop=should_stop)
        except RegistrationError as error:
            raise PairError(f"{name}: {error}") from None
        aligned = warp_to(sharp_f, registration, blurry.shape, order=3)
        mask = valid_mask(registration, (sharp_rows, sharp.shape[1]), blurry.shape)
    else:
        if blurry.shape != sharp.shape:
            raise PairError(f"{name}: blurry ({size_text(blurry.shape)}) and sharp ({size_text(sharp.shape)}) "
                            "differ in size; align the pair (the dock's Align pairs; on the command line, leave out "
                            "--no-align)")
        correlation = field_correlation(blurry_f[:rows], sharp_f[:rows])
        if correlation < SAME_FIELD_CORRELATION:
            raise PairError(f"{name}: blurry and sharp do not show the same field where they lie (correlation "
                            f"{correlation:.2f}); align the pair, or check that both images are of one field")
        registration, aligned = None, sharp_f
        mask = np.ones(blurry.shape, dtype=bool)
    mask[rows:] = False
    return TrainingImage(name, aligned, blurry_f, mask, registration)


SAME_FIELD_CORRELATION = 0.5  # aligned pairs of one field: 0.9+ after smoothing; unrelated fields: about 0


def field_correlation(blurry: np.ndarray, sharp: np.ndarray) -> float:
    """Pearson correlation of the two images smoothed alike (sigma 4 px), so blur and noise do
    not lower it: an unaligned pair's sanity check."""
    from scipy.ndimage import gaussian_filter

    a, b = (gaussian_filter(image.astype(np.float64), 4.0).ravel() for image in (blurry, sharp))
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else 0.0


def _bar_or_height(image: np.ndarray) -> int:
    bar = detect_databar(image)
    return bar if bar is not None else image.shape[0]


def make_sharp_only(name: str, sharp: np.ndarray) -> TrainingImage:
    """A sharp image for the simulator. 8-bit maps by 0-255; other dtypes by their 0.1 and
    99.9 percentiles above the databar (clipped), since a few hot pixels or an unused part of
    the 16-bit range would otherwise squeeze the image into a sliver of [0, 1]."""
    sharp = as_gray(np.asarray(sharp), name)
    mask = np.ones(sharp.shape, dtype=bool)
    bar = detect_databar(sharp)
    if bar is not None:
        mask[bar:] = False
    if sharp.dtype == np.uint8:
        lo, hi = value_range(sharp)
    else:
        lo, hi = (float(v) for v in np.percentile(sharp[mask], (0.1, 99.9)))
        hi = hi if hi > lo else lo + 1.0
    scaled = np.clip(normalised(sharp, lo, hi), 0.0, 1.0)
    return TrainingImage(name, scaled, None, mask)


def _images_by_stem(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def pair_files(folder: str | Path) -> list[tuple[str, Path, Path]]:
    """(name, blurry file, sharp file) for `folder/blurry/NAME.*` and `folder/sharp/NAME.*`."""
    folder = Path(folder)
    blurry_dir, sharp_dir = folder / "blurry", folder / "sharp"
    if not blurry_dir.is_dir() or not sharp_dir.is_dir():
        raise PairError(f"{folder} must contain the folders blurry/ and sharp/")
    blurry, sharp = _images_by_stem(blurry_dir), _images_by_stem(sharp_dir)
    common = sorted(set(blurry) & set(sharp))
    if not common:
        raise PairError(f"no matching file names in {blurry_dir} and {sharp_dir}")
    return [(name, blurry[name], sharp[name]) for name in common]


def pair_folder_sources(folder: str | Path, names: list[str] | None = None) -> list[TrainingSource]:
    """Pairs from a `blurry/` + `sharp/` folder (only `names`, if given), read but not yet aligned."""
    return [TrainingSource(name, read_image(sharp), read_image(blurry), origin=str(blurry.parent.parent))
            for name, blurry, sharp in pair_files(folder) if names is None or name in names]


def sharp_folder_sources(folder: str | Path) -> list[TrainingSource]:
    """Every image of a folder of sharp images, for the simulator."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PairError(f"{folder} is not a folder")
    paths = _images_by_stem(folder)
    if not paths:
        raise PairError(f"no images in {folder}")
    return [TrainingSource(name, read_image(path), origin=str(path)) for name, path in paths.items()]


def load_pair_folder(folder: str | Path, align: bool = True, names: list[str] | None = None
                     ) -> list[TrainingImage]:
    """Aligned pairs from a pairs folder (see `pair_files`)."""
    return [make_pair(s.name, s.blurry, s.sharp, align) for s in pair_folder_sources(folder, names)]


def load_sharp_folder(folder: str | Path) -> list[TrainingImage]:
    return [make_sharp_only(s.name, s.sharp) for s in sharp_folder_sources(folder)]
