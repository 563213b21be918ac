"""Kernel-aware restoration: the network takes the blur as input planes, in training and in restore."""

import numpy as np
import pytest
import torch

from napari_midnet.blur.estimate import BlurEstimate
from napari_midnet.blur.simulate import Degradation, apply_degradation, apply_tone
from napari_midnet.events import BlurIdentified, TileDone
from napari_midnet.models.config import CONDITION_PLANES, ModelConfig
from napari_midnet.models.loader import load_model
from napari_midnet.models.nets import MIDNet, config_from_state
from napari_midnet.models.weights import LoadedModel, save_weights, warm_start
from napari_midnet.restoration.restore import RestoreOptions, restore
from napari_midnet.training.loop import TrainConfig, sample_batch, train
from napari_midnet.training.pairs import make_sharp_only

from .conftest import drain, perturb, sem_like

TINY_AWARE = ModelConfig(width=8, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1),
                         condition_planes=CONDITION_PLANES)


def aware(seed=0):
    torch.manual_seed(seed)
    return perturb(MIDNet(TINY_AWARE), seed)


def test_the_kernel_aware_preset_takes_every_condition_plane():
    from napari_midnet.models.config import PRESETS

    assert PRESETS["midnet-s-psf"].config.condition_planes == CONDITION_PLANES


def test_the_condition_changes_the_output_and_only_the_image_is_the_residual():
    model = aware()
    image = torch.rand(1, 1, 40, 48)
    sharp_condition = torch.zeros(1, CONDITION_PLANES, 40, 48)
    blurred_condition = sharp_condition.clone()
    blurred_condition[:, 0] = 0.8
    with torch.no_grad():
        a = model(torch.cat([image, sharp_condition], 1))
        b = model(torch.cat([image, blurred_condition], 1))
    assert a.shape == (1, 1, 40, 48)
    assert (a - b).abs().max() > 1e-3


def test_restore_estimates_or_takes_the_blur_and_says_which(tmp_path):
    model = aware()
    image = (sem_like((160, 200), seed=3) * 255).astype(np.uint8)
    events, estimated = drain(restore(image, model, RestoreOptions(tile=96, overlap=16)))
    identified = [e for e in events if isinstance(e, BlurIdentified)]
    assert len(identified) == 1 and not identified[0].given and identified[0].focus_map is not None
    assert any(isinstance(e, TileDone) for e in events)
    given = BlurEstimate(6.0, 3.0, 30.0, 0.0)
    events, with_given = drain(restore(image, model, RestoreOptions(tile=96, overlap=16, blur=given)))
    told = next(e for e in events if isinstance(e, BlurIdentified))
    assert told.given and told.estimate.sigma_major_px == 6.0 and told.estimate.noise > 0
    assert estimated.shape == image.shape and estimated.dtype == np.uint8
    assert np.abs(estimated.astype(int) - with_given.astype(int)).max() > 0


def test_an_image_under_the_estimators_minimum_is_still_restored():
    image = sem_like((48, 60), seed=1).astype(np.float32)
    events, restored = drain(restore(image, aware()))
    assert restored.shape == image.shape and any(isinstance(e, BlurIdentified) for e in events)


def test_a_blind_model_ignores_the_blur_option(tiny_model):
    image = sem_like((64, 80), seed=1).astype(np.float32)
    events, a = drain(restore(image, tiny_model, RestoreOptions(blur=BlurEstimate(5, 5, 0, 0))))
    _, b = drain(restore(image, tiny_model))
    assert not any(isinstance(e, BlurIdentified) for e in events)
    assert np.array_equal(a, b)


def test_ensemble_turns_the_condition_with_the_image():
    """A spot along the rows on the image equals a spot along the columns on the transposed image,
    so the ensemble of a transposed image with the transposed blur is the transposed ensemble."""
    model = aware(1)
    image = sem_like((64, 72), seed=2).astype(np.float32)
    spot = BlurEstimate(5.0, 1.0, 0.0, 0.0)
    _, out = drain(restore(image, model, RestoreOptions(ensemble=True, blur=spot, float32=True)))
    _, out_t = drain(restore(image.T.copy(), model, RestoreOptions(ensemble=True, float32=True,
                                                                   blur=BlurEstimate(5.0, 1.0, 90.0, 0.0))))
    assert np.abs(out - out_t.T).max() < 2e-3


