"""The dock widget in a real napari viewer (under Xvfb): deblur, cancel, compare, readouts, errors."""

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_midnet.jobs.readouts import compute_readout
from napari_midnet.models.config import DEFAULT_MODEL, PRESETS
from napari_midnet.restoration.tiling import TILE
from napari_midnet.widgets.compare_widget import camera_of, grid_of
from napari_midnet.widgets.deblur_widget import LOAD_WEIGHTS

from .conftest import sem_like

pytestmark = pytest.mark.gui

WAIT_MS = 120_000


@pytest.fixture
def notifications():
    from napari.utils.notifications import notification_manager

    seen = []
    callback = lambda event: seen.append(str(event.message if hasattr(event, "message") else event))  # noqa: E731
    notification_manager.notification_ready.connect(callback)
    yield seen
    notification_manager.notification_ready.disconnect(callback)


@pytest.fixture
def dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-midnet", "MIDNet Deblur")
    qtbot.waitUntil(lambda: widget.deblur.device_label.text().startswith("→"), timeout=WAIT_MS)
    yield viewer, widget
    widget.shutdown()


def click(qtbot, button):
    from qtpy.QtCore import Qt

    assert button.isEnabled(), button.toolTip()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def wait_idle(qtbot, widget):
    qtbot.waitUntil(lambda: not widget.status.busy, timeout=WAIT_MS)


@pytest.mark.slow
def test_deblur_the_sample_adds_a_layer_and_leaves_the_source_alone(dock, qtbot):
    viewer, widget = dock
    viewer.open_sample("napari-midnet", "sem")
    source = viewer.layers["SEM blurry"]
    viewer.layers.selection.active = source
    assert widget.deblur.layer_combo.currentText() == "SEM blurry"  # follows the active layer
    before = source.data.copy()
    click(qtbot, widget.deblur.deblur_button)
    assert not widget.deblur.deblur_button.isEnabled() and "running" in widget.deblur.deblur_button.toolTip()
    qtbot.waitUntil(lambda: "SEM blurry deblurred" in viewer.layers, timeout=WAIT_MS)
    wait_idle(qtbot, widget)
    result = viewer.layers["SEM blurry deblurred"]
    assert np.array_equal(source.data, before)
    assert result.data.dtype == source.data.dtype and result.data.shape == source.data.shape
    assert np.allclose(result.scale, source.scale) and np.allclose(result.translate, source.translate)
    assert result.units == source.units
    assert result.colormap.name == source.colormap.name
    assert tuple(result.contrast_limits) == tuple(source.contrast_limits)
    meta = result.metadata["midnet"]
    assert meta["model"] == DEFAULT_MODEL and len(meta["weights_sha256"]) == 64
    assert meta["blur"]["source"].startswith("estimated") and meta["blur"]["slices"][0]["sigma_major_px"] > 2
    assert {"tile", "overlap", "device", "seconds"} <= set(meta)
    assert meta["tile"] == TILE and meta["device"] == "cpu"  # the tile and device that ran, not "auto"
    assert viewer.layers[-1] is result  # on top: what the canvas shows
    assert np.array_equal(result.data[691:], source.data[691:])  # databar untouched

    # readouts against the sharp reference equal the core's numbers
    widget.compare.reference_combo.setCurrentText("SEM sharp")
    qtbot.waitUntil(lambda: widget.compare.readout is not None and widget.compare.readout.result_psnr is not None,
                    timeout=WAIT_MS)
    expected = compute_readout(source.data, result.data, viewer.layers["SEM sharp"].data)
    shown = widget.compare.readout
    assert shown.source_psnr == pytest.approx(expected.source_psnr)
    assert shown.result_ssim == pytest.approx(expected.result_ssim)
    assert shown.result_sharpness == pytest.approx(expected.result_sharpness)
    assert widget.compare.table.item(1, 1).text() == f"{expected.result_psnr:.3f}"

    # side by side and back
    order = [layer.name for layer in viewer.layers]
    click(qtbot, widget.compare.compare_button)
    assert grid_of(viewer).enabled
    assert [layer.name for layer in viewer.layers][:2] == ["SEM blurry", "SEM blurry deblurred"]  # cells 1, 2
    assert [layer.name for layer in viewer.layers if layer.visible] == ["SEM blurry", "SEM blurry deblurred"]
    click(qtbot, widget.compare.compare_button)
    assert not grid_of(viewer).enabled and viewer.layers["SEM sharp"].visible
    assert [layer.name for layer in viewer.layers] == order


