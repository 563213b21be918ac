"""The kernel-aware network's condition: the blur (spot and noise) as input planes beside the
image, and the image deconvolved with the spot by regularised inverse filters (numpy only)."""

from __future__ import annotations

import numpy as np
import scipy.fft

from ..blur.estimate import BlurEstimate
from .tiling import TileGrid

# The network's condition: four planes that encode the spot and the noise smoothly (no angle
# wrap-around, ranges near [-1, 1] over the simulator's range), and the image deconvolved with the
# spot by a light and a strong regularised inverse filter: the classical restoration the network
# refines (why: docs/decisions.md).
WIENER_WEIGHTS = (30.0, 3000.0)  # regularisation x noise^2: the best for sharp-grained frames and for JEOL


def encode_spot(sxx: np.ndarray, sxy: np.ndarray, syy: np.ndarray, noise: float) -> np.ndarray:
    """(4, ...) float32: blur size log2(1 + sigma_rms)/4, astigmatism (sxx - syy) and 2 sxy over
    (sxx + syy + 1), and noise std x 20 (computed in float32: it runs on every tile)."""
    sxx, sxy, syy = (np.asarray(values, dtype=np.float32) for values in (sxx, sxy, syy))
    trace = sxx + syy
    out = np.empty((4, *trace.shape), dtype=np.float32)
    np.log2(1.0 + np.sqrt(np.maximum(trace / 2, 0.0)), out=out[0])
    out[0] /= 4
    inverse = 1.0 / (trace + 1.0)
    np.multiply(sxx - syy, inverse, out=out[1])
    np.multiply(2 * sxy, inverse, out=out[2])
    out[3] = noise * 20.0
    return out


def condition_planes(image: np.ndarray, covariances: np.ndarray, noise: float) -> np.ndarray:
    """(CONDITION_PLANES, H, W) for an image in [0, 1] and its spot per pixel ((3, H, W): sxx,
    sxy, syy): the encoded spot, then the image deconvolved block by block with each block's
    mean spot, the blocks blended (`wiener_by_blocks`)."""
    sxx, sxy, syy = covariances
    restored = np.clip(wiener_by_blocks(image, covariances, noise), -0.5, 1.5)
    return np.concatenate([encode_spot(sxx, sxy, syy, noise), restored])


# The largest area deconvolved with one spot, and how much neighbouring blocks share: a tile
# whose spot varies (a focus edge, a tilted sample) is deconvolved with its local spots, so its
# condition hardly depends on the network's tile size; a training crop is one block.
WIENER_BLOCK = 256
WIENER_BLOCK_OVERLAP = 64


def wiener_by_blocks(image: np.ndarray, covariances: np.ndarray, noise: float) -> np.ndarray:
    """(len(WIENER_WEIGHTS), H, W): `wiener_deconvolve` on overlapping blocks of at most
    WIENER_BLOCK px, each with the mean of its pixels' spots, blended by raised-cosine weights."""
    grid = TileGrid(image.shape, WIENER_BLOCK, WIENER_BLOCK_OVERLAP)
    restored = np.zeros((len(WIENER_WEIGHTS), *image.shape), dtype=np.float32)
    for y, x in grid.positions:
        block = slice(y, y + grid.tile_h), slice(x, x + grid.tile_w)
        sxx, sxy, syy = (values[block].mean() for values in covariances)
        spot = np.array([[sxx, sxy], [sxy, syy]])
        restored[:, block[0], block[1]] += (wiener_deconvolve(image[block], spot, noise, WIENER_WEIGHTS)
                                            * grid.weight(y, x))
    return restored


def uniform_covariances(spot: BlurEstimate, shape: tuple[int, int]) -> np.ndarray:
    """(3, H, W): one spot everywhere."""
    covariance = spot.covariance()
    values = np.array([covariance[0, 0], covariance[0, 1], covariance[1, 1]], dtype=np.float32)
    return np.broadcast_to(values[:, None, None], (3, *shape))


WIENER_PAD = 32  # px of reflection around a tile before the FFT (its ringing stays outside)


def wiener_deconvolve(image: np.ndarray, covariance: np.ndarray, noise: float, weights: tuple[float, ...]
                      ) -> np.ndarray:
    """(len(weights), H, W) float32: regularised inverse filters for a Gaussian spot of 2x2
    `covariance` (px^2), one per weight: X = H Y / (H^2 + weight noise^2 |L|^2), H the spot's
    MTF, L the discrete Laplacian (so the regularisation grows with frequency, as SEM object
    spectra fall). One forward FFT serves all weights; float32 FFTs (scipy) are 4x faster than
    numpy's float64 ones and agree to 5e-7 on images in [0, 1]."""
    image = np.asarray(image, dtype=np.float32)
    pad = min(WIENER_PAD, image.shape[0] - 1, image.shape[1] - 1)
    padded = np.pad(image, pad, mode="reflect")
    fy = np.fft.fftfreq(padded.shape[0]).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(padded.shape[1]).astype(np.float32)[None, :]
    mtf = np.exp(-2 * np.pi**2 * (covariance[0, 0] * fx * fx + 2 * covariance[0, 1] * fx * fy
                                  + covariance[1, 1] * fy * fy)).astype(np.float32)
    laplacian = 4 * np.sin(np.pi * fx) ** 2 + 4 * np.sin(np.pi * fy) ** 2
    mean = padded.mean()
    spectrum = scipy.fft.rfft2(padded - mean) * mtf
    noise_power = np.float32(max(noise, 1e-4) ** 2) * laplacian**2
    out = np.empty((len(weights), *image.shape), dtype=np.float32)
    for index, weight in enumerate(weights):
        restored = scipy.fft.irfft2(spectrum / (mtf**2 + np.float32(weight) * noise_power), s=padded.shape)
        out[index] = restored[pad:pad + image.shape[0], pad:pad + image.shape[1]] + mean
    return out
