"""Affine registration of a re-acquired sharp frame onto its blurry twin.

Refocusing shifts the sharp frame (tens of pixels) and scales it slightly (~1.5 % in x), so
pairs must be aligned before they can teach deblurring rather than shifting. Method: global
phase correlation, then per-tile phase correlation against a blurred copy of the sharp frame,
a RANSAC affine fit of the tile displacements, and one refinement pass on the warped frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..events import StopRequested, never


@dataclass
class Registration:
    matrix: np.ndarray  # 3x3 affine part, blurry (x, y) -> sharp (x, y)
    residual: float  # median tile residual of the final fit, pixels
    inliers: int
    tiles: int
    polynomial: np.ndarray | None = None  # cubic refinement (skimage PolynomialTransform params)

    def transform(self):
        """The map blurry -> sharp coordinates used for warping."""
        from skimage.transform import AffineTransform, PolynomialTransform

        if self.polynomial is None:
            return AffineTransform(matrix=self.matrix)
        return PolynomialTransform(self.polynomial)

    @property
    def shift(self) -> tuple[float, float]:
        """Translation (dx, dy) in pixels."""
        return float(self.matrix[0, 2]), float(self.matrix[1, 2])

    @property
    def scale(self) -> tuple[float, float]:
        return float(np.hypot(*self.matrix[:2, 0])), float(np.hypot(*self.matrix[:2, 1]))

    def describe(self) -> str:
        (dx, dy), (sx, sy) = self.shift, self.scale
        return f"shift ({dx:+.1f}, {dy:+.1f}) px, scale ({sx:.4f}, {sy:.4f}), residual {self.residual:.2f} px"


class RegistrationError(ValueError):
    """The pair does not align; the message says why in one sentence."""


# The usual cause when the search itself fails: said once here, so CLI and widget both say it
NOT_THE_SAME_FIELD = "check that both images show the same field"


def register_pair(blurry: np.ndarray, sharp: np.ndarray, valid_rows: int | None = None,
                  tile: int = 192, max_residual: float = 1.5, should_stop: Callable[[], bool] = never
                  ) -> Registration:
    """Estimate the affine map taking blurry pixel coordinates to sharp ones; raises
    StopRequested between its parts once `should_stop` says so."""

    blurry = _as_float(blurry)
    sharp = _as_float(sharp)
    if blurry.ndim != 2 or sharp.ndim != 2:
        raise RegistrationError("registration needs two 2-D gray images")
    ratio = np.array(blurry.shape) / np.array(sharp.shape)
    if np.any(ratio < 0.8) or np.any(ratio > 1.25):
        raise RegistrationError(
            f"the pair's sizes differ too much to align ({blurry.shape[::-1]} vs {sharp.shape[::-1]})"
        )
    rows = valid_rows or min(blurry.shape[0], sharp.shape[0])
    blurry, sharp = blurry[:rows], sharp[:rows]
    tile = min(tile, min(blurry.shape) // 3)
    if tile < 32:
        raise RegistrationError("images are too small to register (need at least 96 x 96 pixels)")
    reference = _matched_blur(blurry, sharp, should_stop)
    matrix = np.eye(3)
    matrix[:2, 2] = _global_shift(blurry, reference)
    registration = Registration(matrix, np.inf, 0, 0)
    for _ in range(3):
        current = registration.transform()
        warped = warp_to(reference, registration, blurry.shape)
        points, displacements = _tile_displacements(blurry, warped, tile, should_stop)
        if len(points) < 6:
            raise RegistrationError(f"too few textured regions to align this pair; {NOT_THE_SAME_FIELD}")
        targets = current(points + displacements)
        registration = _robust_fit(points, targets)
    if registration.residual > max_residual or registration.inliers < max(6, registration.tiles // 4):
        raise RegistrationError(f"the pair does not align ({registration.describe()}); {NOT_THE_SAME_FIELD}")
    return registration


WARP_ROWS = 64  # rows per resampling call: keeps each GIL-holding scipy call short (GUI stays live)


def warp_to(sharp: np.ndarray, registration: Registration, shape: tuple[int, int],
            order: int = 1) -> np.ndarray:
    """Resample `sharp` onto the blurry frame's grid (float32); zero outside `sharp`."""
    from scipy.ndimage import map_coordinates, spline_filter

    source = np.asarray(sharp, dtype=np.float32)
    coefficients = spline_filter(source, order=order, output=np.float32) if order > 1 else source
    transform = registration.transform()
    out = np.empty(shape, dtype=np.float32)
    cols = np.arange(shape[1], dtype=np.float64)
    for top in range(0, shape[0], WARP_ROWS):
        rows = np.arange(top, min(top + WARP_ROWS, shape[0]), dtype=np.float64)
        xx, yy = np.meshgrid(cols, rows)
        mapped = transform(np.column_stack([xx.ravel(), yy.ravel()]))
        block = map_coordinates(coefficients, [mapped[:, 1], mapped[:, 0]], order=order, mode="constant",
                                cval=0.0, prefilter=False)
        out[top:top + rows.size] = block.reshape(rows.size, shape[1])
    return out


