"""Fine-tuning: the core job on a synthetic task, and the Fine-tune panel in a real viewer."""

import os

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, shift

from napari_midnet.events import PairAligned
from napari_midnet.finetune import FinetuneSettings, TrainingSource, finetune_job
from napari_midnet.model import MIDNet, ModelConfig
from napari_midnet.pairs import PairError
from napari_midnet.weights import LoadedModel, load_model

from .conftest import drain, sem_like

TINY = ModelConfig(width=8, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1))


def tiny_base():
    import torch

    torch.manual_seed(0)
    return LoadedModel(MIDNet(TINY).eval(), "tiny", {"preset": "tiny", "trained": True}, "0" * 64)


def blurred_pair(seed, shape=(160, 192), offset=(0.0, 0.0)):
    """A microscope's own blur (sigma 1.5), re-acquired with a small shift, as uint8."""
    sharp = sem_like(shape, seed=seed)
    blurry = gaussian_filter(sharp, 1.5) + np.random.default_rng(seed).normal(0, 0.01, shape)
    moved = shift(sharp, offset, order=3, mode="reflect")
    return (np.clip(blurry, 0, 1) * 255).astype(np.uint8), (np.clip(moved, 0, 1) * 255).astype(np.uint8)


def test_finetuning_beats_the_base_on_a_synthetic_task(tmp_path):
    sources = [TrainingSource(f"p{i}", *reversed(blurred_pair(i, offset=(2.5, -1.5)))) for i in range(2)]
    settings = FinetuneSettings(iterations=60, lr=2e-3, crop=48, batch=4, seed=5, checkpoint_dir=str(tmp_path))
    base = tiny_base()
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    events, outcome = drain(finetune_job(base, sources, settings))
    aligned = [e for e in events if isinstance(e, PairAligned)]
    assert len(aligned) == 2 and all(e.ok and e.residual < 0.5 for e in aligned)
    metrics = outcome.card["metrics"]
    assert metrics["after"]["psnr"] > metrics["before"]["psnr"] + 1.0
    assert outcome.card["training"]["validation"] == ["p1"]
    assert all((base.model.state_dict()[k] == v).all() for k, v in before.items())  # base untouched


def test_single_image_validates_on_a_disjoint_strip(tmp_path):
    blurry, sharp = blurred_pair(0, shape=(256, 192))
    settings = FinetuneSettings(iterations=2, crop=48, batch=2, checkpoint_dir=str(tmp_path), align=False)
    _, outcome = drain(finetune_job(tiny_base(), [TrainingSource("only", sharp, blurry)], settings))
    assert outcome.card["training"]["validation"] == ["only (bottom 25%)"]


def test_the_fine_tuned_model_restores_as_its_saved_file_will(tmp_path):
    """Deblurring with the result in napari and with the file it saves give the same image: both
    pool channel statistics over the window that the training crop implies."""
    import torch

    from napari_midnet.weights import save_weights

    blurry, sharp = blurred_pair(0, shape=(256, 192))
    settings = FinetuneSettings(iterations=4, lr=2e-3, crop=48, batch=2, checkpoint_dir=str(tmp_path), align=False)
    _, outcome = drain(finetune_job(tiny_base(), [TrainingSource("only", sharp, blurry)], settings))
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
        drain(finetune_job(tiny_base(), sources, settings))


def test_unrelated_pair_does_not_align(tmp_path):
    a = (sem_like((192, 192), seed=1) * 255).astype(np.uint8)
    b = (sem_like((192, 192), seed=2) * 255).astype(np.uint8)
    with pytest.raises(PairError, match="does not align|no consistent|too few"):
        drain(finetune_job(tiny_base(), [TrainingSource("x", b, a)], FinetuneSettings(checkpoint_dir=str(tmp_path))))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_checkpoint_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ValueError, match="cannot write checkpoints"):
        drain(finetune_job(tiny_base(), [], FinetuneSettings(checkpoint_dir=str(locked / "sub"))))


def test_checkpoint_folder_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="cannot write checkpoints"):
        drain(finetune_job(tiny_base(), [], FinetuneSettings(checkpoint_dir=str(tmp_path / "file" / "sub"))))


# --- the panel in a real viewer -----------------------------------------------------------------

WAIT_MS = 180_000