def start_long_deblur(viewer, widget, qtbot):
    """A 1024^2 image in 64-px tiles: long enough to interrupt mid-run."""
    viewer.add_image((sem_like((1024, 1024)) * 255).astype(np.uint8), name="big")
    widget.deblur.tile_spin.setValue(64)
    widget.deblur.overlap_spin.setValue(8)
    click(qtbot, widget.deblur.deblur_button)
    qtbot.waitUntil(lambda: widget.deblur.progress_bar.value() > 0, timeout=WAIT_MS)


def test_cancel_stops_within_a_tile_and_adds_nothing(dock, qtbot, notifications):
    viewer, widget = dock
    start_long_deblur(viewer, widget, qtbot)
    click(qtbot, widget.deblur.cancel_button)
    wait_idle(qtbot, widget)
    assert "big deblurred" not in viewer.layers
    assert widget.deblur.progress_bar.value() < 100
    assert any("cancelled" in n for n in notifications)
    qtbot.wait(200)  # let any late progress signal arrive: it must not overwrite the last word
    assert widget.deblur.message.text() == "Cancelled; no layer was added."


def test_stack_current_slice_only(dock, qtbot):
    viewer, widget = dock
    stack = np.stack([np.full((48, 64), 40 * i, np.uint8) + np.arange(64, dtype=np.uint8) for i in range(3)])
    layer = viewer.add_image(stack, name="stack", scale=(2.0, 0.5, 0.5))
    viewer.dims.set_current_step(0, 2)
    widget.deblur.stack_combo.setCurrentText("current slice only")
    widget.deblur.ensemble_check.setChecked(True)
    click(qtbot, widget.deblur.deblur_button)
    qtbot.waitUntil(lambda: "stack deblurred" in viewer.layers, timeout=WAIT_MS)
    result = viewer.layers["stack deblurred"]
    assert result.data.shape == (1, 48, 64) and tuple(result.scale) == (2.0, 0.5, 0.5)
    assert tuple(result.translate) == (4.0, 0.0, 0.0)  # it sits at z = 2, not at every z
    assert result.metadata["midnet"]["slice"] == [2] and result.metadata["midnet"]["ensemble"] is True
    assert layer.data.shape == (3, 48, 64)
    wait_idle(qtbot, widget)
    qtbot.waitUntil(lambda: widget.compare.readout is not None, timeout=WAIT_MS)
    viewer.dims.set_current_step(0, 0)  # another slice: Compare says so instead of measuring a mismatch
    qtbot.waitUntil(lambda: "holds slice 2 only" in widget.compare.alignment.text(), timeout=WAIT_MS)
    click(qtbot, widget.compare.compare_button)  # issue 34.9: side by side is refused there too
    assert not widget.compare.compare_button.isChecked() and not grid_of(viewer).enabled


def test_back_to_the_normal_view_keeps_the_users_camera(dock, qtbot):
    """Issue 34.9: the camera was reset (zoom 5.8 -> 1.15, centre moved)."""
    viewer, widget = dock
    small_image(viewer)
    widget.deblur.strength_slider.setValue(0)  # quick: the input passes through
    click(qtbot, widget.deblur.deblur_button)
    qtbot.waitUntil(lambda: "img deblurred" in viewer.layers, timeout=WAIT_MS)
    wait_idle(qtbot, widget)
    camera = camera_of(viewer)
    camera.zoom, camera.center = 5.8, (0.0, 30.0, 20.0)
    before = (camera.zoom, *camera.center)
    click(qtbot, widget.compare.compare_button)
    assert grid_of(viewer).enabled
    click(qtbot, widget.compare.compare_button)
    assert (camera.zoom, *camera.center) == pytest.approx(before)


def test_no_image_layer_is_a_notification(dock, qtbot, notifications):
    viewer, widget = dock
    click(qtbot, widget.deblur.deblur_button)
    assert any("no image layer" in n for n in notifications)
    viewer.add_labels(np.zeros((32, 32), np.uint8), name="cells")
    click(qtbot, widget.deblur.deblur_button)
    assert any("'cells' is a Labels layer" in n for n in notifications), notifications
    assert not widget.status.busy


