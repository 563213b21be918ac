"""SEM degradation simulator: synthetic blurry twins of sharp SEM images.

Models what an SEM does to a frame (defocus, astigmatism, drift, scan-line errors, detector
streaking, shot and read noise, gain/offset/gamma, 8-bit quantisation), so sharp-only images
can teach the network. Intensities in [0, 1]; all randomness comes from the caller's Generator.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.signal import fftconvolve


def sample_sigma(rng: np.random.Generator, strength: float = 1.0) -> float:
    """Defocus sigma: log-uniform 0.5-6 px, with a 10 % tail up to ~12 px."""
    high = 12.0 if rng.random() < 0.1 else 6.0
    return float(np.exp(rng.uniform(np.log(0.5), np.log(high)))) * strength


def blur_kernel(sigma: float, axis_ratio: float, angle: float, drift: float,
                drift_angle: float) -> np.ndarray:
    """Elliptical Gaussian (defocus + astigmatism) smeared along a drift direction."""
    sigma_major = sigma * np.sqrt(axis_ratio)
    sigma_minor = sigma / np.sqrt(axis_ratio)
    radius = int(np.ceil(3 * sigma_major + drift)) + 1
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float64)
    kernel = np.zeros_like(x)
    steps = max(int(np.ceil(drift * 2)), 1)
    for offset in np.linspace(-drift / 2, drift / 2, steps):
        dx = x - offset * np.cos(drift_angle)
        dy = y - offset * np.sin(drift_angle)
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        kernel += np.exp(-0.5 * ((u / max(sigma_major, 1e-3)) ** 2 + (v / max(sigma_minor, 1e-3)) ** 2))
    return kernel / kernel.sum()


def scan_line_shifts(rows: int, rng: np.random.Generator) -> np.ndarray:
    """Per-row x offsets: random jitter plus a sinusoid of period 4-60 rows."""
    jitter = rng.normal(0.0, rng.uniform(0.0, 0.4), rows)
    period = rng.uniform(4, 60)
    sinus = rng.uniform(0.0, 0.8) * np.sin(2 * np.pi * np.arange(rows) / period + rng.uniform(0, 2 * np.pi))
    return jitter + sinus


def streak(image: np.ndarray, strength: float) -> np.ndarray:
    """Detector lag along the fast-scan axis (+x): a one-pole low-pass mixed in."""
    if strength <= 0:
        return image
    from scipy.signal import lfilter

    decay = 0.8
    tail = lfilter([1 - decay], [1, -decay], image, axis=1)
    return (1 - strength) * image + strength * tail


def degrade(sharp: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A realistic blurry, noisy acquisition of `sharp` (float in [0, 1]); same shape."""
    image = np.asarray(sharp, dtype=np.float64)
    sigma = sample_sigma(rng, strength)
    kernel = blur_kernel(
        sigma,
        axis_ratio=rng.uniform(1.0, 2.5) if rng.random() < 0.5 else 1.0,
        angle=rng.uniform(0, np.pi),
        drift=rng.uniform(1, 5) * strength if rng.random() < 0.3 else 0.0,
        drift_angle=rng.normal(0.0, np.deg2rad(10)),
    )
    pad = kernel.shape[0] // 2
    blurred = fftconvolve(np.pad(image, pad, mode="reflect"), kernel, mode="valid")
    if rng.random() < 0.5:
        rows, cols = blurred.shape
        shifts = scan_line_shifts(rows, rng)
        yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
        blurred = map_coordinates(blurred, [yy, xx + shifts[:, None]], order=1, mode="reflect")
    if rng.random() < 0.3:
        blurred = streak(blurred, rng.uniform(0.05, 0.3))
    gain, offset, gamma = rng.normal(1.0, 0.03), rng.normal(0.0, 0.02), np.exp(rng.normal(0.0, 0.05))
    blurred = np.clip(blurred, 0, 1) ** gamma * gain + offset
    dose = np.exp(rng.uniform(np.log(5), np.log(500)))
    noisy = rng.poisson(np.clip(blurred, 0, None) * dose) / dose
    noisy = noisy + rng.normal(0.0, rng.uniform(0.0, 0.02), noisy.shape)
    return (np.round(np.clip(noisy, 0, 1) * 255) / 255).astype(np.float32)
