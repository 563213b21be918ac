"""The seed architectures (SRN, MRN, MSTSGM, MedDeblur): shapes at odd sizes, weights round
trips with and without a card, training and fine-tuning that lower the loss, and the presets."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from napari_midnet.events import TrainStep
from napari_midnet.jobs.evaluation import evaluate_pairs, harm
from napari_midnet.models.config import PRESETS, ModelConfig
from napari_midnet.models.loader import load_model
from napari_midnet.models.nets import build_model, config_from_state
from napari_midnet.models.weights import LoadedModel, save_weights
from napari_midnet.training.finetune import FinetuneRequest, FinetuneSettings, finetune_job
from napari_midnet.training.loop import TrainConfig, train
from napari_midnet.training.pairs import TrainingSource, load_pair_folder, load_sharp_folder

from .conftest import blurred_pair, drain
from .test_training import synthetic_task

SEEDS = ("srn", "mrn", "mstsgm", "meddeblur")
SHIPPED = SEEDS  # trained weights ship for these (each passed do-no-harm >= 32 dB; README)


def tiny_config(name: str, condition_planes: int = 0) -> ModelConfig:
    """The preset's architecture at a tiny width (a few blocks) for fast tests."""
    config = PRESETS[name].config
    levels = len(config.enc_blocks)
    return dataclasses.replace(config, width=4, middle_blocks=min(config.middle_blocks, 2),
                               enc_blocks=(1,) * levels, dec_blocks=(1,) * levels, condition_planes=condition_planes)


def tiny(name: str, condition_planes: int = 0, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(tiny_config(name, condition_planes))
    with torch.no_grad():  # away from the zero-initialised outputs, so the net is not the identity
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return model.eval()


@pytest.mark.parametrize("name", SEEDS)
@pytest.mark.parametrize("size", [(37, 53), (64, 17), (5, 130)])
def test_forward_keeps_any_size_and_dtype(name, size):
    model = tiny(name, condition_planes=6)
    with torch.inference_mode():
        out = model(torch.rand(2, 7, *size))
        scales = model.forward_scales(torch.rand(1, 7, 32, 32))
    assert out.shape == (2, 1, *size) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert scales[-1].shape == (1, 1, 32, 32) and len(scales) == (1 if name == "srn" else 3)


@pytest.mark.parametrize("name", SEEDS)
def test_an_untrained_network_is_the_identity(name):
    """Zero-initialised outputs and the global residual: a fresh preset does no harm."""
    model = build_model(tiny_config(name)).eval()
    x = torch.rand(1, 1, 40, 40)
    with torch.inference_mode():
        assert torch.equal(model(x), x)


@pytest.mark.parametrize("name", SEEDS)
def test_weights_round_trip_with_and_without_a_card(tmp_path, name):
    model = tiny(name, condition_planes=6)
    x = torch.rand(1, 7, 48, 40)
    save_weights(model, tmp_path / "card.safetensors", {"trained": True})
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "bare.safetensors"))
    with torch.inference_mode():
        expected = model(x)
        for file in ("card.safetensors", "bare.safetensors"):
            loaded = load_model(tmp_path / file).model
            assert loaded.config == model.config and type(loaded) is type(model)
            assert torch.equal(loaded(x), expected)
    assert config_from_state(model.state_dict()) == model.config


@pytest.mark.parametrize("name", SEEDS)
def test_a_few_training_steps_lower_the_loss(tmp_path, name):
    train_set, val_set = synthetic_task()
    config = TrainConfig(iterations=30, crop=32, batch=4, lr=2e-3, val_every=30, checkpoint_dir=str(tmp_path), seed=1)
    events, result = drain(train(tiny(name), train_set, val_set, config))
    losses = [e.loss for e in events if isinstance(e, TrainStep)]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert result.after.psnr > result.before.psnr


@pytest.mark.parametrize("name", SEEDS)
def test_fine_tuning_works_for_each_architecture(tmp_path, name):
    sources = [TrainingSource(f"p{i}", *reversed(blurred_pair(i))) for i in range(2)]
    settings = FinetuneSettings(iterations=20, lr=2e-3, crop=32, batch=2, seed=5, checkpoint_dir=str(tmp_path))
    base = LoadedModel(tiny(name, condition_planes=6), name, {"preset": name, "trained": True}, "0" * 64)
    _, outcome = drain(finetune_job(FinetuneRequest(base, settings, sources)))
    assert type(outcome.loaded.model) is type(base.model) and outcome.card["training"]["iterations"] == 20
    path = tmp_path / "tuned.safetensors"
    save_weights(outcome.loaded.model, path, outcome.card)
    assert load_model(path).model.config == base.model.config


def test_info_lists_the_seed_presets_with_their_papers():
    result = subprocess.run([sys.executable, "-m", "napari_midnet", "info", "--json"], capture_output=True,
                            text=True, check=True)
    listed = json.loads(result.stdout)["presets"]
    for name in SEEDS:
        assert listed[name]["parameters"] > 0 and listed[name]["description"] == PRESETS[name].summary
        assert listed[name]["kernel_aware"] is True and listed[name]["weights"] is (name in SHIPPED)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_seed_preset_restores_a_real_frame_and_leaves_a_sharp_one_alone(shared_pairs, name):
    """Held-out JEOL frame 6: the blurred frame gains PSNR and SSIM, the sharp one comes back
    at 32 dB or more against itself."""
    loaded = load_model(name)
    assert loaded.trained and loaded.card["checks"]
    _, report = drain(evaluate_pairs(loaded.model, load_pair_folder(shared_pairs, names=["frame6"])))
    scores = report["images"]["frame6"]
    assert scores["output"]["psnr"] >= scores["input"]["psnr"] + 1.0
    assert scores["output"]["ssim"] >= scores["input"]["ssim"] + 0.1
    sharp = next(image for image in load_sharp_folder(shared_pairs / "sharp") if image.name == "frame6")
    _, result = drain(harm(loaded.model, sharp))
    assert result["output"]["psnr"] >= 32.0


def test_train_preset_trains_a_seed_architecture(tmp_path):
    from skimage import io

    for kind in ("blurry", "sharp"):
        (tmp_path / "pairs" / kind).mkdir(parents=True)
    for index in range(2):
        blurry, sharp = blurred_pair(index, shape=(128, 144))
        io.imsave(tmp_path / "pairs" / "sharp" / f"f{index}.png", sharp)
        io.imsave(tmp_path / "pairs" / "blurry" / f"f{index}.png", blurry)
    out = tmp_path / "srn.safetensors"
    done = subprocess.run([sys.executable, "-m", "napari_midnet", "train", "--pairs", str(tmp_path / "pairs"),
                           "--preset", "srn", "--iterations", "2", "--crop", "48", "--batch", "2", "--no-align",
                           "--checkpoints", str(tmp_path / "ck"), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = load_model(out)
    assert loaded.model.config.architecture == "srn" and loaded.card["training"]["iterations"] == 2


def test_macs_per_megapixel_counts_every_convolution():
    """SRN at width 4 with 2 blocks: head 1x4x9 + 5 convs of 4x4x9 + tail 4x1x9 MACs a pixel."""
    from napari_midnet.models.nets import macs_per_megapixel

    model = build_model(tiny_config("srn"))
    assert macs_per_megapixel(model, side=32) == pytest.approx((36 + 5 * 144 + 36) * 1e6)
    assert model.training  # left as it was
