"""Full-reference evaluation of a model on registered pairs (the CLI's `evaluate`, model cards)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

import numpy as np

from ..events import TileDone
from ..metrics import interior, score
from ..restoration.restore import RestoreOptions, restore
from ..training.pairs import TrainingImage


def evaluate_pairs(model, pairs: list[TrainingImage], options: RestoreOptions | None = None,
                   wiener: bool = False, given_blur: bool = False) -> Generator[TileDone, None, dict]:
    """PSNR/SSIM/contrast of input and output (and optionally the best Wiener filter) against
    the registered sharp image, per image and mean. `given_blur`: a kernel-aware model gets each
    pair's true spot (`pair.blur`) instead of estimating it, and the Wiener filter uses that
    spot too (an oracle: the true PSF and the best balance)."""
    options = replace(options or RestoreOptions(), value_range=(0.0, 1.0), float32=True, keep_databar=True)
    images = {}
    for pair in pairs:
        pair_options = replace(options, blur=pair.blur) if given_blur else options
        restored = yield from restore(pair.blurry, model, pair_options)
        mask = interior(pair.mask)
        images[pair.name] = {"input": score(pair.blurry, pair.sharp, mask),
                             "output": score(np.clip(restored, 0, 1), pair.sharp, mask)}
        if wiener:
            images[pair.name]["wiener"] = best_wiener(pair, pair.blur if given_blur else None)
    kinds = ("input", "output", "wiener") if wiener else ("input", "output")
    mean = {kind: {metric: float(np.mean([r[kind][metric] for r in images.values()]))
                   for metric in ("psnr", "ssim", "contrast")} for kind in kinds}
    return {"images": images, "mean": mean}


def wiener_filter(image: np.ndarray, sigma: float, balance: float, spot=None) -> np.ndarray:
    """Wiener deconvolution with a Gaussian PSF of `sigma` px, or the elliptical `spot`
    (a blur.BlurEstimate), on intensities in [0, 1]."""
    from skimage.restoration import wiener

    from ..blur.estimate import BlurEstimate

    psf = spot_psf(BlurEstimate.isotropic(sigma) if spot is None else spot)
    return np.clip(wiener(image.astype(np.float64), psf, balance), 0, 1)


def spot_psf(spot) -> np.ndarray:
    """The simulator's kernel for a spot (a blur.BlurEstimate): what the classical peers are given."""
    from ..blur.simulate import Degradation, blur_kernel

    ratio = spot.sigma_major_px / max(spot.sigma_minor_px, 1e-3)
    return blur_kernel(Degradation(sigma=spot.sigma, axis_ratio=ratio, angle=-np.deg2rad(spot.angle_deg)))


def best_wiener(pair: TrainingImage, spot=None) -> dict[str, float]:
    """The best Wiener filter for a pair against its sharp image: an oracle search over a
    Gaussian PSF's sigma and the balance, or with the true `spot` given, over the balance alone.
    The classical baseline the learned model must beat."""
    mask = interior(pair.mask)
    best = score(pair.blurry, pair.sharp, mask) | {"sigma": 0.0, "balance": 0.0}
    sigmas = WIENER_SIGMAS if spot is None else (spot.sigma,)
    for sigma in sigmas:
        for balance in WIENER_BALANCES:
            result = score(wiener_filter(pair.blurry, sigma, balance, spot), pair.sharp, mask)
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


def synthetic_pair(image: TrainingImage, degradation, seed: int, name: str, bits: int = 8) -> TrainingImage:
    """`image` (sharp-only) blurred by the simulator with fixed settings, stored in `bits`: a pair
    to score, with its true spot."""
    from ..blur.simulate import apply_degradation, true_blur

    blurry = apply_degradation(image.sharp, degradation, np.random.default_rng(seed), bits)
    return TrainingImage(name, image.sharp, blurry, image.mask.copy(), blur=true_blur(degradation))


def half_blurred_pair(image: TrainingImage, degradation, seed: int) -> TrainingImage:
    """The left half sharp, the right half blurred by `degradation` (a frame partly out of
    focus); its mask covers the sharp half only, so scoring it asks: was the sharp part left alone?"""
    from ..blur.simulate import apply_degradation

    blurred = apply_degradation(image.sharp, degradation, np.random.default_rng(seed))
    middle = image.sharp.shape[1] // 2
    mixed = np.concatenate([image.sharp[:, :middle], blurred[:, middle:]], axis=1).astype(np.float32)
    mask = image.mask.copy()
    mask[:, middle - 64:] = False  # a margin: the seam itself is neither sharp nor blurred
    return TrainingImage(f"{image.name} half-blurred", image.sharp, mixed, mask)


WIENER_SIGMAS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
WIENER_BALANCES = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
