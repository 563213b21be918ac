"""Blur identification: the defocus spot and noise of an SEM frame from the frame alone.

An SEM spot out of focus is close to an elliptical Gaussian (defocus plus astigmatism; the
simulator's model), so a blurred frame's power spectrum is the object's spectrum times the
squared Gaussian MTF, plus the white floor of shot and read noise added after the blur. How
much of the roll-off is blur and how much is the object needs a prior on SEM objects: a small
regression learned from real sharp SEM frames blurred by the simulator (and real pairs) maps
the spectrum's radial profile and its angular modulation to the spot. The spot is the blur the
acquisition added to an in-focus frame (0 for a sharp frame). Light readings are then checked
against the frame itself (crossval.py), where the regression errs on clean frames.

Angles follow the display: the major axis' direction in [0, 180) degrees, 0 along the rows,
counterclockwise as shown with row 0 at the top.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np
import scipy.fft

from ..imaging import size_text
from .crossval import checked_covariance, spot_size
from .noise import banded_noise_std

IN_FOCUS_LIMIT = 1.5  # px of excess blur (geometric mean of the axes) up to which a frame counts as in focus
ASTIGMATIC_RATIO = 1.25  # major/minor axis ratio above which the blur is called astigmatic
MIN_FIT_SIDE = 64
# What the regression reads on frames in focus, taken off each axis in quadrature as Gaussian
# spots combine: told "0.9 px", the kernel-aware network sharpened sharp frames' grain.
ESTIMATE_FLOOR_PX = 1.0
# The estimator and the kernel-aware network learned from frames at least about this noisy (the
# simulator's highest dose, 8 bit). A cleaner frame (frame-averaged, long dwell, 16 bit) is read
# as if it carried this much white noise, added to its spectrum in expectation: that leaves the
# blur's fall-off alone, where a near-zero noise input sent the regression far outside what it
# knows (docs/decisions.md).
KNOWN_NOISE_FLOOR = 0.008
# The largest spot the estimator was trained on (the simulator's defocus range): a larger reading
# is clipped to it and said so, never acted on beyond what was learned.
KNOWN_SIGMA_PX = 16.0


@dataclass(frozen=True)
class BlurEstimate:
    """An elliptical Gaussian defocus spot (excess over an in-focus frame) and the noise std
    (intensities in [0, 1])."""

    sigma_major_px: float
    sigma_minor_px: float
    angle_deg: float  # major axis, display convention (module docstring)
    noise: float

    @classmethod
    def isotropic(cls, sigma: float, noise: float = 0.0) -> BlurEstimate:
        return cls(float(sigma), float(sigma), 0.0, float(noise))

    @classmethod
    def from_axes(cls, first: float, second: float, angle_deg: float, noise: float = 0.0) -> BlurEstimate:
        """Two axis sigmas in either order, `angle_deg` the direction of the first: the larger
        becomes the major axis (turned by 90 degrees if it is the second)."""
        angle = angle_deg if first >= second else angle_deg + 90.0
        return cls(float(max(first, second)), float(min(first, second)), angle % 180.0, float(noise))

    @property
    def sigma(self) -> float:
        """One number for the size of the blur: the geometric mean of the axes."""
        return math.sqrt(self.sigma_major_px * self.sigma_minor_px)

    @property
    def in_focus(self) -> bool:
        return self.sigma <= IN_FOCUS_LIMIT

    @property
    def at_known_limit(self) -> bool:
        """An estimate clipped at the largest spot the estimator knows: the blur may be larger."""
        return abs(self.sigma_major_px - KNOWN_SIGMA_PX) < 0.01

    @property
    def astigmatic(self) -> bool:
        return self.sigma_major_px > ASTIGMATIC_RATIO * max(self.sigma_minor_px, 1.0)  # not for sub-px spots

    def covariance(self) -> np.ndarray:
        """The spot's 2x2 covariance in (x, y) pixel coordinates with y pointing down the rows."""
        theta = -math.radians(self.angle_deg)  # display counterclockwise is clockwise in (x, y-down)
        rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        return rotation @ np.diag([self.sigma_major_px**2, self.sigma_minor_px**2]) @ rotation.T

    @classmethod
    def from_covariance(cls, covariance: np.ndarray, noise: float) -> BlurEstimate:
        values, vectors = np.linalg.eigh(covariance)
        minor, major = (math.sqrt(max(v, 0.0)) for v in values)
        x, y = vectors[:, 1]
        return cls(major, minor, float(math.degrees(math.atan2(-y, x)) % 180.0), float(noise))

    def describe(self) -> str:
        state = "in focus" if self.in_focus else "out of focus"
        shape = f"blur {self.sigma_major_px:.1f} x {self.sigma_minor_px:.1f} px"
        if self.astigmatic:
            shape += f" at {self.angle_deg:.0f} deg (astigmatic)"
        if self.at_known_limit:
            shape += f" or more (the estimator knows spots up to {KNOWN_SIGMA_PX:.0f} px: set the blur if you know it)"
        return f"{state}, {shape}, noise {self.noise:.3f}"

    def as_dict(self) -> dict:
        return {k: round(v, 4) for k, v in asdict(self).items()} | {"in_focus": self.in_focus}


