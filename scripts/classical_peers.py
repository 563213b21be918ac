"""The non-blind classical peers a restorer must beat, each given the true PSF and its best
parameter against the sharp image (oracles): Wiener (scikit-image, the package's evaluation),
Richardson-Lucy (scikit-image, best iteration count) and BM3D deblurring (the `bm3d` package,
told the measured noise level; skipped with a note where it does not install:
`pip install bm3d`).

Usage (as a module of scripts/check_blind_model.py): peers_given_the_true_psf(pairs) -> {name: mean scores}
"""

import numpy as np

from napari_midnet.blur.noise import noise_std
from napari_midnet.jobs.evaluation import best_wiener, spot_psf
from napari_midnet.metrics import interior, score

RL_ITERATIONS = (5, 10, 20, 40, 80)
BM3D_NOISE_FACTORS = (1.0,)  # times the measured noise std; a scan around it was left out (30 s a run)


def best_richardson_lucy(blurry: np.ndarray, sharp: np.ndarray, mask: np.ndarray, psf: np.ndarray) -> dict:
    from skimage.restoration import richardson_lucy

    results = [score(richardson_lucy(blurry.astype(np.float64), psf, num_iter=count, clip=True), sharp, mask)
               | {"iterations": count} for count in RL_ITERATIONS]
    return max(results, key=lambda result: result["psnr"])


def best_bm3d(blurry: np.ndarray, sharp: np.ndarray, mask: np.ndarray, psf: np.ndarray) -> dict | None:
    try:
        from bm3d import bm3d_deblurring
    except ImportError:
        return None
    if not hasattr(np, "trapz"):  # bm3d 4.0.3 calls numpy's old name (gone in numpy 2.4)
        np.trapz = np.trapezoid
    measured = noise_std(blurry)
    planes = blurry.astype(np.float64)[..., None]  # bm3d 4.0.3 breaks on a 2-D image under numpy 2
    results = [score(np.clip(np.squeeze(bm3d_deblurring(planes, measured * factor, psf)), 0, 1), sharp, mask)
               | {"noise": measured * factor} for factor in BM3D_NOISE_FACTORS]
    return max(results, key=lambda result: result["psnr"])


def peers_given_the_true_psf(pairs) -> dict:
    """{peer: mean psnr, ssim, contrast over the pairs}, each pair with its true spot (`pair.blur`);
    "best" is the best peer per pair (what "beat the best of them" means)."""
    per_pair = []
    for pair in pairs:
        mask, psf = interior(pair.mask), spot_psf(pair.blur)
        found = {"wiener": best_wiener(pair, pair.blur),
                 "richardson-lucy": best_richardson_lucy(pair.blurry, pair.sharp, mask, psf)}
        bm3d = best_bm3d(pair.blurry, pair.sharp, mask, psf)
        if bm3d is not None:
            found["bm3d"] = bm3d
        found["best"] = max(found.values(), key=lambda result: result["psnr"])
        per_pair.append(found)
    return {peer: {metric: float(np.mean([found[peer][metric] for found in per_pair]))
                   for metric in ("psnr", "ssim", "contrast")} for peer in per_pair[0]}