@pytest.fixture
def panel(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget("napari-midnet", "MIDNet Deblur")
    name = dock.registry.add_loaded(tiny_base(), "tiny")
    dock.deblur.select_model(name)
    panel = dock.finetune
    panel.update_enabled()
    panel.checkpoint_edit.setText(str(tmp_path / "checkpoints"))
    panel.crop_spin.setValue(48)
    panel.batch_spin.setValue(2)
    yield viewer, dock, panel
    dock.shutdown()


@pytest.mark.gui
@pytest.mark.slow
def test_finetune_from_two_layers_stop_resume_finish_and_deblur(panel, qtbot):
    viewer, dock, panel = panel
    for seed in (0, 1):
        blurry, sharp = blurred_pair(seed, offset=(1.5, 0.5))
        viewer.add_image(blurry, name=f"blurry{seed}")
        viewer.add_image(sharp, name=f"sharp{seed}")
        panel.blurry_combo.setCurrentText(f"blurry{seed}")
        panel.sharp_combo.setCurrentText(f"sharp{seed}")
        panel.add_pair()
    assert panel.entry_list.count() == 2
    panel.iterations_spin.setValue(40)
    panel.run_button.click()
    assert not dock.deblur.deblur_button.isEnabled() and "finetune" in dock.deblur.deblur_button.toolTip()
    qtbot.waitUntil(lambda: len(panel.run.losses) >= 5, timeout=WAIT_MS)
    assert panel.progress_bar.value() > 0 and "ETA" in panel.message.text()
    assert "blurry0: shift" in panel.alignment.text()
    panel.stop_button.click()
    qtbot.waitUntil(lambda: not dock.status.busy, timeout=WAIT_MS)
    assert panel.run.checkpoint is not None and panel.run.checkpoint.is_file()
    stopped_at = panel.run.losses[-1][0]
    assert stopped_at < 40 and panel.resume_button.isEnabled()
    panel.resume_button.click()
    qtbot.waitUntil(lambda: not dock.status.busy and panel.run.outcome is not None, timeout=WAIT_MS)
    steps = [step for step, _ in panel.run.losses]
    assert steps == list(range(1, 41))  # resumed where it stopped, no step lost or repeated
    assert len(panel.run.psnr) >= 2 and panel.plot.losses
    assert dock.settings.model == "fine-tuned"
    assert "fine-tuned" in [dock.deblur.model_combo.itemText(i) for i in range(dock.deblur.model_combo.count())]

    viewer.layers.selection.active = viewer.layers["blurry0"]
    dock.deblur.deblur_button.click()
    qtbot.waitUntil(lambda: "blurry0 deblurred" in viewer.layers, timeout=WAIT_MS)
    assert viewer.layers["blurry0 deblurred"].metadata["midnet"]["model"] == "fine-tuned"

    out = panel.checkpoint_edit.text() + "/model.safetensors"
    panel.save(out)
    qtbot.waitUntil(lambda: os.path.exists(out), timeout=WAIT_MS)
    card = load_model(out).card
    assert card["base"]["name"] == "tiny" and card["training"]["iterations"] == 40
    assert [i["origin"] for i in card["training"]["images"]] == ["layer blurry0", "layer blurry1"]
    assert {"before", "after"} <= set(card["metrics"])


@pytest.mark.gui
def test_finetune_from_sharp_only_layers(panel, qtbot):
    viewer, dock, panel = panel
    for seed in (0, 1):
        viewer.add_image((sem_like((128, 128), seed=seed) * 255).astype(np.uint8), name=f"sharp{seed}")
        panel.sharp_combo.setCurrentText(f"sharp{seed}")
        panel.add_sharp_only()
    panel.iterations_spin.setValue(4)
    panel.run_button.click()
    qtbot.waitUntil(lambda: not dock.status.busy and panel.run.outcome is not None, timeout=WAIT_MS)
    assert panel.run.outcome.card["training"]["images"][0]["pair"] is False
    assert dock.settings.model == "fine-tuned"


@pytest.mark.gui
def test_finetune_errors_are_notifications(panel, qtbot):
    from napari.utils.notifications import notification_manager

    viewer, dock, panel = panel
    seen = []
    callback = lambda event: seen.append(str(event.message))  # noqa: E731
    notification_manager.notification_ready.connect(callback)
    try:
        panel.run_button.click()
        assert any("Add at least one pair" in n for n in seen)
        viewer.add_image(np.zeros((64, 64), np.uint8), name="tiny image")
        panel.sharp_combo.setCurrentText("tiny image")
        panel.add_sharp_only()
        panel.crop_spin.setValue(128)
        panel.run_button.click()
        qtbot.waitUntil(lambda: any("smaller than the crop" in n for n in seen), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: not dock.status.busy, timeout=WAIT_MS)
        panel.blurry_combo.setCurrentText("tiny image")
        panel.add_pair()
        assert any("two different layers" in n for n in seen)
    finally:
        notification_manager.notification_ready.disconnect(callback)


@pytest.mark.gui
def test_closing_mid_training_leaves_a_resumable_checkpoint(panel, qtbot, tmp_path):
    import torch
    from qtpy.QtCore import QThreadPool

    viewer, dock, panel = panel
    blurry, sharp = blurred_pair(0)
    viewer.add_image(blurry, name="b")
    viewer.add_image(sharp, name="s")
    panel.blurry_combo.setCurrentText("b")
    panel.sharp_combo.setCurrentText("s")
    panel.add_pair()
    panel.align_check.setChecked(False)
    panel.iterations_spin.setValue(100000)
    panel.run_button.click()
    qtbot.waitUntil(lambda: len(panel.run.losses) >= 3, timeout=WAIT_MS)
    dock.shutdown()  # what closing the dock or napari does: returns once the thread has ended
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    qtbot.waitUntil(lambda: not dock.status.busy, timeout=WAIT_MS)
    state = torch.load(tmp_path / "checkpoints" / "checkpoint.pt", weights_only=True)
    assert 3 <= state["step"] < 100000