def test_rgb_layer_is_refused(dock, qtbot, notifications):
    viewer, widget = dock
    viewer.add_image(np.zeros((32, 32, 3), np.uint8), name="photo", rgb=True)
    click(qtbot, widget.deblur.deblur_button)
    assert any("'photo' is an RGB layer" in n for n in notifications)


def test_invalid_weights_file_is_a_notification(dock, qtbot, notifications, tmp_path):
    _, widget = dock
    bad = tmp_path / "broken.safetensors"
    bad.write_text("not weights at all")
    widget.deblur.load_weights(str(bad))
    qtbot.waitUntil(lambda: any("Cannot use these weights" in n for n in notifications), timeout=WAIT_MS)
    assert "broken.safetensors" not in widget.registry.names()
    assert widget.settings.model == DEFAULT_MODEL


def test_loading_valid_weights_selects_them(dock, qtbot, tmp_path):
    from napari_midnet.models.nets import build_model
    from napari_midnet.models.weights import save_weights

    _, widget = dock
    save_weights(build_model("midnet-s"), tmp_path / "mine.safetensors", {"trained": True})
    widget.deblur.load_weights(str(tmp_path / "mine.safetensors"))
    qtbot.waitUntil(lambda: widget.settings.model == "mine.safetensors", timeout=WAIT_MS)
    assert widget.deblur.model_combo.currentText() == "mine.safetensors"


def test_the_model_chooser_says_what_each_model_is(dock, qtbot, tmp_path):
    from napari_midnet.models.nets import build_model
    from napari_midnet.models.weights import save_weights

    _, widget = dock
    combo = widget.deblur.model_combo
    tips = {combo.itemText(i): " ".join(combo.itemData(i, Qt.ItemDataRole.ToolTipRole).split())
            for i in range(combo.count())}
    assert all(tips[name] == preset.summary for name, preset in PRESETS.items())
    assert "bioimage.io" in tips[LOAD_WEIGHTS]
    widget.deblur.select_model("midnet-hqs")
    assert " ".join(combo.toolTip().split()) == PRESETS["midnet-hqs"].summary
    card = {"trained": True, "preset": "midnet-s-psf"}
    save_weights(build_model("midnet-s-psf"), tmp_path / "mine.safetensors", card)
    widget.deblur.load_weights(str(tmp_path / "mine.safetensors"))
    qtbot.waitUntil(lambda: widget.settings.model == "mine.safetensors", timeout=WAIT_MS)
    assert " ".join(combo.toolTip().split()) == "weights: MIDNET, kernel-aware, trained as midnet-s-psf"


def test_out_of_memory_suggests_a_smaller_tile(dock, notifications):
    _, widget = dock
    widget.deblur._on_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert any("smaller tile" in n for n in notifications)


def small_image(viewer, name="img"):
    from .conftest import sem_like

    return viewer.add_image((sem_like((96, 96)) * 255).astype(np.uint8), name=name)


def test_status_ends_on_done_and_the_chooser_stays_on_the_source(dock, qtbot):
    viewer, widget = dock
    small_image(viewer)
    click(qtbot, widget.deblur.deblur_button)
    qtbot.waitUntil(lambda: "img deblurred" in viewer.layers, timeout=WAIT_MS)
    wait_idle(qtbot, widget)
    assert widget.deblur.message.text().startswith("Done in")
    assert viewer.layers.selection.active.name == "img deblurred"  # napari selects the new layer...
    assert widget.deblur.layer_combo.currentText() == "img"  # ...a second click still deblurs the source


def test_the_newest_result_is_on_top_and_the_chooser_keeps_the_source_after_a_preview(dock, qtbot):
    """Issue 34.1 and 34.3: a lower layer's result was put right above it, under an opaque upper
    layer; a preview became the chooser's next input."""
    viewer, widget = dock
    lower = small_image(viewer, "lower")
    small_image(viewer, "upper")
    viewer.layers.selection.active = lower
    assert widget.deblur.layer_combo.currentText() == "lower"
    click(qtbot, widget.deblur.preview_button)
    qtbot.waitUntil(lambda: "lower preview" in viewer.layers, timeout=WAIT_MS)
    wait_idle(qtbot, widget)
    assert viewer.layers.selection.active.name == "lower preview"  # napari activates it...
    assert widget.deblur.layer_combo.currentText() == "lower"  # ...the chooser stays on the source
    click(qtbot, widget.deblur.deblur_button)
    qtbot.waitUntil(lambda: "lower deblurred" in viewer.layers, timeout=WAIT_MS)
    wait_idle(qtbot, widget)
    assert viewer.layers[-1].name == "lower deblurred"
    viewer.layers.selection.active = viewer.layers["upper"]  # the user's own choice is followed
    assert widget.deblur.layer_combo.currentText() == "upper"


