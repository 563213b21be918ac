import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import io

from napari_midnet.io.databar import detect_databar
from napari_midnet.metrics import psnr, sharpness, ssim

from .conftest import sem_like


def test_sharpness_falls_monotonically_with_blur_under_poisson_noise():
    rng = np.random.default_rng(1)
    sharp = sem_like((256, 256), seed=4)
    scores = []
    for sigma in (0, 1, 2, 3, 4, 6):
        blurred = gaussian_filter(sharp, sigma) if sigma else sharp
        noisy = rng.poisson(blurred * 50) / 50.0
        scores.append(sharpness(noisy))
    assert all(a > b for a, b in zip(scores, scores[1:])), scores


def test_sharpness_ignores_gain_and_offset():
    image = sem_like((128, 128))
    assert sharpness(image * 3.7 + 12.0) == pytest.approx(sharpness(image), rel=1e-4)


def test_noisy_blurry_is_not_mistaken_for_sharp():
    rng = np.random.default_rng(2)
    sharp = sem_like((256, 256), seed=5)
    blurry_noisy = rng.poisson(gaussian_filter(sharp, 3) * 20) / 20.0
    assert sharpness(sharp) > sharpness(blurry_noisy)


@pytest.mark.shared
def test_sharpness_ranks_sharp_above_blurry_on_every_real_pair(shared_pairs):
    for index in range(1, 7):
        blurry = io.imread(shared_pairs / "blurry" / f"frame{index}.png")
        sharp = io.imread(shared_pairs / "sharp" / f"frame{index}.png")
        bar = detect_databar(blurry)
        assert bar == 960
        assert sharpness(sharp[:bar]) > sharpness(blurry[:bar]), f"frame{index}"


def test_psnr_and_ssim_match_known_cases():
    reference = sem_like((64, 64))
    assert psnr(reference, reference) == float("inf")
    assert ssim(reference, reference, value_range=1.0) == pytest.approx(1.0)
    noisy = np.clip(reference + 0.01, 0, 1)
    assert psnr(noisy, reference, value_range=1.0) == pytest.approx(40.0, abs=0.3)


def test_databar_found_only_where_there_is_one():
    assert detect_databar((sem_like((256, 256), databar=24) * 255).astype(np.uint8)) == 232
    assert detect_databar((sem_like((256, 256)) * 255).astype(np.uint8)) is None


def test_uniform_image_has_no_databar():
    assert detect_databar(np.zeros((128, 128), np.uint8)) is None


@pytest.mark.shared
def test_sharpness_orders_a_real_defocus_series():
    from .conftest import SHARED

    folder = SHARED / "deepfocus"
    if not folder.is_dir():
        pytest.skip(f"DeepFocus frames not found at {folder}")
    score = {name: sharpness(io.imread(folder / f"series_0_def-13324_astx-466_asty219_{name}.png"))
             for name in ("pert5000", "base", "pert-5000")}  # -8.3, -13.3, -18.3 um defocus
    assert score["pert5000"] > score["base"] > score["pert-5000"]


def test_noise_alone_scores_zero_sharpness_dark_or_bright():
    """Issue 34.19: dark noise read -43.8, bright noise 0.000."""
    rng = np.random.default_rng(0)
    for level in (2.0, 200.0):
        noise = np.clip(rng.normal(level, 1.5, (128, 128)), 0, 255).astype(np.uint8)
        assert sharpness(noise) == 0.0
