"""Fine-tuning: the core job on a synthetic task (the panel: test_finetune_dock.py)."""

import os

import numpy as np
import pytest

from napari_midnet.events import PairAligned
from napari_midnet.events import drain as drain_into
from napari_midnet.models.loader import load_model
from napari_midnet.training.finetune import FinetuneRequest, FinetuneSettings, finetune_job
from napari_midnet.training.pairs import PairError, TrainingSource

from .conftest import blurred_pair, drain, sem_like, tiny_base


def test_finetuning_beats_the_base_on_a_synthetic_task(tmp_path):
    sources = [TrainingSource(f"p{i}", *reversed(blurred_pair(i, offset=(2.5, -1.5)))) for i in range(2)]
    settings = FinetuneSettings(iterations=60, lr=2e-3, crop=48, batch=4, seed=5, checkpoint_dir=str(tmp_path))
    base = tiny_base()
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    events, outcome = drain(finetune_job(FinetuneRequest(base, settings, sources)))
    aligned = [e for e in events if isinstance(e, PairAligned)]
    assert len(aligned) == 2 and all(e.ok and e.residual < 0.5 for e in aligned)
    metrics = outcome.card["metrics"]
    assert metrics["after"]["psnr"] > metrics["before"]["psnr"] + 1.0
    assert outcome.card["training"]["validation"] == ["p1"]
    assert all((base.model.state_dict()[k] == v).all() for k, v in before.items())  # base untouched


def test_resuming_a_kernel_aware_run_does_not_fit_its_pairs_again(tmp_path):
    """Issue 34.11: Resume re-fitted every pair's spot (4 of its 5 s)."""
    import torch

    from napari_midnet.events import SpotFitted
    from napari_midnet.models.config import CONDITION_PLANES, ModelConfig
    from napari_midnet.models.nets import MIDNet
    from napari_midnet.models.weights import LoadedModel

    torch.manual_seed(0)
    config = ModelConfig(width=8, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1),
                         condition_planes=CONDITION_PLANES)
    base = LoadedModel(MIDNet(config).eval(), "tiny-psf", {"trained": True}, "0" * 64)
    blurry, sharp = blurred_pair(0, shape=(256, 192))
    sources = [TrainingSource("only", sharp, blurry)]
    settings = FinetuneSettings(iterations=2, crop=48, batch=2, checkpoint_dir=str(tmp_path), align=False)
    events, first = drain(finetune_job(FinetuneRequest(base, settings, sources)))
    fitted = [event for event in events if isinstance(event, SpotFitted)]
    assert len(fitted) == 1
    # worded apart from an estimate of one image (issue 34.11: four readings of one image)
    assert fitted[0].sentence().startswith("blur of only fitted against its sharp image: in focus, blur ")
    settings.iterations = 4
    events, _ = drain(finetune_job(FinetuneRequest(base, settings, sources, resume=first.result.checkpoint,
                                                   prepared=first.images)))
    assert not [event for event in events if isinstance(event, SpotFitted)]


def test_single_image_validates_on_a_disjoint_strip(tmp_path):
    blurry, sharp = blurred_pair(0, shape=(256, 192))
    settings = FinetuneSettings(iterations=2, crop=48, batch=2, checkpoint_dir=str(tmp_path), align=False)
    _, outcome = drain(finetune_job(FinetuneRequest(tiny_base(), settings, [TrainingSource("only", sharp, blurry)])))
    assert outcome.card["training"]["validation"] == ["only (bottom 25%)"]


def test_the_fine_tuned_model_restores_as_its_saved_file_will(tmp_path):
    """Deblurring with the result in napari and with the file it saves give the same image: both
    pool channel statistics over the window that the training crop implies."""
    import torch

    from napari_midnet.models.weights import save_weights

    blurry, sharp = blurred_pair(0, shape=(256, 192))
    settings = FinetuneSettings(iterations=4, lr=2e-3, crop=48, batch=2, checkpoint_dir=str(tmp_path), align=False)
    _, outcome = drain(finetune_job(FinetuneRequest(tiny_base(), settings, [TrainingSource("only", sharp, blurry)])))
    save_weights(outcome.loaded.model, tmp_path / "tuned.safetensors", outcome.card)
    reloaded = load_model(tmp_path / "tuned.safetensors").model
    image = torch.from_numpy(blurry[None, None].astype(np.float32) / 255)
    with torch.inference_mode():
        assert torch.equal(outcome.loaded.model(image), reloaded(image))
        reloaded.set_pool_window(None)  # the window matters on this image
        assert not torch.equal(outcome.loaded.model(image), reloaded(image))


