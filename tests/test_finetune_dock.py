"""The Fine-tune panel in a real napari viewer (under Xvfb)."""

import os

import numpy as np
import pytest

from napari_midnet.models.loader import load_model

from .conftest import blurred_pair, sem_like, tiny_base

pytestmark = pytest.mark.gui

WAIT_MS = 180_000


@pytest.fixture
def panel(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget("napari-midnet", "MIDNet Deblur")
    name = dock.registry.add_loaded(tiny_base(), "tiny")
    dock.deblur.select_model(name)
    panel = dock.finetune
    panel.update_enabled()
    panel.form.checkpoint_edit.setText(str(tmp_path / "checkpoints"))
    panel.form.crop_spin.setValue(48)
    panel.form.batch_spin.setValue(2)
    yield viewer, dock, panel
    dock.shutdown()


def test_blurry_and_sharp_follow_the_samples_roles_when_the_dock_opens_first(panel):
    """Issue 34.8: the layers came in as sharp, then blurry, and Blurry took the sharp one."""
    viewer, _, panel = panel
    viewer.open_sample("napari-midnet", "sem")
    assert panel.data.blurry_combo.currentText() == "SEM blurry"
    assert panel.data.sharp_combo.currentText() == "SEM sharp"


def add_shifted_pairs(viewer, panel, seeds):
    """Blurry/sharp layer pairs (the sharp one shifted, as a refocus does), added to the list."""
    for seed in seeds:
        blurry, sharp = blurred_pair(seed, offset=(1.5, 0.5))
        viewer.add_image(blurry, name=f"blurry{seed}")
        viewer.add_image(sharp, name=f"sharp{seed}")
        panel.data.blurry_combo.setCurrentText(f"blurry{seed}")
        panel.data.sharp_combo.setCurrentText(f"sharp{seed}")
        panel.data.add_pair()


@pytest.mark.slow
def test_finetune_from_two_layers_stop_resume_finish_and_deblur(panel, qtbot):
    viewer, dock, panel = panel
    add_shifted_pairs(viewer, panel, (0, 1))
    assert panel.data.entry_list.count() == 2
    panel.form.iterations_spin.setValue(40)
    panel.run_button.click()
    assert not dock.deblur.deblur_button.isEnabled() and "fine-tuning" in dock.deblur.deblur_button.toolTip()
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
    validated = [step for step, _ in panel.run.psnr]
    assert validated == sorted(set(validated)) and validated[0] == 0  # step 0 once, not again on Resume
    lines = panel.alignment.text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("blurry0: shift")  # one line a pair: Resume did not re-align
    assert len(panel.run.psnr) >= 2 and panel.plot.losses
    assert dock.settings.model == "fine-tuned"
    assert "fine-tuned" in [dock.deblur.model_combo.itemText(i) for i in range(dock.deblur.model_combo.count())]
    assert "fine-tuned from tiny" in dock.deblur.model_combo.toolTip()  # the chooser says what it is

    viewer.layers.selection.active = viewer.layers["blurry0"]
    dock.deblur.deblur_button.click()
    qtbot.waitUntil(lambda: "blurry0 deblurred" in viewer.layers, timeout=WAIT_MS)
    assert viewer.layers["blurry0 deblurred"].metadata["midnet"]["model"] == "fine-tuned"

    out = panel.form.checkpoint_edit.text() + "/model.safetensors"
    panel.save(out)
    qtbot.waitUntil(lambda: os.path.exists(out), timeout=WAIT_MS)
    card = load_model(out).card
    assert card["base"]["name"] == "tiny" and card["training"]["iterations"] == 40
    assert [i["origin"] for i in card["training"]["images"]] == ["layer blurry0", "layer blurry1"]
    assert {"before", "after"} <= set(card["metrics"])


def test_finetune_from_sharp_only_layers(panel, qtbot):
    viewer, dock, panel = panel
    for seed in (0, 1):
        viewer.add_image((sem_like((128, 128), seed=seed) * 255).astype(np.uint8), name=f"sharp{seed}")
        panel.data.sharp_combo.setCurrentText(f"sharp{seed}")
        panel.data.add_sharp_only()
    panel.form.iterations_spin.setValue(4)
    panel.run_button.click()
    qtbot.waitUntil(lambda: not dock.status.busy and panel.run.outcome is not None, timeout=WAIT_MS)
    assert panel.run.outcome.card["training"]["images"][0]["pair"] is False
    assert dock.settings.model == "fine-tuned"


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
        panel.data.sharp_combo.setCurrentText("tiny image")
        panel.data.add_sharp_only()
        panel.form.crop_spin.setValue(128)
        panel.run_button.click()
        qtbot.waitUntil(lambda: any("smaller than the crop" in n for n in seen), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: not dock.status.busy, timeout=WAIT_MS)
        panel.data.blurry_combo.setCurrentText("tiny image")
        panel.data.add_pair()
        assert any("two different layers" in n for n in seen)
    finally:
        notification_manager.notification_ready.disconnect(callback)


def test_one_failed_pair_is_one_notification(panel, qtbot):
    """Issue 34.11: a pair of two fields gave a warning and then the error."""
    from napari.utils.notifications import notification_manager

    viewer, dock, panel = panel
    viewer.add_image((sem_like((128, 128), seed=1) * 255).astype(np.uint8), name="field a")
    viewer.add_image((sem_like((128, 128), seed=2) * 255).astype(np.uint8), name="field b")
    panel.data.blurry_combo.setCurrentText("field a")
    panel.data.sharp_combo.setCurrentText("field b")
    panel.data.add_pair()
    panel.form.align_check.setChecked(False)
    seen = []
    callback = lambda event: seen.append(str(event.message))  # noqa: E731
    notification_manager.notification_ready.connect(callback)
    try:
        panel.run_button.click()
        qtbot.waitUntil(lambda: any("do not show the same field" in n for n in seen), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: not dock.status.busy, timeout=WAIT_MS)
        qtbot.wait(200)
    finally:
        notification_manager.notification_ready.disconnect(callback)
    assert len(seen) == 1, seen


def start_endless_training(viewer, panel, qtbot):
    """A run of 100000 steps on one pair, interrupted by the test once three steps are done."""
    blurry, sharp = blurred_pair(0)
    viewer.add_image(blurry, name="b")
    viewer.add_image(sharp, name="s")
    panel.data.blurry_combo.setCurrentText("b")
    panel.data.sharp_combo.setCurrentText("s")
    panel.data.add_pair()
    panel.form.align_check.setChecked(False)
    panel.form.iterations_spin.setValue(100000)
    panel.run_button.click()
    qtbot.waitUntil(lambda: len(panel.run.losses) >= 3, timeout=WAIT_MS)


def test_closing_mid_training_returns_at_once_and_leaves_a_resumable_checkpoint(panel, qtbot, tmp_path):
    import time

    import torch
    from qtpy.QtCore import QThreadPool

    viewer, dock, panel = panel
    start_endless_training(viewer, panel, qtbot)
    start = time.perf_counter()
    dock.shutdown()  # what closing the dock does: the run ends in the background
    assert time.perf_counter() - start < 0.1  # was 2.1 s: the GUI thread waited for the worker
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not dock.status.busy, timeout=WAIT_MS)
    state = torch.load(tmp_path / "checkpoints" / "checkpoint.pt", weights_only=True)
    assert 3 <= state["step"] < 100000