def parse_blur(text: str) -> BlurEstimate | None:
    """`auto` (None: estimate it), `S` (isotropic, px) or `SMAJ,SMIN,ANGLE` (px, px, degrees)."""
    if text.strip().lower() == "auto":
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values = [values[0], values[0], 0.0]
    if len(values) != 3 or not all(math.isfinite(value) for value in values) or values[0] < 0 or values[1] < 0:
        raise ValueError(f"blur must be 'auto', a sigma in px (e.g. 3) or SMAJ,SMIN,ANGLE (e.g. 4,2,30), got {text!r}")
    return BlurEstimate.from_axes(*values)


# --- the estimator: spectral features of 256-px windows, regressed by a small MLP -------------
#
# A parametric fit (power-law object times Gaussian MTF plus a noise floor) was measured first:
# on simulated blur it is within 10 % of the true spot for sigma 1.5-6 px, but real SEM objects
# have no power-law spectrum (the JEOL frames peak at grain scale and fall as f^-4), so it
# reported 0-8 px on the real JEOL frames whose fitted spots are 9.3-13 px. The regression learns
# the object prior from real sharp SEM frames blurred by the simulator, and from real pairs.

WINDOW = 256
FEATURE_BINS = 16  # log-spaced radial bins from 2 cycles per window to Nyquist, none empty
_LOWEST = 2.0 / WINDOW


def _bin_index(window: int = WINDOW):
    """For the periodogram's pixels inside the bins (flattened): their bin, cos and sin 2-theta;
    and how many pixels each bin holds."""
    fy = np.fft.fftfreq(window)[:, None]
    fx = np.fft.rfftfreq(window)[None, :]
    radius = np.hypot(fx, fy)
    theta = np.arctan2(-fy, fx)  # display angle of the frequency vector
    edges = np.geomspace(_LOWEST * (1 - 1e-9), 0.5 + 1e-9, FEATURE_BINS + 1)
    index = np.digitize(radius, edges) - 1
    index[(radius < _LOWEST * (1 - 1e-9)) | (radius > 0.5)] = -1
    inside = np.flatnonzero(index >= 0)
    bins = index.ravel()[inside]
    return inside, bins, np.cos(2 * theta).ravel()[inside], np.sin(2 * theta).ravel()[inside], \
        np.bincount(bins, minlength=FEATURE_BINS)


_BINS = _bin_index()
_HANN = np.outer(np.hanning(WINDOW), np.hanning(WINDOW))