@pytest.mark.parametrize(
    ("sources", "settings", "message"),
    [
        ([], {}, "no training images"),
        ([TrainingSource("small", *reversed(blurred_pair(0, shape=(64, 64))))], {"align": False, "crop": 128},
         "smaller than the crop"),
        ([TrainingSource("odd", np.zeros((400, 400), np.uint8), np.zeros((100, 120), np.uint8))], {},
         "sizes differ too much"),
        ([TrainingSource("rgb", np.zeros((64, 64, 3), np.uint8) + np.arange(3, dtype=np.uint8))], {},
         "colour"),
    ],
)
def test_bad_training_input_is_one_sentence(tmp_path, sources, settings, message):
    settings = FinetuneSettings(checkpoint_dir=str(tmp_path), **settings)
    with pytest.raises((ValueError, PairError), match=message):
        drain(finetune_job(FinetuneRequest(tiny_base(), settings, sources)))


def test_unrelated_pair_does_not_align(tmp_path):
    a = (sem_like((192, 192), seed=1) * 255).astype(np.uint8)
    b = (sem_like((192, 192), seed=2) * 255).astype(np.uint8)
    with pytest.raises(PairError, match="does not align|no consistent|too few"):
        drain(finetune_job(FinetuneRequest(tiny_base(), FinetuneSettings(checkpoint_dir=str(tmp_path)),
                                           [TrainingSource("x", b, a)])))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_checkpoint_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ValueError, match="cannot write checkpoints"):
        drain(finetune_job(FinetuneRequest(tiny_base(), FinetuneSettings(checkpoint_dir=str(locked / "sub")))))


def test_checkpoint_folder_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="cannot write checkpoints"):
        settings = FinetuneSettings(checkpoint_dir=str(tmp_path / "file" / "sub"))
        drain(finetune_job(FinetuneRequest(tiny_base(), settings)))




def test_an_unaligned_pair_of_two_fields_is_refused():
    from napari_midnet.training.pairs import make_pair

    a = (sem_like((128, 128), seed=1) * 255).astype(np.uint8)
    b = (sem_like((128, 128), seed=2) * 255).astype(np.uint8)
    with pytest.raises(PairError, match="do not show the same field"):
        make_pair("x", a, b, align=False)
    make_pair("y", *blurred_pair(0), align=False)  # one field, blurred: accepted


def test_sizes_are_written_width_by_height_as_everywhere_else():
    from napari_midnet.training.pairs import make_pair

    a = (sem_like((100, 128), seed=1) * 255).astype(np.uint8)
    with pytest.raises(PairError, match=r"blurry \(128 x 100 px\) and sharp \(128 x 96 px\)"):
        make_pair("x", a, a[:96], align=False)


def test_a_model_that_validates_worse_is_not_called_an_improvement():
    from napari_midnet.training.finetune import FinetuneOutcome

    def outcome(before, after):
        return FinetuneOutcome(None, None, {"metrics": {"before": {"psnr": before, "ssim": 0.8},
                                                        "after": {"psnr": after, "ssim": 0.8},
                                                        "input": {"psnr": 18.0, "ssim": 0.5}}})

    assert outcome(20.0, 22.0).improved and not outcome(22.0, 20.0).improved
    assert "worse" not in outcome(20.0, 22.0).summary()
    assert "worse than the model it started from by 2.00 dB" in outcome(22.0, 20.0).summary()
    assert FinetuneOutcome(None, None, {}).improved  # nothing validated: nothing to hold it back
    assert FinetuneOutcome(None, None, {}).summary() == ""


