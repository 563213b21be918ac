"""SEM degradation simulator: synthetic blurry twins of sharp SEM images.

Models what an SEM does to a frame (defocus, astigmatism, drift, scan-line errors, detector
streaking, shot and read noise, gain/offset/gamma, 8-bit quantisation), so sharp-only images
can teach the network. Intensities in [0, 1]; all randomness comes from the caller's Generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.signal import fftconvolve, lfilter

from .estimate import BlurEstimate


@dataclass(frozen=True)
class Degradation:
    sigma: float = 2.0  # defocus, pixels
    axis_ratio: float = 1.0  # astigmatism: major/minor axis of the elliptical spot
    angle: float = 0.0  # astigmatism axis, radians
    drift: float = 0.0  # smear length, pixels
    drift_angle: float = 0.0  # radians from the fast-scan (x) axis
    line_jitter: float = 0.0  # std of random per-row x offsets, pixels
    line_wave: float = 0.0  # amplitude of sinusoidal per-row x offsets, pixels
    line_period: float = 20.0  # rows
    streak: float = 0.0  # fraction of detector lag mixed in along +x
    gain: float = 1.0
    offset: float = 0.0
    gamma: float = 1.0
    dose: float = 100.0  # mean electron counts per pixel at full brightness (Poisson noise)
    read_noise: float = 0.0  # Gaussian std on the [0, 1] scale


IDENTITY_FRACTION = 0.2  # synthetic samples with no blur at all: sharp input must come back as it is
SIGMA_RANGE = (0.2, 16.0)  # defocus sigma, px, log-uniform; the six real JEOL pairs fit 9.3-13


def sample_degradation(rng: np.random.Generator, blur_scale: float = 1.0) -> Degradation:
    """Random settings covering the real pairs' fits (`scripts/calibrate_simulator.py`) and beyond.

    A fifth of the samples get no blur at all (tone and light noise only), so the network learns
    to leave sharp input alone; the rest draw defocus sigma log-uniformly from near zero to 16 px
    (so it learns to correct only as much as the input is blurred), astigmatism, drift along the
    fast-scan axis, scan-line jitter and waves, streaking, and shot + read noise spanning the real
    pairs' 0.02-0.03 noise std. `blur_scale` scales the blur and drift (the fine-tune setting).
    """
    tone = {"gain": rng.normal(1.0, 0.04), "offset": rng.normal(0.0, 0.02),
            "gamma": float(np.exp(rng.normal(0.0, 0.05)))}
    if rng.random() < IDENTITY_FRACTION:
        return Degradation(sigma=0.0, dose=float(np.exp(rng.uniform(np.log(800), np.log(20000)))),
                           read_noise=rng.uniform(0.0, 0.005), **tone)
    wavy = rng.random() < 0.3
    return Degradation(
        sigma=float(np.exp(rng.uniform(*np.log(SIGMA_RANGE)))) * blur_scale,
        axis_ratio=rng.uniform(1.0, 2.5) if rng.random() < 0.4 else 1.0,
        angle=rng.uniform(0, np.pi),
        drift=rng.uniform(1, 5) * blur_scale if rng.random() < 0.2 else 0.0,
        drift_angle=rng.normal(0.0, np.deg2rad(10)),
        line_jitter=rng.uniform(0.0, 0.4) if wavy else 0.0,
        line_wave=rng.uniform(0.0, 0.8) if wavy else 0.0,
        line_period=rng.uniform(4, 60),
        streak=rng.uniform(0.05, 0.3) if rng.random() < 0.2 else 0.0,
        dose=float(np.exp(rng.uniform(np.log(100), np.log(10000)))),
        read_noise=rng.uniform(0.0, 0.02),
        **tone,
    )


def true_blur(d: Degradation) -> BlurEstimate:
    """The defocus spot of `d` in blur.py's terms (display angles; drift and scan errors left out)."""
    root = np.sqrt(d.axis_ratio)
    return BlurEstimate(d.sigma * root, d.sigma / root, float(np.rad2deg(-d.angle) % 180.0), 0.0)


def kernel_radius(d: Degradation) -> int:
    """Half-width of the blur kernel: the margin a crop needs around it to degrade cleanly."""
    return int(np.ceil(3 * d.sigma * np.sqrt(d.axis_ratio) + d.drift)) + 1


def blur_kernel(d: Degradation) -> np.ndarray:
    """Elliptical Gaussian (defocus + astigmatism) smeared along the drift direction."""
    sigma_major = max(d.sigma * np.sqrt(d.axis_ratio), 1e-3)
    sigma_minor = max(d.sigma / np.sqrt(d.axis_ratio), 1e-3)
    radius = kernel_radius(d)
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float64)
    kernel = np.zeros_like(x)
    for offset in np.linspace(-d.drift / 2, d.drift / 2, max(int(np.ceil(d.drift * 2)), 1)):
        dx = x - offset * np.cos(d.drift_angle)
        dy = y - offset * np.sin(d.drift_angle)
        u = dx * np.cos(d.angle) + dy * np.sin(d.angle)
        v = -dx * np.sin(d.angle) + dy * np.cos(d.angle)
        kernel += np.exp(-0.5 * ((u / sigma_major) ** 2 + (v / sigma_minor) ** 2))
    return kernel / kernel.sum()


def blur(image: np.ndarray, d: Degradation) -> np.ndarray:
    """The image through `d`'s blur kernel (reflected at the borders); unchanged without blur."""
    image = np.asarray(image, dtype=np.float64)
    if d.sigma <= 0 and d.drift <= 0:
        return image
    kernel = blur_kernel(d)
    pad = kernel.shape[0] // 2
    return fftconvolve(np.pad(image, pad, mode="reflect"), kernel, mode="valid")


def apply_degradation(sharp: np.ndarray, d: Degradation, rng: np.random.Generator, bits: int = 8) -> np.ndarray:
    """Blur, scan errors, streak, tone, noise and quantisation to `bits` (a detector's 8 or 16);
    `rng` draws the noise."""
    blurred = blur(sharp, d)
    if d.line_jitter or d.line_wave:
        rows, cols = blurred.shape
        phase = rng.uniform(0, 2 * np.pi)
        shifts = rng.normal(0.0, d.line_jitter, rows) if d.line_jitter else np.zeros(rows)
        shifts += d.line_wave * np.sin(2 * np.pi * np.arange(rows) / d.line_period + phase)
        yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
        blurred = map_coordinates(blurred, [yy, xx + shifts[:, None]], order=1, mode="reflect")
    if d.streak:
        decay = 0.8
        tail = lfilter([1 - decay], [1, -decay], blurred, axis=1)
        blurred = (1 - d.streak) * blurred + d.streak * tail
    toned = apply_tone(blurred, d)
    noisy = rng.poisson(np.clip(toned, 0, None) * d.dose) / d.dose
    if d.read_noise:
        noisy = noisy + rng.normal(0.0, d.read_noise, noisy.shape)
    levels = 2**bits - 1
    return (np.round(np.clip(noisy, 0, 1) * levels) / levels).astype(np.float32)


def apply_tone(image: np.ndarray, d: Degradation) -> np.ndarray:
    """The detector's gain, offset and gamma. Training applies it to the target as well: the
    tone is the user's acquisition setting, which deblurring must keep."""
    return np.clip(image, 0, 1) ** d.gamma * d.gain + d.offset


def degrade(sharp: np.ndarray, rng: np.random.Generator, blur_scale: float = 1.0) -> np.ndarray:
    """A random realistic blurry, noisy acquisition of `sharp` (float in [0, 1]); same shape."""
    return apply_degradation(sharp, sample_degradation(rng, blur_scale), rng)
