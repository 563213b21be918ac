"""Full-reference (PSNR, SSIM) and no-reference (sharpness) image quality measures."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_erosion

from .imaging import central_crop, mask_bounds


def sharpness(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Multi-scale autocorrelation ratio S = ACR(1) + ACR(2) + ACR(4), ACR(l) = 1 - C(2l)/C(l).

    C(k) is the mean-removed autocorrelation at lag k along x plus along y. White noise only
    adds to C(0), so unlike gradient energy the score does not mistake SEM shot noise for
    detail; it is invariant to gain and offset. Higher means sharper. `mask` (rows x cols,
    True = use) restricts it to a rectangle's worth of valid rows, e.g. above a databar.
    """
    data = np.asarray(image, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"sharpness needs a 2-D image, got shape {data.shape}")
    if mask is not None:
        top, bottom, left, right = mask_bounds(mask)
        data = data[top:bottom, left:right]
    if min(data.shape) < 17:
        raise ValueError("sharpness needs an image of at least 17 x 17 pixels")
    data = data - data.mean(dtype=np.float64).astype(np.float32)

    def autocorrelation(lag: int) -> float:
        along_x = np.mean(data[:, :-lag] * data[:, lag:], dtype=np.float64)
        along_y = np.mean(data[:-lag] * data[lag:], dtype=np.float64)
        return float(along_x + along_y)

    correlations = {lag: autocorrelation(lag) for lag in (1, 2, 4, 8)}
    variance = 2 * float(np.mean(data * data, dtype=np.float64))  # C(0), along x plus along y
    if correlations[1] <= STRUCTURE_CORRELATION * variance:  # noise alone: the ratios are noise too
        return 0.0
    return float(sum(1.0 - correlations[2 * lag] / correlations[lag] for lag in (1, 2, 4)))


STRUCTURE_CORRELATION = 0.05  # neighbour correlation below which a plane shows nothing but noise
STRUCTURE_CROP = 1024  # the central crop that decides, so a huge plane costs no full-size copy


def neighbour_correlation(image: np.ndarray) -> float:
    """Correlation of each pixel with its right and lower neighbours (0 for a flat image).

    Every SEM image is correlated between neighbours by the probe and the specimen's structure;
    only a flat frame or pure noise is not."""
    data = np.asarray(image, dtype=np.float32)
    data = data - data.mean(dtype=np.float64).astype(np.float32)
    variance = float(np.mean(data * data, dtype=np.float64))
    if variance == 0 or min(data.shape) < 2:
        return 0.0
    along_x = np.mean(data[:, :-1] * data[:, 1:], dtype=np.float64)
    along_y = np.mean(data[:-1] * data[1:], dtype=np.float64)
    return float(along_x + along_y) / (2 * variance)


def shows_structure(plane: np.ndarray) -> bool:
    """False for a plane with nothing to deblur: flat, or uncorrelated noise (judged on its
    central STRUCTURE_CROP square)."""
    return neighbour_correlation(central_crop(plane, STRUCTURE_CROP)) >= STRUCTURE_CORRELATION


def data_range(*images: np.ndarray) -> float:
    """The value range PSNR/SSIM are measured against: the dtype's for integers, else 1."""
    dtype = images[0].dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(info.max - info.min)
    return 1.0


def psnr(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None,
         value_range: float | None = None) -> float:
    value_range = value_range or data_range(reference)
    diff = image.astype(np.float32) - reference.astype(np.float32)
    if mask is not None:
        diff = diff[mask]
    mse = float(np.mean(diff * diff, dtype=np.float64))
    return float("inf") if mse == 0 else float(10 * np.log10(value_range**2 / mse))


def ssim(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None,
         value_range: float | None = None) -> float:
    """Mean SSIM (scikit-image, Gaussian weights as in Wang et al. 2004) over the mask."""
    from skimage.metrics import structural_similarity

    value_range = value_range or data_range(reference)
    _, full = structural_similarity(
        image.astype(np.float32), reference.astype(np.float32), data_range=value_range,
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False, full=True,
    )
    return float(full[mask].mean() if mask is not None else full.mean())


INTERIOR_MARGIN = 8  # pixels dropped inside the valid mask so SSIM windows see real data only


def interior(mask: np.ndarray) -> np.ndarray:
    return binary_erosion(mask, iterations=INTERIOR_MARGIN)


def contrast_ratio(image: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    """Standard deviation of `image` over that of `reference` (1: the reference's contrast)."""
    spread = float(np.std(reference[mask]))
    return float(np.std(image[mask])) / spread if spread > 0 else 1.0


def score(image: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    return {"psnr": psnr(image, reference, mask, value_range=1.0),
            "ssim": ssim(image, reference, mask, value_range=1.0),
            "contrast": contrast_ratio(image, reference, mask)}
