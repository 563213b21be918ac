"""The blind model's ingredients: a simulator that knows "no blur", calibration against real
pairs, real pairs kept at their share of each batch, percentile scaling, strength, the notice."""

import numpy as np
import pytest

from napari_midnet.blur.estimate import BlurEstimate
from napari_midnet.blur.noise import noise_std
from napari_midnet.blur.simulate import IDENTITY_FRACTION, Degradation, apply_degradation, sample_degradation
from napari_midnet.jobs.evaluation import harm, synthetic_pair
from napari_midnet.jobs.readouts import Readout
from napari_midnet.metrics import psnr
from napari_midnet.restoration.restore import RestoreOptions, restore
from napari_midnet.training.calibration import fit_degradation
from napari_midnet.training.loop import TrainConfig, sample_batch
from napari_midnet.training.pairs import make_pair, make_sharp_only

from .conftest import drain, sem_like


def test_a_fifth_of_simulated_samples_are_unblurred_and_blur_starts_near_zero():
    rng = np.random.default_rng(0)
    settings = [sample_degradation(rng) for _ in range(4000)]
    unblurred = [d for d in settings if d.sigma == 0 and d.drift == 0]
    assert abs(len(unblurred) / len(settings) - IDENTITY_FRACTION) < 0.03
    sigmas = np.array([d.sigma for d in settings if d.sigma > 0])
    assert sigmas.min() < 0.3 and np.mean(sigmas < 1.0) > 0.1  # light blur is common, not an edge case
    assert sigmas.max() > 12  # beyond the real JEOL pairs' fitted 9-13 px


def test_an_unblurred_sample_changes_only_tone_and_noise():
    sharp = sem_like((128, 128)).astype(np.float32)
    out = apply_degradation(sharp, Degradation(sigma=0.0, dose=20000), np.random.default_rng(1))
    assert psnr(out, sharp, value_range=1.0) > 35


def test_the_simulator_stores_8_or_16_bit_as_a_detector_does():
    sharp = sem_like((64, 64)).astype(np.float32)
    for bits in (8, 16):
        out = apply_degradation(sharp, Degradation(sigma=1.0, dose=1e5), np.random.default_rng(1), bits)
        steps = out * (2**bits - 1)
        assert np.allclose(steps, np.round(steps), atol=1e-2)
    assert not np.allclose(out * 255, np.round(out * 255), atol=1e-2)  # 16 bit is finer than 8


def test_calibration_recovers_a_known_blur():
    sharp = sem_like((200, 200), seed=3).astype(np.float32)
    blurry = apply_degradation(sharp, Degradation(sigma=3.0, dose=5000, gain=1.05), np.random.default_rng(0))
    pair = make_pair("known", blurry, sharp, align=False)
    fit = fit_degradation(pair)
    assert fit.sigma == pytest.approx(3.0, rel=0.2)
    assert fit.gain == pytest.approx(1.05, abs=0.05)


def test_noise_std_measures_white_noise():
    rng = np.random.default_rng(0)
    assert noise_std(0.5 + rng.normal(0, 0.03, (256, 256))) == pytest.approx(0.03, rel=0.05)


def test_real_pairs_keep_their_share_of_each_batch():
    bright, dark = np.full((64, 64), 230, dtype=np.uint8), np.full((64, 64), 25, dtype=np.uint8)
    real = make_pair("real", bright, bright, align=False)
    sharp_only = [make_sharp_only(f"s{i}", dark) for i in range(20)]
    inputs, _ = sample_batch([real] + sharp_only, TrainConfig(batch=8, crop=32, real_fraction=0.25),
                             np.random.default_rng(0))
    assert int((inputs.mean(axis=(1, 2, 3)) > 0.5).sum()) == 2


def test_16_bit_sharp_images_are_scaled_by_percentiles():
    image = (1000 + 2000 * sem_like((128, 128))).astype(np.uint16)
    image[0, 0] = 65535  # a hot pixel must not squeeze the image into a sliver of [0, 1]
    scaled = make_sharp_only("sixteen", image).sharp
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    assert np.percentile(scaled, 99) - np.percentile(scaled, 1) > 0.8


def test_strength_blends_input_and_output(tiny_model):
    image = sem_like((64, 64)).astype(np.float32)
    outputs = {s: drain(restore(image, tiny_model, RestoreOptions(strength=s, value_range=(0, 1))))[1]
               for s in (0.0, 0.5, 1.0)}
    assert np.allclose(outputs[0.0], image, atol=1e-6)
    assert not np.allclose(outputs[1.0], image, atol=1e-3)
    assert np.allclose(outputs[0.5], (outputs[0.0] + outputs[1.0]) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="strength"):
        drain(restore(image, tiny_model, RestoreOptions(strength=1.5)))


def test_do_no_harm_score_is_against_the_input(tiny_model):
    image = make_sharp_only("sharp", (255 * sem_like((64, 64))).astype(np.uint8))
    _, untouched = drain(harm(tiny_model, image, RestoreOptions(strength=0.0), wiener=(2.0, 1.0)))
    _, changed = drain(harm(tiny_model, image))
    assert untouched["output"]["psnr"] == float("inf")
    assert changed["output"]["psnr"] < 60 and untouched["wiener"]["psnr"] < 60


def test_synthetic_pair_blurs_only_the_input():
    image = make_sharp_only("sharp", (255 * sem_like((64, 64))).astype(np.uint8))
    pair = synthetic_pair(image, Degradation(sigma=2.0), seed=0, name="sharp@2")
    assert pair.sharp is image.sharp and psnr(pair.blurry, pair.sharp, value_range=1.0) < 30


def test_notice_when_the_input_was_in_focus_or_deblurring_barely_changed_sharpness():
    notice = Readout(0.2, 0.5, source_blur=BlurEstimate(0.8, 0.5, 0, 0.01)).notice
    assert "already looks in focus (in focus, blur 0.8 x 0.5 px, noise 0.010;" in notice  # describe()'s words
    assert Readout(0.2, 0.21, source_blur=BlurEstimate(3.0, 3.0, 0, 0.01)).notice == ""  # blurred: nothing to say
    assert "already looks sharp" in Readout(0.2, 0.21).notice  # too small to estimate: the ratio decides
    assert Readout(0.07, 0.15).notice == ""