def window_power(windows: np.ndarray) -> np.ndarray:
    """(n, 256, 256) windows -> (n, 256, 129) Hann-windowed periodograms."""
    centred = (windows - windows.mean(axis=(1, 2), keepdims=True)) * _HANN
    return np.abs(scipy.fft.rfft2(centred, workers=-1)) ** 2 / (_HANN**2).sum()


def spectral_features(power: np.ndarray, noise: float) -> np.ndarray:
    """The feature vector of one (averaged) periodogram: log power per radial bin relative to
    the highest bin, the cos/sin 2-theta modulation per bin, the top bin's level and the noise."""
    inside, index, cos2, sin2, count = _BINS
    power = power.ravel()[inside]
    total = np.bincount(index, power, FEATURE_BINS) + 1e-20
    cos_part = np.bincount(index, power * cos2, FEATURE_BINS) / total
    sin_part = np.bincount(index, power * sin2, FEATURE_BINS) / total
    level = np.log(total / count + 1e-20)
    return np.concatenate([level - level[-1], cos_part, sin_part, [level[-1], np.log(noise**2 + 1e-12)]])


POWER_BATCH = 32  # windows transformed at a time: memory stays flat on huge frames


def window_grid(image: np.ndarray, step: int = WINDOW // 2):
    """(the image, reflect-padded up to 256 px where smaller; window row starts; column starts)
    of its overlapping 256-px windows."""
    height, width = image.shape
    if height < WINDOW or width < WINDOW:
        image = np.pad(image, ((0, max(WINDOW - height, 0)), (0, max(WINDOW - width, 0))), mode="reflect")
        height, width = image.shape
    return image, _window_starts(height, WINDOW, step), _window_starts(width, WINDOW, step)


def window_powers(image: np.ndarray, origins: list[tuple[int, int]]):
    """Periodograms of the windows at `origins`, a batch at a time (memory stays flat)."""
    for first in range(0, len(origins), POWER_BATCH):
        batch = origins[first:first + POWER_BATCH]
        yield window_power(np.stack([image[y:y + WINDOW, x:x + WINDOW] for y, x in batch]).astype(np.float64))


class _Regressor:
    """The shipped MLP (numpy inference; trained by scripts/train_blur_estimator.py)."""

    def __init__(self, path):
        with np.load(path, allow_pickle=False) as data:
            self.arrays = {key: data[key] for key in data.files}

    def __call__(self, features: np.ndarray) -> np.ndarray:
        a = self.arrays
        x = (features - a["mean"]) / a["std"]
        for layer in range(int(a["layers"])):
            x = x @ a[f"w{layer}"] + a[f"b{layer}"]
            if layer < int(a["layers"]) - 1:
                x = np.maximum(x, 0.0)
        return x


@cache
def regressor() -> _Regressor:
    """Read once, on first use."""
    from ..bundled import resource_path

    return _Regressor(resource_path(ESTIMATOR_FILE))


ESTIMATOR_FILE = "blur-estimator.npz"


def targets_of(spot: BlurEstimate) -> np.ndarray:
    """What the regression predicts: log(1 + sigma) and the astigmatism's two components."""
    major2, minor2 = spot.sigma_major_px**2, spot.sigma_minor_px**2
    anisotropy = (major2 - minor2) / (major2 + minor2 + 1.0)
    phi = np.deg2rad(2 * spot.angle_deg)
    return np.array([np.log1p(spot.sigma), anisotropy * np.cos(phi), anisotropy * np.sin(phi)])


def spot_of(targets: np.ndarray, noise: float) -> BlurEstimate:
    """Inverse of `targets_of` (sigma >= 0, astigmatism clipped below 0.95)."""
    sigma = max(float(np.expm1(targets[0])), 0.0)
    anisotropy = min(float(np.hypot(targets[1], targets[2])), 0.95)
    angle = float(np.rad2deg(np.arctan2(targets[2], targets[1])) / 2) % 180.0
    product = sigma**4
    a2 = anisotropy**2
    total = (2 * a2 + np.sqrt(4 * a2 * a2 + 4 * (1 - a2) * (a2 + 4 * product))) / (2 * (1 - a2))
    difference = anisotropy * (total + 1)
    major2, minor2 = (total + difference) / 2, max((total - difference) / 2, 0.0)
    if sigma == 0:
        major2 = minor2 = 0.0
    return BlurEstimate(float(np.sqrt(major2)), float(np.sqrt(minor2)), angle, float(noise))


def estimate_blur(image: np.ndarray) -> BlurEstimate:
    """The frame's defocus spot and noise, from the frame alone (Welch-averaged spectrum of its
    256-px windows). Intensities in [0, 1]; leave an info bar out (`readouts.identify` does)."""
    return focus_map(image).global_estimate


@dataclass
class FocusMap:
    """Per-window blur estimates on a regular grid, and the whole frame's."""

    centres_y: np.ndarray  # window centres, px
    centres_x: np.ndarray
    covariances: np.ndarray  # (rows, cols, 2, 2), spot per window
    global_estimate: BlurEstimate
    shape: tuple[int, int]

    def sigma_map(self) -> np.ndarray:
        """Per-pixel blur size (geometric mean of the axes, px), bilinear between window centres."""
        determinant = np.clip(np.linalg.det(self.covariances), 0.0, None)
        return self._upsample(np.sqrt(np.sqrt(determinant)), slice(0, self.shape[0]), slice(0, self.shape[1]))

    def covariance_region(self, rows: slice, cols: slice) -> np.ndarray:
        """(3, h, w): the spot's sxx, sxy, syy per pixel of a region, for the network's condition
        (computed for the region alone: a tile of a huge plane needs no full-size planes)."""
        return np.stack([self._upsample(self.covariances[..., i, j], rows, cols) for i, j in ((0, 0), (0, 1), (1, 1))])

    def _upsample(self, grid: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
        """Bilinear between window centres (constant beyond them), as two small matrix products.

        einsum, not `@`: a tile-sized `@` wakes OpenBLAS's threads, which then spin for a while
        beside the network's own threads; on two cores that made a 1024^2 kernel-aware deblur
        15 % slower (0.26 s), einsum's own loop takes 1 ms here."""
        if grid.shape == (1, 1):
            return np.full((rows.stop - rows.start, cols.stop - cols.start), grid[0, 0], dtype=np.float32)
        along_rows = _linear_weights(np.arange(rows.start, rows.stop), self.centres_y)
        along_cols = _linear_weights(np.arange(cols.start, cols.stop), self.centres_x)
        return np.einsum("ik,jk->ij", np.einsum("ik,kl->il", along_rows, grid), along_cols).astype(np.float32)


def _linear_weights(positions: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(len(positions), len(centres)): each position's linear-interpolation weights on the centres."""
    index = np.interp(positions, centres, np.arange(len(centres)))
    low = np.floor(index).astype(int)
    high = np.minimum(low + 1, len(centres) - 1)
    weights = np.zeros((len(positions), len(centres)))
    np.add.at(weights, (np.arange(len(positions)), low), 1 - (index - low))
    np.add.at(weights, (np.arange(len(positions)), high), index - low)
    return weights


def focus_map(image: np.ndarray) -> FocusMap:
    """The blur per overlapping 256-px window (stride 128), and the whole frame's."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2:
        raise ValueError(f"blur estimation needs a 2-D grayscale image, got shape {image.shape}")
    return banded_focus_map(lambda top, bottom: image[top:bottom], image.shape)


def banded_focus_map(read, shape: tuple[int, int]) -> FocusMap:
    """`focus_map` of a plane in [0, 1] read a band of rows at a time (`read(top, bottom)`):
    one row of windows is in memory at once, so a plane of any height fits."""
    height, width = shape
    if min(shape) < MIN_FIT_SIDE:
        raise ValueError(f"the image is {size_text((height, width))}; "
                         f"estimating its blur needs at least {MIN_FIT_SIDE} x {MIN_FIT_SIDE}")
    noise = banded_noise_std(read, shape)
    if height < WINDOW:  # short: mirrored up to one window, in memory
        padded, ys, xs = window_grid(np.asarray(read(0, height), dtype=np.float32))
        read = lambda top, bottom: padded[top:bottom]  # noqa: E731
    else:
        if width < WINDOW:  # narrow: each band mirrored to one window's width, as window_grid does
            narrow = read
            read = lambda top, bottom: np.pad(narrow(top, bottom), ((0, 0), (0, WINDOW - width)), mode="reflect")  # noqa: E731
        ys, xs = _window_starts(height, WINDOW, WINDOW // 2), _window_starts(max(width, WINDOW), WINDOW, WINDOW // 2)
    model = regressor()
    known = max(noise, KNOWN_NOISE_FLOOR)
    unseen_noise = known**2 - noise**2  # a white periodogram's expectation is its variance
    covariances = []
    by_size = np.zeros((len(GLOBAL_SIZE_EDGES) + 1, *_HANN.shape[:1], WINDOW // 2 + 1))  # summed spectra
    counts = np.zeros(len(GLOBAL_SIZE_EDGES) + 1, dtype=int)
    for y in ys:
        band = read(y, y + WINDOW)
        for powers in window_powers(band, [(0, x) for x in xs]):
            for power in powers:
                regressed = _above_floor(model(spectral_features(power + unseen_noise, known)))
                covariance = checked_covariance(power, regressed)
                covariances.append(covariance)
                size = int(np.searchsorted(GLOBAL_SIZE_EDGES, spot_size(covariance)))
                by_size[size] += power
                counts[size] += 1
    covariances = np.array(covariances).reshape(len(ys), len(xs), 2, 2)
    # the frame's own blur: where the median window is out of focus, from the windows at least
    # half as blurred as it (a minority of sharp windows, text or an info bar inside a montage,
    # otherwise calls the frame in focus); light blur keeps every window (no bias upwards)
    median_size = np.median([spot_size(covariance) for covariance in covariances.reshape(-1, 2, 2)])
    floor = median_size / 2 if median_size > IN_FOCUS_LIMIT else 0.0
    first = int(np.searchsorted(GLOBAL_SIZE_EDGES, floor, side="right"))
    first = min(first, int(np.flatnonzero(counts)[-1]))
    total = by_size[first:].sum(axis=0) / counts[first:].sum()
    whole = checked_covariance(total, _above_floor(model(spectral_features(total + unseen_noise, known))))
    estimate = BlurEstimate.from_covariance(whole, noise)
    centres_y = np.minimum(np.array(ys, dtype=np.float64) + WINDOW / 2, height - 1)
    centres_x = np.minimum(np.array(xs, dtype=np.float64) + WINDOW / 2, width - 1)
    return FocusMap(centres_y, centres_x, covariances, estimate, (height, width))


GLOBAL_SIZE_EDGES = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0])  # px: windows grouped by their blur


def _above_floor(targets: np.ndarray) -> np.ndarray:
    """The regression's spot as a covariance, less the in-focus floor (ESTIMATE_FLOOR_PX), its
    axes at most KNOWN_SIGMA_PX."""
    values, vectors = np.linalg.eigh(spot_of(targets, 0.0).covariance())
    values = np.clip(values - ESTIMATE_FLOOR_PX**2, 0.0, KNOWN_SIGMA_PX**2)
    return vectors @ np.diag(values) @ vectors.T


def _window_starts(length: int, window: int, step: int) -> list[int]:
    if length <= window:
        return [0]
    return sorted(set(range(0, length - window, step)) | {length - window})


def uniform_map(estimate: BlurEstimate, shape: tuple[int, int]) -> FocusMap:
    """A focus map that is `estimate` everywhere (a blur the user set by hand)."""
    return FocusMap(np.array([shape[0] / 2]), np.array([shape[1] / 2]), estimate.covariance()[None, None],
                    estimate, shape)
