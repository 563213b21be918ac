import numpy as np
import pytest
import torch

from napari_midnet.blur.simulate import degrade
from napari_midnet.events import CheckpointSaved, TrainStep, Validated
from napari_midnet.models.config import ModelConfig
from napari_midnet.models.nets import MIDNet
from napari_midnet.training.loop import TrainConfig, train
from napari_midnet.training.losses import edge_loss, fft_loss, midnet_loss
from napari_midnet.training.pairs import make_pair, make_sharp_only

from .conftest import drain, sem_like

TINY = ModelConfig(width=8, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1))


def tiny():
    torch.manual_seed(0)
    return MIDNet(TINY)


def test_loss_terms_follow_the_formulas():
    a, b = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    assert midnet_loss(a, a).item() == pytest.approx(0.05 * 1e-3, rel=1e-3)  # Charbonnier floor = eps
    expected = (a - b).abs().mean() + 0.05 * edge_loss(a, b) + 0.01 * fft_loss(a, b)
    assert midnet_loss(a, b).item() == pytest.approx(expected.item())
    spectrum = torch.fft.fft2(a) - torch.fft.fft2(b)
    assert fft_loss(a, b).item() == pytest.approx((spectrum.real.abs().mean() + spectrum.imag.abs().mean()).item())


def test_degradation_blurs_adds_noise_and_keeps_brightness():
    rng = np.random.default_rng(0)
    sharp = sem_like((128, 128)).astype(np.float32)
    from napari_midnet.metrics import sharpness

    outputs = [degrade(sharp, rng) for _ in range(12)]
    assert all(o.shape == sharp.shape and o.dtype == np.float32 for o in outputs)
    assert np.mean([sharpness(o) for o in outputs]) < sharpness(sharp)
    assert abs(np.mean([o.mean() for o in outputs]) - sharp.mean()) < 0.03  # gain centred on 1
    assert all(np.allclose(o * 255, np.round(o * 255), atol=1e-3) for o in outputs)  # 8-bit quantised


def synthetic_task(seed=0):
    """Pairs with one fixed blur (a microscope's own), already registered."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    images = []
    for index in range(3):
        sharp = sem_like((96, 96), seed=seed * 10 + index)
        blurry = np.clip(gaussian_filter(sharp, 1.5) + rng.normal(0, 0.01, sharp.shape), 0, 1)
        images.append(make_pair(f"img{index}", (blurry * 255).astype(np.uint8), (sharp * 255).astype(np.uint8),
                                align=False))
    return images[:2], images[2:]


def test_training_is_deterministic_and_improves_validation(tmp_path):
    train_set, val_set = synthetic_task()
    config = TrainConfig(iterations=40, crop=48, batch=4, lr=2e-3, val_every=20, checkpoint_every=20,
                         checkpoint_dir=str(tmp_path / "a"), seed=3)
    events, result = drain(train(tiny(), train_set, val_set, config))
    assert any(isinstance(e, CheckpointSaved) for e in events)
    losses = [e.loss for e in events if isinstance(e, TrainStep)]
    assert len(losses) == 40
    assert result.after.psnr > result.before.psnr
    again = [e.loss for e in drain(train(tiny(), train_set, val_set, config.__class__(
        **{**config.__dict__, "checkpoint_dir": str(tmp_path / "b")})))[0] if isinstance(e, TrainStep)]
    assert again == losses


def test_stop_writes_a_checkpoint_and_resume_continues_identically(tmp_path):
    train_set, _ = synthetic_task()
    config = TrainConfig(iterations=12, crop=32, batch=2, checkpoint_dir=str(tmp_path), seed=1, checkpoint_every=100)
    full = [e.loss for e in drain(train(tiny(), train_set, [], config))[0] if isinstance(e, TrainStep)]
    steps = []
    events, result = drain(train(tiny(), train_set, [], config, should_stop=lambda: len(steps) >= 5
                                 or steps.append(1)))
    assert result.stopped and result.checkpoint.is_file() and isinstance(events[-1], CheckpointSaved)
    assert events[-1].step == 5
    resumed = [e.loss for e in drain(train(tiny(), train_set, [], config, resume=result.checkpoint))[0]
               if isinstance(e, TrainStep)]
    assert resumed == pytest.approx(full[5:], rel=1e-5)


def test_nothing_trained_writes_nothing_and_an_earlier_step_never_replaces_a_later_one(tmp_path):
    """Issue 34.7: a Stop before the first step wrote a step-0 checkpoint over a finished run's."""
    train_set, _ = synthetic_task()
    config = TrainConfig(iterations=4, crop=32, batch=2, checkpoint_dir=str(tmp_path), seed=1)
    _, stopped = drain(train(tiny(), train_set, [], config, should_stop=lambda: True))
    assert stopped.stopped and stopped.checkpoint is None and not list(tmp_path.iterdir())
    drain(train(tiny(), train_set, [], config))
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 4
    steps = []
    _, second = drain(train(tiny(), train_set, [], config, should_stop=lambda: len(steps) >= 2 or steps.append(1)))
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 4  # the later one kept
    assert second.checkpoint == tmp_path / "checkpoint-step2.pt"
    assert torch.load(second.checkpoint, weights_only=True)["step"] == 2


