"""The dock's Blur control in a real napari viewer (under Xvfb): estimate, override, focus map."""

import pytest

from napari_midnet.blur.estimate import BlurEstimate

from .test_plugin import WAIT_MS, click, dock, wait_idle  # noqa: F401 (dock is a fixture)

pytestmark = pytest.mark.gui


def test_estimate_fills_the_control_and_adds_the_focus_map(dock, qtbot):  # noqa: F811
    viewer, widget = dock
    viewer.open_sample("napari-midnet", "sem")
    viewer.layers.selection.active = viewer.layers["SEM blurry"]
    control = widget.deblur.blur_control
    control.focus_map_check.setChecked(True)
    click(qtbot, control.estimate_button)
    qtbot.waitUntil(lambda: "SEM blurry focus map (blur px)" in viewer.layers, timeout=WAIT_MS)
    assert control.estimate_label.text().startswith("'SEM blurry': out of focus, blur ")
    assert control.major_spin.value() > 2.0 and control.settings.blur is None  # still automatic
    focus = viewer.layers["SEM blurry focus map (blur px)"]
    assert focus.data.shape == (691, 1024)  # the rows above the info bar
    assert tuple(focus.scale) == tuple(viewer.layers["SEM blurry"].scale)
    assert widget.deblur.layer_combo.currentText() == "SEM blurry"  # issue 34.1: the map is no input
    click(qtbot, control.estimate_button)  # issue 34.2: a second estimate replaces the map
    qtbot.waitUntil(lambda: focus not in viewer.layers and "SEM blurry focus map (blur px)" in viewer.layers,
                    timeout=WAIT_MS)
    maps = [layer.name for layer in viewer.layers if "focus map" in layer.name]
    assert maps == ["SEM blurry focus map (blur px)"]
    assert viewer.layers.index(maps[0]) == viewer.layers.index("SEM blurry") + 1


def test_a_blur_set_by_hand_reaches_the_kernel_aware_model(dock, qtbot):  # noqa: F811
    viewer, widget = dock
    viewer.open_sample("napari-midnet", "sem")
    viewer.layers.selection.active = viewer.layers["SEM blurry"]
    widget.deblur.select_model("midnet-s-psf")
    control = widget.deblur.blur_control
    assert control.auto_check.isEnabled()
    control.auto_check.setChecked(False)
    control.major_spin.setValue(2.0)
    control.minor_spin.setValue(4.0)  # minor above major: the axes swap, the angle turns by 90
    control.angle_spin.setValue(10.0)
    assert widget.settings.blur == BlurEstimate(4.0, 2.0, 100.0, 0.0)
    click(qtbot, widget.deblur.deblur_button)
    qtbot.waitUntil(lambda: "SEM blurry deblurred" in viewer.layers, timeout=WAIT_MS)
    wait_idle(qtbot, widget)
    record = viewer.layers["SEM blurry deblurred"].metadata["midnet"]["blur"]
    assert record["source"] == "given" and record["slices"][0]["sigma_major_px"] == 4.0
    assert control.estimate_label.text().startswith("given: out of focus, blur 4.0 x 2.0 px")


def test_the_sample_leaves_the_blurry_frame_chosen_and_new_results_hide_older_ones(dock, qtbot):  # noqa: F811
    viewer, widget = dock
    viewer.open_sample("napari-midnet", "sem")
    assert viewer.layers.selection.active.name == "SEM blurry"
    assert widget.deblur.layer_combo.currentText() == "SEM blurry"
    widget.deblur.strength_slider.setValue(0)  # quick: the input passes through
    for _ in range(2):
        click(qtbot, widget.deblur.deblur_button)
        wait_idle(qtbot, widget)
    first, second = viewer.layers["SEM blurry deblurred"], viewer.layers["SEM blurry deblurred [1]"]
    assert second.visible and not first.visible
    assert widget.deblur.progress_bar.value() == 100  # done, though the network was not needed


def test_tile_and_overlap_boxes_only_offer_what_a_run_accepts(dock):  # noqa: F811
    _, widget = dock
    deblur = widget.deblur
    deblur.tile_spin.setValue(3)
    assert deblur.tile_spin.value() == 15 and deblur.tile_spin.text() == "auto" and widget.settings.tile is None
    deblur.tile_spin.setValue(64)
    assert widget.settings.tile == 64 and deblur.overlap_spin.maximum() == 31
    deblur.overlap_spin.setValue(200)
    assert widget.settings.overlap == 31


def test_deleting_the_source_while_it_is_deblurred_raises_nothing(dock, qtbot):  # noqa: F811
    viewer, widget = dock
    viewer.open_sample("napari-midnet", "sem")
    click(qtbot, widget.deblur.deblur_button)
    qtbot.waitUntil(lambda: widget.deblur.progress_bar.value() > 0, timeout=WAIT_MS)
    viewer.layers.remove("SEM blurry")
    wait_idle(qtbot, widget)
    assert "SEM blurry deblurred" in viewer.layers
    assert not widget.compare.compare_button.isEnabled()
    assert "'SEM blurry' was deleted" in widget.compare.alignment.text()


def test_the_source_as_its_own_reference_is_named_not_scored(dock, qtbot):  # noqa: F811
    viewer, widget = dock
    viewer.open_sample("napari-midnet", "sem")
    widget.deblur.strength_slider.setValue(0)
    click(qtbot, widget.deblur.deblur_button)
    wait_idle(qtbot, widget)
    widget.compare.reference_combo.setCurrentText("SEM blurry")
    qtbot.waitUntil(lambda: "reference is the source itself" in widget.compare.alignment.text(), timeout=WAIT_MS)
    assert widget.compare.readout.result_psnr is None


def test_a_blind_model_says_it_ignores_the_blur(dock, qtbot):  # noqa: F811
    _, widget = dock
    widget.deblur.select_model("midnet-s")
    control = widget.deblur.blur_control
    assert not control.auto_check.isEnabled() and not control.major_spin.isEnabled()
    assert "blind" in control.estimate_label.text()
    widget.deblur.select_model("midnet-s-psf")
    assert control.auto_check.isEnabled()