def test_training_batches_carry_the_spot_and_a_target_with_the_inputs_tone():
    sharp = make_sharp_only("grains", (sem_like((192, 192), seed=4) * 255).astype(np.uint8))
    config = TrainConfig(crop=64, batch=6)
    inputs, targets = sample_batch([sharp], config, np.random.default_rng(0), conditioned=True)
    assert inputs.shape == (6, 1 + CONDITION_PLANES, 64, 64) and targets.shape == (6, 1, 64, 64)
    assert np.ptp(inputs[:, 1]) > 0  # the blur size differs between crops
    assert np.allclose(inputs[:, 1:5], inputs[:, 1:5, :1, :1])  # the spot is uniform over a crop
    assert np.ptp(inputs[:, 5]) > 0  # the deconvolved image is not
    plain, _ = sample_batch([sharp], config, np.random.default_rng(0))
    assert plain.shape == (6, 1, 64, 64)
    tone = Degradation(sigma=0.0, gain=1.2, offset=-0.05, gamma=1.1)
    assert np.allclose(apply_tone(sharp.sharp, tone), np.clip(sharp.sharp, 0, 1) ** 1.1 * 1.2 - 0.05)


def test_a_kernel_aware_network_trains_and_saves_with_its_config(tmp_path):
    model = aware()
    sharp = [make_sharp_only(f"g{i}", (sem_like((128, 128), seed=10 + i) * 255).astype(np.uint8)) for i in range(2)]
    config = TrainConfig(iterations=6, crop=48, batch=2, val_every=3, checkpoint_every=3,
                         checkpoint_dir=str(tmp_path))
    _, result = drain(train(model, sharp[:1], sharp[1:], config))
    assert result.step == 6 and result.after is not None
    path = tmp_path / "aware.safetensors"
    save_weights(result.model, path, {"trained": True})
    assert load_model(path).model.config.condition_planes == CONDITION_PLANES
    from safetensors.torch import load_file

    assert config_from_state(load_file(str(path))).condition_planes == CONDITION_PLANES  # card-less too


def test_warm_start_copies_the_blind_weights_and_starts_the_condition_at_zero():
    blind = perturb(MIDNet(ModelConfig(width=8, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1))), 3)
    fresh = LoadedModel(MIDNet(TINY_AWARE), "fresh", {"trained": False})
    started = warm_start(fresh, LoadedModel(blind, "blind", {"trained": True}, "a" * 64))
    image = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        expected = blind(image)
        got = started.model(torch.cat([image, torch.rand(1, CONDITION_PLANES, 32, 32)], 1))
    assert torch.allclose(expected, got, atol=1e-6)
    assert started.card["warm_start"]["name"] == "blind"


def test_warm_start_from_another_architecture_is_one_sentence():
    from napari_midnet.models.weights import WeightsError

    other = MIDNet(ModelConfig(width=16, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1)))
    with pytest.raises(WeightsError, match="does not fit"):
        warm_start(LoadedModel(MIDNet(TINY_AWARE), "fresh"), LoadedModel(other, "wide"))


def test_a_simulated_spot_is_what_the_condition_describes():
    """true_blur and the kernel agree: the blurred image's second moments are the spot's covariance."""
    from napari_midnet.blur.simulate import blur_kernel, true_blur

    degradation = Degradation(sigma=3.0, axis_ratio=2.0, angle=-np.deg2rad(40))
    kernel = blur_kernel(degradation)
    radius = kernel.shape[0] // 2
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    moments = np.array([[np.sum(kernel * x * x), np.sum(kernel * x * y)],
                        [np.sum(kernel * x * y), np.sum(kernel * y * y)]])
    assert true_blur(degradation).covariance() == pytest.approx(moments, rel=0.05, abs=0.05)
    blurred = apply_degradation(np.full((32, 32), 0.5), degradation, np.random.default_rng(0))
    assert blurred.shape == (32, 32)


def test_the_blur_is_read_above_the_info_bar_even_when_the_bar_is_restored():
    image = sem_like((192, 160), seed=5, databar=24).astype(np.float32)
    found = []
    for keep in (True, False):
        events, _ = drain(restore(image, aware(), RestoreOptions(keep_databar=keep)))
        found.append(next(e for e in events if isinstance(e, BlurIdentified)).estimate)
    assert found[0] == found[1]