def test_a_stop_during_registration_is_answered_at_once():
    import time

    from napari_midnet.events import StopRequested

    sharp = sem_like((512, 512), seed=4)
    asked = []
    start = time.monotonic()
    with pytest.raises(StopRequested):
        make_pair("p", sharp, sharp, should_stop=lambda: len(asked) >= 2 or asked.append(1))
    assert time.monotonic() - start < 1.0


def test_closing_the_generator_leaves_a_resumable_checkpoint(tmp_path):
    train_set, _ = synthetic_task()
    config = TrainConfig(iterations=50, crop=32, batch=2, checkpoint_dir=str(tmp_path))
    generator = train(tiny(), train_set, [], config)
    for _ in range(3):
        next(generator)
    generator.close()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 3


def test_a_run_stopped_between_validations_scores_the_model_it_returns(tmp_path):
    train_set, val_set = synthetic_task()
    config = TrainConfig(iterations=40, crop=48, batch=2, val_every=20, checkpoint_dir=str(tmp_path))
    steps = iter(range(100))
    _, result = drain(train(tiny(), train_set, val_set, config, should_stop=lambda: next(steps) >= 7))
    assert result.stopped and result.step == 7 and result.after.step == 7


def test_ctrl_c_leaves_a_resumable_checkpoint(tmp_path):
    train_set, val_set = synthetic_task()
    config = TrainConfig(iterations=40, crop=48, batch=2, checkpoint_dir=str(tmp_path))
    steps = iter(range(100))

    def interrupt():
        if next(steps) == 5:
            raise KeyboardInterrupt
        return False

    with pytest.raises(KeyboardInterrupt):
        drain(train(tiny(), train_set, val_set, config, should_stop=interrupt))
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 5


def test_sharp_only_images_train_through_the_simulator(tmp_path):
    sharp = [make_sharp_only(f"s{i}", (sem_like((80, 80), seed=i) * 255).astype(np.uint8)) for i in range(2)]
    config = TrainConfig(iterations=3, crop=32, batch=2, checkpoint_dir=str(tmp_path), val_every=3)
    events, result = drain(train(tiny(), sharp[:1], sharp[1:], config))
    assert isinstance(events[0], Validated) and result.step == 3


def test_crop_larger_than_the_images_is_refused(tmp_path):
    train_set, _ = synthetic_task()
    with pytest.raises(ValueError, match="smaller than the crop 128"):
        drain(train(tiny(), train_set, [], TrainConfig(crop=128, checkpoint_dir=str(tmp_path))))