def test_the_dock_fits_the_width_napari_gives_it(dock):
    """Issue 34.4: napari gives the dock 466 px at 1280x800 to 1920x1080; its content needed 576."""
    viewer, widget = dock
    viewer.open_sample("napari-midnet", "sem")
    needed = widget.widget().minimumSizeHint().width() + widget.verticalScrollBar().sizeHint().width()
    assert needed <= 466, needed


def test_the_tile_box_steps_from_auto_to_the_automatic_tile_and_the_overlap_comes_back(dock):
    """Issue 34.11: "+" from auto jumped to 79; the overlap cut for a small tile stayed cut."""
    _, widget = dock
    deblur = widget.deblur
    deblur.tile_spin.stepBy(1)
    assert deblur.tile_spin.value() == TILE and widget.settings.tile == TILE
    deblur.tile_spin.setValue(deblur.tile_spin.minimum())
    deblur.overlap_spin.setValue(100)
    deblur.tile_spin.setValue(64)
    assert deblur.overlap_spin.value() == 31 and widget.settings.overlap == 31
    deblur.tile_spin.setValue(deblur.tile_spin.minimum())  # back to auto
    assert widget.settings.tile is None and deblur.overlap_spin.value() == 100 and widget.settings.overlap == 100


def test_an_untrained_preset_is_flagged_before_and_after_running(dock, qtbot, notifications):
    viewer, widget = dock
    small_image(viewer)
    assert not widget.deblur.model_note.isVisible() or not widget.deblur.model_note.text()
    widget.deblur.select_model("nafnet")
    assert "UNTRAINED" in widget.deblur.model_note.text()
    click(qtbot, widget.deblur.deblur_button)
    assert any("UNTRAINED" in n for n in notifications)
    qtbot.waitUntil(lambda: "img deblurred" in viewer.layers, timeout=WAIT_MS)
    wait_idle(qtbot, widget)
    assert "UNTRAINED" in widget.deblur.message.text() and "UNTRAINED" in widget.deblur.model_note.text()


def test_the_seed_architectures_are_offered_and_deblur(dock, qtbot):
    viewer, widget = dock
    small_image(viewer)
    combo = widget.deblur.model_combo
    assert {"srn", "mrn", "mstsgm", "meddeblur"} <= {combo.itemText(i) for i in range(combo.count())}
    widget.deblur.select_model("mrn")
    click(qtbot, widget.deblur.deblur_button)
    qtbot.waitUntil(lambda: "img deblurred" in viewer.layers, timeout=WAIT_MS)
    wait_idle(qtbot, widget)
    assert viewer.layers["img deblurred"].data.shape == viewer.layers["img"].data.shape


def test_compare_forgets_deleted_layers(dock, qtbot):
    viewer, widget = dock
    small_image(viewer)
    click(qtbot, widget.deblur.deblur_button)
    qtbot.waitUntil(lambda: widget.compare.readout is not None, timeout=WAIT_MS)
    assert widget.compare.table.item(0, 0) is not None
    widget.compare._measure()  # measuring again: no old numbers shown meanwhile (issue 34.11)
    assert "Measuring" in widget.compare.alignment.text() and widget.compare.table.item(0, 0) is None
    qtbot.waitUntil(lambda: widget.compare.table.item(0, 0) is not None, timeout=WAIT_MS)
    viewer.layers.remove("img deblurred")
    assert widget.compare.readout is None and widget.compare.table.item(0, 0) is None
    assert not widget.compare.compare_button.isEnabled() and "deleted" in widget.compare.alignment.text()


def test_closing_the_dock_with_its_x_stops_its_jobs_without_freezing(dock, qtbot, notifications):
    import time

    from qtpy.QtCore import QThreadPool

    viewer, widget = dock
    start_long_deblur(viewer, widget, qtbot)
    start = time.perf_counter()
    widget.shutdown()  # what the dock's x and remove_dock_widget start with (was 4.4 s and 8.2 s)
    assert time.perf_counter() - start < 0.1
    viewer.window.remove_dock_widget(widget)
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=60_000)
    qtbot.wait(200)
    assert "big deblurred" not in viewer.layers
    assert not [text for text in notifications if "cancelled" in text]  # issue 34.11: no popup from a closed dock


