"""The regression's spot checked against the frame itself, by generalised cross-validation.

The regression learned SEM objects from frames at least as noisy as the simulator's highest dose;
on clean frames it over-reads light blur (sigma 1 px read as 1.5-1.7) and reads grain as blur
(0.7-1.0 px on sharp nanowire frames), and a restorer that trusts the spot sharpens what was
sharp. Generalised cross-validation (GCV; Reeves and Mersereau, "Blur identification by the
method of generalized cross-validation", IEEE TIP 1992) scores a candidate spot by how well a
Laplacian-regularised Wiener restoration with it predicts each frequency of the window from the
others, at its best regularisation: no noise level and no object statistics to learn. It tells
light spots apart sharply (sigma 1 / 1.5 / 2 px on another instrument's frames read 1.0 / 1.5 /
2.0 px) but not heavy ones under noise, where too few frequencies stand above the noise (the real
JEOL frames' 9-13 px spots score within 0.5 % of no spot at all). So the check only ever shrinks
a light spot (CHECKED_UP_TO), and only where a smaller one fits clearly better (GCV_MARGIN).
"""

from __future__ import annotations

from functools import cache

import numpy as np

CHECKED_UP_TO = 3.0  # px (geometric mean of the axes): heavier spots are left to the regression
GCV_MARGIN = 0.01  # log GCV: measured gains 0.014-0.5 where the regression erred, <= 0.005 where it did not
SCALES = np.linspace(0.0, 1.0, 11)  # candidate spots: the regression's, its axes scaled by these (shrunk only)
LOG_BALANCES = np.arange(-6.0, 0.01, 0.5)  # the Wiener restoration's regularisation, searched
FREQUENCY_BLOCK = 4  # periodogram bins summed per side: a light spot's transfer is flat over 4/256 cycles


def _blocks(grid: np.ndarray, reduce) -> np.ndarray:
    """A (height, columns) half-spectrum grid in FREQUENCY_BLOCK^2 blocks (its Nyquist column left out)."""
    rows, columns = grid.shape[0] // FREQUENCY_BLOCK, (grid.shape[1] - 1) // FREQUENCY_BLOCK
    trimmed = grid[:rows * FREQUENCY_BLOCK, :columns * FREQUENCY_BLOCK]
    return reduce(trimmed.reshape(rows, FREQUENCY_BLOCK, columns, FREQUENCY_BLOCK), axis=(1, 3))


@cache
def _frequency_terms(height: int, columns: int):
    """For an rfft2 periodogram of `height` rows and `columns` half-spectrum columns, per block:
    the mean fx^2, 2 fx fy, fy^2 and squared Laplacian response, and how many spectrum bins the
    block stands for (the half-spectrum's columns other than DC count twice)."""
    fy = np.fft.fftfreq(height)[:, None] + np.zeros((1, columns))
    fx = np.fft.rfftfreq(2 * (columns - 1))[None, :] + np.zeros((height, 1))
    laplacian2 = (4 * np.sin(np.pi * fx) ** 2 + 4 * np.sin(np.pi * fy) ** 2) ** 2
    weight = np.where(fx == 0, 1.0, 2.0)
    return tuple(_blocks(term, np.mean) for term in (fx * fx, 2 * fx * fy, fy * fy, laplacian2)) + \
        (_blocks(weight, np.sum), weight)


def log_gcv(power: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """log GCV of each spot `SCALES * axes` of `covariance` at its best regularisation, for a
    window's periodogram `power` ((height, width // 2 + 1), DC included)."""
    fxx, fxy, fyy, laplacian2, count, weight = _frequency_terms(*power.shape)
    power = _blocks(weight * power, np.sum)
    spread = 4 * np.pi**2 * (covariance[0, 0] * fxx + covariance[0, 1] * fxy + covariance[1, 1] * fyy)
    regularised = 10.0 ** LOG_BALANCES[:, None, None] * laplacian2
    scores = []
    for scale in SCALES:
        transfer2 = np.exp(-(scale**2) * spread)
        residual = regularised / (transfer2 + regularised)  # 1 - the restoration's influence, per bin
        fitted = (residual**2 * power).sum(axis=(1, 2))
        trace = (count * residual).sum(axis=(1, 2))
        scores.append(np.min(np.log(fitted + 1e-30) - 2 * np.log(trace + 1e-30)))
    return np.array(scores)


def spot_size(covariance: np.ndarray) -> float:
    """A spot's size, the geometric mean of its axes (BlurEstimate.sigma), from its covariance."""
    return float(np.sqrt(np.sqrt(max(np.linalg.det(covariance), 0.0))))


def checked_covariance(power: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """`covariance`, shrunk where a smaller spot fits the window's periodogram clearly better."""
    if not covariance.any() or spot_size(covariance) > CHECKED_UP_TO:
        return covariance
    scores = log_gcv(power, covariance)
    best = int(np.argmin(scores))
    if scores[-1] - scores[best] <= GCV_MARGIN:
        return covariance
    return covariance * SCALES[best] ** 2