def valid_mask(registration: Registration, sharp_shape: tuple[int, int], shape: tuple[int, int],
               margin: int = 2) -> np.ndarray:
    """True where the warped sharp frame has real data (not padding), shrunk by `margin`."""
    from scipy.ndimage import binary_erosion

    ones = warp_to(np.ones(sharp_shape, dtype=np.float32), registration, shape)
    mask = ones > 0.999
    return binary_erosion(mask, iterations=margin) if margin else mask


def _as_float(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    spread = image.std()
    return (image - image.mean()) / (spread if spread > 0 else 1.0)


def _matched_blur(blurry: np.ndarray, sharp: np.ndarray, should_stop: Callable[[], bool]) -> np.ndarray:
    """Blur the sharp frame to the sigma whose sharpness best matches the blurry frame."""
    from scipy.ndimage import gaussian_filter

    from ..metrics import sharpness

    target = sharpness(blurry)
    best, best_gap = sharp, abs(sharpness(sharp) - target)
    for sigma in (0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0):
        _check(should_stop)
        candidate = gaussian_filter(sharp, sigma)
        gap = abs(sharpness(candidate) - target)
        if gap < best_gap:
            best, best_gap = candidate, gap
    return best


def _global_shift(blurry: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    from skimage.registration import phase_cross_correlation

    height = min(blurry.shape[0], reference.shape[0])
    width = min(blurry.shape[1], reference.shape[1])
    shift, _, _ = phase_cross_correlation(blurry[:height, :width], reference[:height, :width],
                                          normalization=None)
    # phase_cross_correlation returns the shift moving `reference` onto `blurry`; sharp = blurry - shift
    return -float(shift[1]), -float(shift[0])


def _tile_displacements(blurry: np.ndarray, warped: np.ndarray, tile: int, should_stop: Callable[[], bool]):
    """Per-tile (x, y) centres and the residual displacement warped -> blurry at each."""
    from skimage.registration import phase_cross_correlation

    window = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    points, displacements = [], []
    step = tile // 2
    for y in range(0, blurry.shape[0] - tile + 1, step):
        _check(should_stop)
        for x in range(0, blurry.shape[1] - tile + 1, step):
            a = blurry[y:y + tile, x:x + tile]
            b = warped[y:y + tile, x:x + tile]
            if a.std() < 0.05 or b.std() < 0.05 or (b == 0).mean() > 0.01:
                continue
            shift, error, _ = phase_cross_correlation(a * window, b * window, upsample_factor=20,
                                                      normalization=None)
            if np.all(np.abs(shift) < tile / 4):
                points.append((x + tile / 2, y + tile / 2))
                displacements.append((-shift[1], -shift[0]))
    return np.array(points, dtype=np.float64), np.array(displacements, dtype=np.float64)


def _robust_fit(points: np.ndarray, targets: np.ndarray) -> Registration:
    """RANSAC affine fit (rejects tiles that matched noise), then a cubic polynomial on the
    inliers: SEM scan nonlinearity bends x by a few pixels, which no affine map follows."""
    from skimage.measure import ransac
    from skimage.transform import AffineTransform, PolynomialTransform

    model, inliers = ransac((points, targets), AffineTransform, min_samples=3, residual_threshold=3.0,
                            max_trials=500, rng=0)
    if model is None or inliers is None or inliers.sum() < 6:
        raise RegistrationError(f"no consistent affine map between the pair; {NOT_THE_SAME_FIELD}")
    affine = AffineTransform.from_estimate(points[inliers], targets[inliers])
    polynomial = None
    if inliers.sum() >= 20:
        fitted = PolynomialTransform.from_estimate(points[inliers], targets[inliers], order=3)
        polynomial = fitted.params
        errors = np.linalg.norm(fitted(points) - targets, axis=1)
        inliers = errors < 1.0
    else:
        errors = np.linalg.norm(affine(points) - targets, axis=1)
    residual = float(np.median(errors[inliers])) if inliers.any() else float("inf")
    return Registration(affine.params, residual, int(inliers.sum()), len(points), polynomial)


def _check(should_stop: Callable[[], bool]) -> None:
    if should_stop():
        raise StopRequested