def test_deblur_with_a_labels_layer_selected_says_which_image_it_deblurs(dock, qtbot, notifications):
    """Issue 19.9: with a Labels layer active it ran on the chooser's image without a word."""
    viewer, widget = dock
    viewer.add_image((sem_like((64, 64)) * 255).astype(np.uint8), name="img")
    viewer.add_labels(np.zeros((64, 64), np.uint8), name="masks")
    assert widget.deblur.layer_combo.currentText() == "img"
    widget.deblur.start()
    assert any("'masks' is a Labels layer" in n and "'img'" in n for n in notifications)
    qtbot.waitUntil(lambda: "img deblurred" in viewer.layers, timeout=WAIT_MS)


def test_preview_deblurs_only_the_region_on_screen_of_a_lazy_layer(dock, qtbot):
    """Issue 18.4 (Preview): the visible part of a dask-backed layer, over the place it came from."""
    import dask.array as da

    from napari_midnet.events import drain
    from napari_midnet.jobs.deblur import deblur_job, preview_region

    viewer, widget = dock
    full = (sem_like((1024, 1024)) * 255).astype(np.uint8)
    viewer.add_image(da.from_array(full, chunks=256), name="lazy", contrast_limits=(0, 255))
    viewer.window.show()  # napari computes the corner pixels when it draws
    viewer.scene.camera.center = (600, 300)
    viewer.scene.camera.zoom = 8
    qtbot.waitUntil(lambda: np.ptp(np.asarray(viewer.layers["lazy"].corner_pixels)[:, -1]) < 500, timeout=10_000)
    layer = viewer.layers["lazy"]
    rows, cols = preview_region(np.asarray(layer.corner_pixels)[:, -2:], full.shape, widget.settings.overlap)
    assert rows.stop - rows.start < 600 and cols.stop - cols.start < 600  # a part, not the image
    widget.deblur.preview()
    qtbot.waitUntil(lambda: "lazy preview" in viewer.layers and not widget.status.busy, timeout=WAIT_MS)
    preview = viewer.layers["lazy preview"]
    assert tuple(preview.translate) == (rows.start, cols.start) and preview.data.shape == full[rows, cols].shape
    expected = drain(deblur_job(widget.registry.get(widget.settings.model), widget.settings, full[rows, cols])).data
    assert np.array_equal(preview.data, expected) and "Preview of" in widget.deblur.message.text()


def test_a_lazy_multiscale_layer_is_deblurred_streaming_into_an_ome_zarr(dock, qtbot, tmp_path, monkeypatch):
    """Issue 18.4: level 0 of a dask pyramid read by region; the result a lazy multiscale layer
    backed by an OME-Zarr in the per-user results folder, with the in-memory path's pixels."""
    import dask.array as da

    from napari_midnet.events import drain
    from napari_midnet.io import stores
    from napari_midnet.jobs import deblur
    from napari_midnet.jobs.deblur import deblur_job

    monkeypatch.setattr(stores, "results_folder", lambda: tmp_path / "results")
    monkeypatch.setattr(deblur, "results_folder", lambda: tmp_path / "results")
    viewer, widget = dock
    full = (sem_like((320, 2100)) * 255).astype(np.uint8)
    pyramid = [da.from_array(full, chunks=128), da.from_array(full[::2, ::2], chunks=128)]
    viewer.add_image(pyramid, name="mosaic", multiscale=True, contrast_limits=(0, 255))
    widget.deblur.layer_combo.setCurrentText("mosaic")
    widget.deblur.start()
    qtbot.waitUntil(lambda: "mosaic deblurred" in viewer.layers and not widget.status.busy, timeout=WAIT_MS)
    result = viewer.layers["mosaic deblurred"]
    assert result.multiscale and [level.shape for level in result.data] == [(320, 2100), (160, 1050), (80, 525)]
    written = list((tmp_path / "results").glob("mosaic-deblurred-*.zarr"))
    assert len(written) == 1 and result.metadata["midnet"]["written_to"] == str(written[0])
    expected = drain(deblur_job(widget.registry.get(widget.settings.model), widget.settings, full)).data
    assert np.array_equal(np.asarray(result.data[0]), expected)
    qtbot.waitUntil(lambda: widget.compare.table.item(0, 0) is not None, timeout=WAIT_MS)  # its readout (a crop)
