"""Full-reference evaluation of a model on registered pairs (the CLI's `evaluate`, model cards)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

import numpy as np

from .events import TileDone
from .metrics import interior, score
from .pairs import TrainingImage
from .restore import RestoreOptions, restore


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


def wiener_filter(image: np.ndarray, sigma: float, balance: float) -> np.ndarray:
    """Wiener deconvolution with a Gaussian PSF of `sigma` px (intensities in [0, 1])."""
    from skimage.restoration import wiener

    radius = int(3 * sigma)
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    psf = np.exp(-(x**2 + y**2) / (2 * sigma**2))
    return np.clip(wiener(image.astype(np.float64), psf / psf.sum(), balance), 0, 1)


def best_wiener(pair: TrainingImage) -> dict[str, float]:
    """The best Gaussian-PSF Wiener filter (oracle search over sigma and balance) for a pair:
    the classical baseline the learned model must beat."""
    mask = interior(pair.mask)
    best = score(pair.blurry, pair.sharp, mask) | {"sigma": 0.0, "balance": 0.0}
    for sigma in WIENER_SIGMAS:
        for balance in WIENER_BALANCES:
            result = score(wiener_filter(pair.blurry, sigma, balance), pair.sharp, mask)
            if result["psnr"] > best["psnr"]:
                best = result | {"sigma": sigma, "balance": balance}
    return best


def harm(model, image: TrainingImage, options: RestoreOptions | None = None,
         wiener: tuple[float, float] | None = None) -> Generator[TileDone, None, dict]:
    """Do-no-harm check: an already sharp image fed as input, its output scored against the
    input itself (databar excluded). High PSNR means the model left it alone. `wiener`
    (sigma, balance) also scores that fixed Wiener filter the same way."""
    options = replace(options or RestoreOptions(), value_range=(0.0, 1.0), float32=True, keep_databar=True)
    restored = yield from restore(image.sharp, model, options)
    mask = interior(image.mask)
    result = {"output": score(np.clip(restored, 0, 1), image.sharp, mask)}
    if wiener is not None:
        result["wiener"] = score(wiener_filter(image.sharp, *wiener), image.sharp, mask)
    return result


def synthetic_pair(image: TrainingImage, degradation, seed: int, name: str) -> TrainingImage:
    """`image` (sharp-only) blurred by the simulator with fixed settings: a pair to score."""
    from .degrade import apply_degradation

    blurry = apply_degradation(image.sharp, degradation, np.random.default_rng(seed))
    return TrainingImage(name, image.sharp, blurry, image.mask.copy())


WIENER_SIGMAS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
WIENER_BALANCES = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
