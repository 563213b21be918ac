"""The physics restorer: exact data steps with the identified spot, a MIDNet prior between them."""

import numpy as np
import pytest
import torch

from napari_midnet.blur.estimate import BlurEstimate
from napari_midnet.models.config import CONDITION_PLANES, PRESETS
from napari_midnet.models.nets import build_model
from napari_midnet.models.nets.physics import data_step, spot_from_condition, transfer_function
from napari_midnet.restoration.condition import condition_planes, uniform_covariances

from .conftest import perturb, sem_like


def _inputs(image: np.ndarray, spot: BlurEstimate) -> torch.Tensor:
    planes = condition_planes(image.astype(np.float32), uniform_covariances(spot, image.shape), spot.noise)
    return torch.from_numpy(np.concatenate([image[None].astype(np.float32), planes]))[None]


def test_the_spot_is_read_back_from_the_condition_planes():
    spot = BlurEstimate(5.0, 2.0, 30.0, 0.02)
    covariance, noise = spot_from_condition(_inputs(sem_like((64, 64)), spot)[:, 1:5])
    expected = spot.covariance()
    assert covariance.shape == (1, 3, 1, 1)
    assert covariance[0, :, 0, 0].numpy() == pytest.approx([expected[0, 0], expected[0, 1], expected[1, 1]], rel=1e-4)
    assert float(noise[0]) == pytest.approx(0.02, rel=1e-5)


def test_the_data_step_undoes_a_known_spot_exactly():
    """Periodic and noise-free, so the forward model holds exactly: a tiny alpha inverts it (odd
    sides: an even one's Nyquist row is its own mirror, where a tilted spot is not symmetric)."""
    sharp = torch.from_numpy(sem_like((63, 65), seed=3))[None, None]
    covariance = torch.tensor([[0.8, 0.3, 0.5]], dtype=torch.float64)  # every frequency still carried
    mtf = transfer_function(covariance, (63, 65))
    blurred = torch.fft.irfft2(torch.fft.rfft2(sharp) * mtf[:, None], s=(63, 65))
    restored = data_step(torch.fft.rfft2(blurred), mtf, torch.zeros_like(sharp), torch.tensor([1e-12]), (63, 65))
    assert (restored - sharp).abs().max() < 1e-4
    assert (blurred - sharp).abs().max() > 0.05


@pytest.mark.parametrize("noise", [0.001, 0.05])
def test_a_0_px_spot_gives_the_input_back_whatever_the_prior_and_the_noise(noise):
    """Do no harm by construction: the last data step keeps what the spot left intact (all of it
    here), grain and noise included: a deblurrer, not a denoiser."""
    torch.manual_seed(0)
    model = perturb(build_model(PRESETS["midnet-hqs"].config), scale=0.5)
    image = sem_like((72, 88), seed=5)
    with torch.inference_mode():
        out = model(_inputs(image, BlurEstimate(0.0, 0.0, 0.0, noise)))[0, 0].numpy()
    assert np.abs(out - image).max() < 1e-4


def test_a_sharp_half_beside_a_blurred_half_of_one_tile_comes_back_as_it_was():
    """The spot is taken block by block: the sharp side is not deconvolved with the tile's mean."""
    torch.manual_seed(0)
    model = perturb(build_model(PRESETS["midnet-hqs"].config), scale=0.5)
    image = sem_like((64, 480), seed=6).astype(np.float32)
    blurred = BlurEstimate(4.0, 4.0, 0.0, 0.001).covariance()
    covariances = np.zeros((3, 64, 480), dtype=np.float32)
    covariances[:, :, 240:] = np.array([blurred[0, 0], blurred[0, 1], blurred[1, 1]])[:, None, None]
    planes = condition_planes(image, covariances, 0.001)
    inputs = torch.from_numpy(np.concatenate([image[None], planes]))[None]
    with torch.inference_mode():
        out = model(inputs)[0, 0].numpy()
    assert np.abs(out[:, :80] - image[:, :80]).max() < 1e-3
    assert np.abs(out[:, 400:] - image[:, 400:]).max() > 0.02  # the blurred side is restored


def test_one_spot_over_many_blocks_restores_as_one_block(monkeypatch):
    """A frame's single estimate (or --blur) takes one data step per stage, with the same result."""
    from napari_midnet.models.nets import physics

    torch.manual_seed(0)
    model = perturb(build_model(PRESETS["midnet-hqs"].config), scale=0.5)
    inputs = _inputs(sem_like((64, 480), seed=7).astype(np.float32), BlurEstimate(3.0, 2.0, 20.0, 0.01))
    with torch.inference_mode():
        by_blocks = model(inputs)
        monkeypatch.setattr(physics, "SPOT_BLOCK", 10**6)
        whole = model(inputs)
    assert torch.allclose(by_blocks, whole, atol=1e-3)  # float sums in another order, through a random prior


def test_a_forward_pass_keeps_any_size_and_the_weights_rebuild(tmp_path):
    from napari_midnet.models.loader import load_model
    from napari_midnet.models.weights import save_weights

    config = PRESETS["midnet-hqs"].config
    model = perturb(build_model(config))
    assert config.condition_planes == CONDITION_PLANES and config.kernel_aware
    inputs = _inputs(sem_like((45, 67)), BlurEstimate(3.0, 3.0, 0.0, 0.02))
    with torch.inference_mode():
        out = model(inputs)
    assert out.shape == (1, 1, 45, 67) and torch.isfinite(out).all()
    path = tmp_path / "hqs.safetensors"
    save_weights(model, path, {"preset": "midnet-hqs", "trained": True})
    with torch.inference_mode():
        assert torch.equal(load_model(path).model.eval()(inputs), out)


def test_the_shipped_restorer_leaves_a_sharp_frame_and_deblurs_a_known_spot():
    """The shipped `midnet-hqs` (the DPIR prior) through the whole restoration: a sharp crop of
    the bundled Zeiss frame told it is sharp comes back as it was, and the same crop blurred by a
    known spot comes back closer to the sharp one than the blurred input was."""
    from scipy.ndimage import gaussian_filter

    from napari_midnet.bundled import sample_paths
    from napari_midnet.events import drain
    from napari_midnet.io.files import read_image
    from napari_midnet.metrics import psnr
    from napari_midnet.models.loader import load_model
    from napari_midnet.restoration.restore import RestoreOptions, restore

    loaded = load_model("midnet-hqs", allow_untrained=False)
    assert loaded.trained and loaded.card["checks"]
    sharp = read_image(sample_paths()["SEM sharp"])[:192, :256].astype(np.float32) / 255.0
    same = drain(restore(sharp, loaded.model, RestoreOptions(device="cpu", blur=BlurEstimate(0.0, 0.0, 0.0, 0.01))))
    assert np.abs(same - sharp).max() < 1e-3
    spot = BlurEstimate.isotropic(2.0, 0.003)
    blurred = gaussian_filter(sharp, 2.0, mode="reflect")
    restored = drain(restore(blurred, loaded.model, RestoreOptions(device="cpu", blur=spot)))
    assert psnr(restored, sharp, value_range=1.0) > psnr(blurred, sharp, value_range=1.0) + 1.0
