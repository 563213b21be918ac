"""Full-reference evaluation of a model on registered pairs (the CLI's `evaluate`, model cards)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

import numpy as np
from scipy.ndimage import binary_erosion

from .events import TileDone
from .metrics import psnr, ssim
from .pairs import TrainingImage
from .restore import RestoreOptions, restore

INTERIOR_MARGIN = 8  # pixels dropped inside the valid mask so SSIM windows see real data only


def interior(mask: np.ndarray) -> np.ndarray:
    return binary_erosion(mask, iterations=INTERIOR_MARGIN)


def score(image: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    return {"psnr": psnr(image, reference, mask, value_range=1.0),
            "ssim": ssim(image, reference, mask, value_range=1.0)}


def evaluate_pairs(model, pairs: list[TrainingImage], options: RestoreOptions | None = None,
                   wiener: bool = False) -> Generator[TileDone, None, dict]:
    """PSNR/SSIM of input and output (and optionally the best Wiener filter) against the
    registered sharp image, per image and mean."""
    options = replace(options or RestoreOptions(), value_range=(0.0, 1.0), float32=True, keep_databar=True)
    images = {}
    for pair in pairs:
        restored = yield from restore(pair.blurry, model, options)
        mask = interior(pair.mask)
        images[pair.name] = {"input": score(pair.blurry, pair.sharp, mask),
                             "output": score(np.clip(restored, 0, 1), pair.sharp, mask)}
        if wiener:
            images[pair.name]["wiener"] = best_wiener(pair)
    kinds = ("input", "output", "wiener") if wiener else ("input", "output")
    mean = {
        kind: {metric: float(np.mean([r[kind][metric] for r in images.values()])) for metric in ("psnr", "ssim")}
        for kind in kinds
    }
    return {"images": images, "mean": mean}


def best_wiener(pair: TrainingImage) -> dict[str, float]:
    """The best Gaussian-PSF Wiener filter (oracle search over sigma and balance) for a pair:
    the classical baseline the learned model must beat."""
    from skimage.restoration import wiener

    mask = interior(pair.mask)
    best = score(pair.blurry, pair.sharp, mask) | {"sigma": 0.0, "balance": 0.0}
    for sigma in (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0):
        radius = int(3 * sigma)
        y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        psf = np.exp(-(x**2 + y**2) / (2 * sigma**2))
        psf /= psf.sum()
        for balance in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
            restored = np.clip(wiener(pair.blurry.astype(np.float64), psf, balance), 0, 1)
            result = score(restored, pair.sharp, mask)
            if result["psnr"] > best["psnr"]:
                best = result | {"sigma": sigma, "balance": balance}
    return best