def test_napari_quitting_mid_training_leaves_a_checkpoint(panel, qtbot, tmp_path):
    """napari's aboutToQuit aborts every worker (superqt's await_workers) before a plugin hears
    of it; the training generator must still write its checkpoint."""
    import torch
    from napari.qt.threading import WorkerBase

    viewer, dock, panel = panel
    start_endless_training(viewer, panel, qtbot)
    WorkerBase.await_workers()  # exactly what napari connects to QApplication.aboutToQuit
    state = torch.load(tmp_path / "checkpoints" / "checkpoint.pt", weights_only=True)
    assert 3 <= state["step"] < 100000


def test_blurry_and_sharp_start_on_different_layers(panel):
    viewer, _, panel = panel
    viewer.add_image(np.zeros((32, 32), np.uint8), name="frame blurry")
    viewer.add_image(np.zeros((32, 32), np.uint8), name="frame sharp")
    viewer.add_image(np.zeros((32, 32), np.uint8), name="other")
    panel.data.blurry_combo.setCurrentText("frame blurry")
    assert panel.data.sharp_combo.currentText() == "frame sharp"
    panel.data.blurry_combo.setCurrentText("frame sharp")
    assert panel.data.sharp_combo.currentText() not in ("frame sharp", "")


def test_the_pair_defaults_after_opening_the_sample(make_napari_viewer):
    """Issue 19.9: after File > Open Sample, Blurry and Sharp both started on one layer."""
    from napari_midnet.io.sample_data import sem_sample

    viewer = make_napari_viewer()
    for data, kwargs, _ in sem_sample():
        viewer.add_image(data, **kwargs)
    _, dock = viewer.window.add_plugin_dock_widget("napari-midnet", "MIDNet Deblur")
    try:
        assert dock.finetune.data.blurry_combo.currentText() == "SEM blurry"
        assert dock.finetune.data.sharp_combo.currentText() == "SEM sharp"
    finally:
        dock.shutdown()


@pytest.mark.slow
def test_stop_while_aligning_ends_before_training(panel, qtbot):
    viewer, dock, panel = panel
    add_shifted_pairs(viewer, panel, (0, 1, 2))
    panel.run_button.click()
    panel.stop_button.click()
    qtbot.waitUntil(lambda: not dock.status.busy, timeout=WAIT_MS)
    assert "before training began" in panel.message.text() and not panel.run.losses


def test_a_checkpoint_left_by_an_earlier_session_is_offered(panel, qtbot, tmp_path):
    """Issue 19.8: after napari restarts, its checkpoint could be resumed from the CLI only."""
    viewer, dock, panel = panel
    folder = tmp_path / "earlier"
    folder.mkdir()
    (folder / "checkpoint.pt").write_bytes(b"a checkpoint")
    assert not panel.resume_button.isEnabled()
    panel.form.checkpoint_edit.setText(str(folder))
    panel.form.checkpoint_edit.editingFinished.emit()
    assert panel.resume_button.isEnabled() and "earlier run" in panel.message.text()
    assert panel.run.checkpoint == folder / "checkpoint.pt"
    panel.form.checkpoint_edit.setText(str(tmp_path / "empty"))
    panel.form.checkpoint_edit.editingFinished.emit()
    assert not panel.resume_button.isEnabled()


def test_the_validation_label_is_not_clipped(qtbot):
    """Issue 19.8: 'val PSNR (dB)' ran past the plot's right edge."""
    from qtpy.QtGui import QColor

    from napari_midnet.widgets.training_plot import TrainingPlot

    plot = TrainingPlot()
    qtbot.addWidget(plot)
    plot.resize(260, 140)
    image = plot.grab().toImage()
    background = QColor(image.pixel(image.width() // 2, 8))
    inked = [x for x in range(image.width()) for y in range(14) if QColor(image.pixel(x, y)) != background]
    assert inked and max(inked) < image.width() - 2  # the label ends inside the widget
