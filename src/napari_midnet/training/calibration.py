"""Fit the degradation simulator to real registered pairs: how blurred, how noisy, what tone.

Used to check that the simulator's random settings cover what real re-acquired pairs show
(`scripts/calibrate_simulator.py` prints the fits). Intensities in [0, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import binary_erosion

from ..blur.estimate import BlurEstimate
from ..blur.noise import noise_std
from ..blur.simulate import Degradation, blur, true_blur
from ..imaging import mask_bounds
from .pairs import TrainingImage

FIT_SIZE = 512  # side of the central region fitted


@dataclass(frozen=True)
class DegradationFit:
    """blurry ~ gain * (kernel * sharp) + offset + noise, over a pair's central valid region."""

    name: str
    sigma: float  # equivalent defocus sigma, pixels
    axis_ratio: float
    angle_deg: float
    gain: float
    offset: float
    residual: float  # rms of blurry - model: noise of both frames plus what the model misses
    noise_blurry: float  # robust noise std of each frame (Laplacian MAD)
    noise_sharp: float

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def blur(self) -> BlurEstimate:
        """The fitted spot in blur.py's terms (display angle), with the blurry frame's noise."""
        spot = true_blur(Degradation(sigma=self.sigma, axis_ratio=self.axis_ratio, angle=np.deg2rad(self.angle_deg)))
        return BlurEstimate(spot.sigma_major_px, spot.sigma_minor_px, spot.angle_deg, self.noise_blurry)


def _central(pair: TrainingImage) -> tuple[np.ndarray, np.ndarray]:
    mask = binary_erosion(pair.mask, iterations=16)
    top, bottom, left, right = mask_bounds(mask)
    height, width = min(FIT_SIZE, bottom - top), min(FIT_SIZE, right - left)
    y, x = top + (bottom - top - height) // 2, left + (right - left - width) // 2
    region = (slice(y, y + height), slice(x, x + width))
    return pair.blurry[region].astype(np.float64), pair.sharp[region].astype(np.float64)


def _tone_fit(blurred: np.ndarray, blurry: np.ndarray, border: int) -> tuple[float, float, float]:
    """Least-squares gain and offset of blurred -> blurry, and the residual rms (border trimmed)."""
    inner = (slice(border, -border), slice(border, -border))
    x, y = blurred[inner].ravel(), blurry[inner].ravel()
    design = np.stack([x, np.ones_like(x)], axis=1)
    (gain, offset), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = float(np.sqrt(np.mean((y - gain * x - offset) ** 2)))
    return float(gain), float(offset), residual


def fit_degradation(pair: TrainingImage) -> DegradationFit:
    """Grid search over defocus sigma, astigmatism ratio and angle, then a finer sigma grid;
    gain and offset are solved in closed form for each candidate."""
    if pair.blurry is None:
        raise ValueError(f"{pair.name} has no blurry image to fit")
    blurry, sharp = _central(pair)
    border = min(40, min(blurry.shape) // 4)  # kernel tails stay out of the fit; small pairs keep a middle

    def evaluate(sigma: float, ratio: float, angle: float):
        return _tone_fit(blur(sharp, Degradation(sigma=sigma, axis_ratio=ratio, angle=angle)), blurry, border)

    candidates = [(s, r, a) for s in (0.3, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 7.5, 10.0, 13.0, 17.0, 22.0)
                  for r in (1.0, 1.6, 2.5) for a in ((0.0,) if r == 1.0 else np.arange(4) * np.pi / 4)]
    scored = [(evaluate(*c)[2], c) for c in candidates]
    _, (sigma, ratio, angle) = min(scored)
    fine = [(sigma * f, ratio * g, angle + h) for f in (0.85, 0.93, 1.0, 1.07, 1.15)
            for g in ((1.0,) if ratio == 1.0 else (0.85, 1.0, 1.15))
            for h in ((0.0,) if ratio == 1.0 else (-np.pi / 8, 0.0, np.pi / 8))]
    _, (sigma, ratio, angle) = min((evaluate(*c)[2], c) for c in fine)
    gain, offset, residual = evaluate(sigma, ratio, angle)
    return DegradationFit(pair.name, float(sigma), float(ratio), float(np.rad2deg(angle) % 180),
                          gain, offset, residual, noise_std(blurry), noise_std(sharp))
