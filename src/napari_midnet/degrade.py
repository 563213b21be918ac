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


def sample_degradation(rng: np.random.Generator, strength: float = 1.0) -> Degradation:
    """Random settings spanning real SEM blur: sigma log-uniform 0.5-6 px with a 10 % tail to
    ~12 px, astigmatism (ratio 1-2.5), drift 1-5 px near the fast-scan axis, scan-line jitter
    and waves of period 4-60 rows, streaking, dose 5-500 counts/px, gain centred on 1.
    `strength` scales the blur and drift (the widget's slider)."""
    high = 12.0 if rng.random() < 0.1 else 6.0
    wavy = rng.random() < 0.5
    return Degradation(
        sigma=float(np.exp(rng.uniform(np.log(0.5), np.log(high)))) * strength,
        axis_ratio=rng.uniform(1.0, 2.5) if rng.random() < 0.5 else 1.0,
        angle=rng.uniform(0, np.pi),
        drift=rng.uniform(1, 5) * strength if rng.random() < 0.3 else 0.0,
        drift_angle=rng.normal(0.0, np.deg2rad(10)),
        line_jitter=rng.uniform(0.0, 0.4) if wavy else 0.0,
        line_wave=rng.uniform(0.0, 0.8) if wavy else 0.0,
        line_period=rng.uniform(4, 60),
        streak=rng.uniform(0.05, 0.3) if rng.random() < 0.3 else 0.0,
        gain=rng.normal(1.0, 0.03),
        offset=rng.normal(0.0, 0.02),
        gamma=float(np.exp(rng.normal(0.0, 0.05))),
        dose=float(np.exp(rng.uniform(np.log(5), np.log(500)))),
        read_noise=rng.uniform(0.0, 0.02),
    )


def blur_kernel(d: Degradation) -> np.ndarray:
    """Elliptical Gaussian (defocus + astigmatism) smeared along the drift direction."""
    sigma_major = max(d.sigma * np.sqrt(d.axis_ratio), 1e-3)
    sigma_minor = max(d.sigma / np.sqrt(d.axis_ratio), 1e-3)
    radius = int(np.ceil(3 * sigma_major + d.drift)) + 1
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float64)
    kernel = np.zeros_like(x)
    for offset in np.linspace(-d.drift / 2, d.drift / 2, max(int(np.ceil(d.drift * 2)), 1)):
        dx = x - offset * np.cos(d.drift_angle)
        dy = y - offset * np.sin(d.drift_angle)
        u = dx * np.cos(d.angle) + dy * np.sin(d.angle)
        v = -dx * np.sin(d.angle) + dy * np.cos(d.angle)
        kernel += np.exp(-0.5 * ((u / sigma_major) ** 2 + (v / sigma_minor) ** 2))
    return kernel / kernel.sum()


def apply_degradation(sharp: np.ndarray, d: Degradation, rng: np.random.Generator) -> np.ndarray:
    """Blur, scan errors, streak, tone, noise and 8-bit quantisation; `rng` draws the noise."""
    image = np.asarray(sharp, dtype=np.float64)
    kernel = blur_kernel(d)
    pad = kernel.shape[0] // 2
    blurred = fftconvolve(np.pad(image, pad, mode="reflect"), kernel, mode="valid")
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
    toned = np.clip(blurred, 0, 1) ** d.gamma * d.gain + d.offset
    noisy = rng.poisson(np.clip(toned, 0, None) * d.dose) / d.dose
    if d.read_noise:
        noisy = noisy + rng.normal(0.0, d.read_noise, noisy.shape)
    return (np.round(np.clip(noisy, 0, 1) * 255) / 255).astype(np.float32)


def degrade(sharp: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A random realistic blurry, noisy acquisition of `sharp` (float in [0, 1]); same shape."""
    return apply_degradation(sharp, sample_degradation(rng, strength), rng)