def test_cli_and_dock_give_the_same_split_and_card_for_the_same_data(tmp_path, weights, capsys):
    """The dock trains on layers, the CLI on files; one job decides the split and the card."""
    from skimage import io

    from napari_midnet.cli import main

    pairs = [blurred_pair(i) for i in range(2)]
    for kind in ("blurry", "sharp"):
        (tmp_path / "pairs" / kind).mkdir(parents=True)
    for index, (blurry, sharp) in enumerate(pairs):
        io.imsave(tmp_path / "pairs" / "blurry" / f"f{index}.png", blurry, check_contrast=False)
        io.imsave(tmp_path / "pairs" / "sharp" / f"f{index}.png", sharp, check_contrast=False)
    common = {"iterations": 3, "crop": 48, "batch": 2, "lr": 1e-3}
    assert main(["train", "--pairs", str(tmp_path / "pairs"), "--init", str(weights), "--iterations", "3",
                 "--crop", "48", "--batch", "2", "--lr", "1e-3", "--checkpoints", str(tmp_path / "a"),
                 "--out", str(tmp_path / "cli.safetensors")]) == 0
    capsys.readouterr()
    cli_card = load_model(tmp_path / "cli.safetensors").card
    base = load_model(weights)
    sources = [TrainingSource(f"f{i}", sharp, blurry, origin=f"layer f{i}") for i, (blurry, sharp) in enumerate(pairs)]
    settings = FinetuneSettings(checkpoint_dir=str(tmp_path / "b"), **common)
    _, outcome = drain(finetune_job(FinetuneRequest(base, settings, sources)))
    dock_card = outcome.card
    assert cli_card["training"]["validation"] == dock_card["training"]["validation"] == ["f1"]
    assert cli_card["training"]["train"] == dock_card["training"]["train"] == ["f0"]
    assert set(cli_card) - {"format", "architecture", "created", "sha256"} == set(dock_card)
    assert set(cli_card["training"]) == set(dock_card["training"])
    assert cli_card["metrics"]["before"] == pytest.approx(dock_card["metrics"]["before"])
    assert "napari-midnet train --pairs" in cli_card["training"]["command"]


def test_a_resumed_run_compares_with_the_base_model_not_with_itself(tmp_path):
    blurry, sharp = blurred_pair(0, shape=(256, 192))
    settings = FinetuneSettings(iterations=30, lr=3e-3, crop=48, batch=2, seed=1, align=False,
                                checkpoint_dir=str(tmp_path))
    sources = [TrainingSource("only", sharp, blurry)]
    calls = iter(range(10**6))
    stop_after_8 = lambda: next(calls) >= 9  # noqa: E731  (asked once before the image is prepared, then per step)
    _, first = drain(finetune_job(FinetuneRequest(tiny_base(), settings, sources, should_stop=stop_after_8)))
    assert first.result.stopped and first.result.step == 8
    _, resumed = drain(finetune_job(FinetuneRequest(tiny_base(), settings, sources, resume=first.result.checkpoint)))
    assert resumed.result.step == 30
    assert resumed.card["metrics"]["before"]["psnr"] == first.card["metrics"]["before"]["psnr"]


def test_an_unalignable_pair_is_named_once(tmp_path):
    """Issue 19.9: the panel showed 'img: img: ...'."""
    blurry, other = ((sem_like((128, 128), seed=seed) * 255).astype(np.uint8) for seed in (1, 2))
    settings = FinetuneSettings(iterations=2, crop=48, batch=2, checkpoint_dir=str(tmp_path), align=False)
    events = []
    request = FinetuneRequest(tiny_base(), settings, [TrainingSource("img", other, blurry)])
    with pytest.raises(PairError, match="^img: blurry and sharp do not show"):
        drain_into(finetune_job(request), events.append)
    (note,) = [e for e in events if isinstance(e, PairAligned)]
    assert note.name == "img" and not note.description.startswith("img")


def test_the_run_record_follows_the_job_and_keeps_a_resumed_start_once():
    """Issue 19.10: the panel's state is data that the bar, plot and messages follow."""
    from pathlib import Path

    from napari_midnet.events import CheckpointSaved, TrainStep, Validated
    from napari_midnet.widgets.state import FinetuneRun, FinetuneState

    run = FinetuneRun()
    seen = []
    run.events.psnr.connect(seen.append)
    for event in (PairAligned("a", "shift 1, 2", 0.1, True), Validated(0, 20.0, 0.5), TrainStep(1, 10, 0.3, 1e-3),
                  TrainStep(2, 10, 0.2, 1e-3), CheckpointSaved(2, Path("ck.pt")),
                  Validated(0, 20.0, 0.5), TrainStep(2, 10, 0.2, 1e-3), TrainStep(3, 10, 0.1, 1e-3)):  # resumed
        run.record(event)
    assert run.losses == ((1, 0.3), (2, 0.2), (3, 0.1)) and run.psnr == ((0, 20.0),) and len(seen) == 1
    assert run.alignment == ("a: shift 1, 2",) and run.checkpoint == Path("ck.pt")
    assert run.state is FinetuneState.TRAINING and (run.step, run.iterations, run.loss) == (3, 10, 0.1)
    run.reset()
    assert run.losses == () and run.checkpoint is None and run.state is FinetuneState.IDLE
