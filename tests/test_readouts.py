"""The Compare panel's numbers (computed by the core) and the SEM databar they leave out."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, shift

from napari_midnet.io.databar import detect_databar
from napari_midnet.jobs.readouts import ALREADY_SHARP_RATIO, compute_readout

from .conftest import sem_like


def frame(seed=0, databar=32):
    return (sem_like((256, 320), seed=seed, databar=databar) * 255).astype(np.uint8)


def blur(image, sigma=2.0):
    return np.clip(gaussian_filter(image.astype(np.float64), sigma), 0, 255).astype(np.uint8)


def test_sharpness_readout_leaves_the_databar_out():
    sharp = frame()
    readout = compute_readout(blur(sharp, 3.0), sharp)
    assert readout.result_sharpness > readout.source_sharpness and readout.sharpness_ratio > ALREADY_SHARP_RATIO
    other_text = sharp.copy()
    other_text[-20:-10, 100:200:2] = 255  # different databar text, same image above it
    assert compute_readout(blur(sharp, 3.0), other_text).result_sharpness == pytest.approx(readout.result_sharpness)
    assert readout.psnr_change is None and readout.notice == ""


def test_reference_is_aligned_before_psnr_and_ssim():
    sharp = sem_like((256, 320), seed=1)
    reference = (shift(sharp, (6.0, -9.0), order=3, mode="reflect") * 255).astype(np.uint8)
    sharp8 = (sharp * 255).astype(np.uint8)
    readout = compute_readout(blur(sharp8), sharp8, reference)
    assert "shift" in readout.alignment
    assert readout.result_psnr > readout.source_psnr + 5 and readout.result_ssim > 0.95
    assert readout.psnr_change == pytest.approx(readout.result_psnr - readout.source_psnr)


def test_a_reference_of_another_field_gives_a_reason_not_numbers():
    source = frame(seed=2, databar=0)
    readout = compute_readout(source, source, frame(seed=3, databar=0))
    assert readout.source_psnr is None and readout.alignment.startswith("could not align the reference")


def test_mismatched_source_and_result_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        compute_readout(frame(), frame()[:100])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_databar_found_in_every_dtype(dtype):
    scale = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0}[dtype]
    image = (sem_like((300, 300), databar=40) * scale).astype(dtype)
    assert detect_databar(image) == 260


@pytest.mark.shared
def test_databar_of_every_real_jeol_frame(shared_pairs):
    from napari_midnet.io.files import read_image

    rows = {f"{path.parent.name}/{path.name}": detect_databar(read_image(path))
            for path in sorted(shared_pairs.glob("*/*.png"))}
    assert len(rows) == 12 and set(rows.values()) == {960}, rows


def test_white_noise_is_called_structureless_not_uniform():
    noise = np.random.default_rng(1).integers(3, 13, (256, 256)).astype(np.uint8)
    readout = compute_readout(noise, noise)
    assert readout.structureless and "no spatial structure" in readout.notice
    assert not readout.uniform and "uniform" not in readout.notice
    assert not compute_readout(*(2 * [(sem_like((128, 128)) * 9).astype(np.uint8)])).structureless
