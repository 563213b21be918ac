"""Deblur panel: pick image, model, device and tiling; run the core restoration in a worker."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import numpy as np
from napari.layers import Image
from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from ..events import BlurIdentified
from ..imaging import size_text
from ..jobs.deblur import deblur_job, deblur_to_zarr_job, preview_region, result_path
from ..jobs.readouts import identify
from ..models.registry import ModelRegistry
from ..restoration.device import Device, warm_up
from ..restoration.tiling import MIN_TILE, TILE
from .blur_control import BlurControl
from .layer_combo import ImageLayerCombo
from .plane import current_index, current_plane, full_resolution, is_lazy
from .result_layers import add_focus_map, add_preview, add_result
from .state import DeblurSettings, RunStatus, Task
from .workers import WorkerTracker

LOAD_WEIGHTS = "Load weights…"
# what Load weights… opens: the file dialog's filter and the chooser item's tooltip
LOADABLE = "Weights or bioimage.io package (*.safetensors *.pt *.pth *.zip rdf.yaml bioimageio.yaml)"
ALL_SLICES, CURRENT_SLICE = "all slices", "current slice only"
UNTRAINED_NOTE = "UNTRAINED: no trained weights ship for this preset; its output is not a real deblurring."


def as_tooltip(line: str) -> str:
    """A long description wrapped for a tooltip (Qt shows plain text on one line)."""
    return textwrap.fill(line, 70, break_on_hyphens=False)


class DeblurWidget(QWidget):
    deblurred = Signal(str, str)  # source and result layer names

    def __init__(self, viewer, settings: DeblurSettings, status: RunStatus, registry: ModelRegistry,
                 workers: WorkerTracker, parent=None):
        super().__init__(parent)
        self.viewer, self.settings, self.status, self.registry = viewer, settings, status, registry
        self.workers = workers
        self.worker = None
        self._progress = None
        self._final_message = ""  # shown when the run ends

        self.layer_combo = ImageLayerCombo(viewer)
        self.blur_control = BlurControl(settings)  # before the model chooser, which tells it the model's kind
        self.blur_control.estimate_button.clicked.connect(self.estimate_blur)
        self.model_note = QLabel("")
        self.model_note.setWordWrap(True)
        self.model_note.setStyleSheet("color: #e0a030")
        self.model_combo = QComboBox()
        self.refresh_models()
        self.model_combo.activated.connect(self._on_model_chosen)
        self.model_combo.currentTextChanged.connect(self._show_model_note)
        self.device_combo = QComboBox()
        self.device_combo.addItems([device.value for device in Device])
        self.device_combo.currentTextChanged.connect(self._on_device)
        self.device_label = QLabel("")
        self.tile_spin = TileSpin()  # its minimum means automatic; below 16 px no tile is accepted
        self.tile_spin.setRange(MIN_TILE - 1, 8192)
        self.tile_spin.setSingleStep(64)
        self.tile_spin.setSpecialValueText("auto")
        self.tile_spin.valueChanged.connect(self._on_tile)
        self.overlap_spin = QSpinBox()
        self.overlap_spin.setRange(0, TILE // 2 - 1)
        self.overlap_spin.setValue(settings.overlap)
        self._chosen_overlap = settings.overlap  # what the user set; a smaller tile only caps it
        self.overlap_spin.valueChanged.connect(self._on_overlap)
        self.stack_combo = QComboBox()
        self.stack_combo.addItems([ALL_SLICES, CURRENT_SLICE])
        self.stack_combo.currentTextChanged.connect(lambda t: self._set(current_slice_only=t == CURRENT_SLICE))
        self.databar_check = QCheckBox("leave the SEM info bar untouched")
        self.databar_check.setChecked(settings.keep_databar)
        self.databar_check.toggled.connect(lambda on: self._set(keep_databar=on))
        self.ensemble_check = QCheckBox("average 8 flips/rotations (5x slower)")
        self.ensemble_check.setToolTip("Restore the image turned and flipped 8 ways and average: about 5x slower, "
                                       "a little better")
        self.ensemble_check.setChecked(settings.ensemble)
        self.ensemble_check.toggled.connect(lambda on: self._set(ensemble=on))
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setRange(0, 100)
        self.strength_slider.setValue(round(100 * settings.strength))
        self.strength_slider.setToolTip("How much of the network's correction to apply: 0 leaves the image as it is")
        self.strength_label = QLabel("")
        self.strength_slider.valueChanged.connect(self._on_strength)
        self._on_strength(self.strength_slider.value())
        self.deblur_button = QPushButton("Deblur")
        self.deblur_button.clicked.connect(self.start)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Deblur only the part of the chosen image on screen: the effect in a second "
                                       "or two, before a long run over the whole image")
        self.preview_button.clicked.connect(self.preview)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.message = QLabel("")
        self.message.setWordWrap(True)

        device_row = QHBoxLayout()
        device_row.addWidget(self.device_combo)
        device_row.addWidget(self.device_label)
        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength_slider)
        strength_row.addWidget(self.strength_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.deblur_button)
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.cancel_button)
        form = QFormLayout(self)
        form.addRow("Image", self.layer_combo)
        form.addRow("Model", self.model_combo)
        form.addRow(self.model_note)
        form.addRow("Device", device_row)
        form.addRow("Tile", self.tile_spin)
        form.addRow("Overlap", self.overlap_spin)
        form.addRow("Stacks", self.stack_combo)
        form.addRow("Strength", strength_row)
        form.addRow(QLabel("Blur"))  # the control spans the panel: its boxes need the width
        form.addRow(self.blur_control)
        form.addRow(self.databar_check)
        form.addRow(self.ensemble_check)
        form.addRow(buttons)
        form.addRow(self.progress_bar)
        form.addRow(self.message)
        self.update_enabled()
        self._on_device(self.device_combo.currentText())

    # --- state -------------------------------------------------------------------------
    def _set(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self.settings, key, value)

    def _on_tile(self, value: int) -> None:
        """Automatic at the minimum; a tile bounds the overlap (under half a tile, the automatic
        one too), and the user's overlap comes back when a larger tile allows it again."""
        tile = None if value < MIN_TILE else value
        limit = (tile or TILE) // 2 - 1
        self.overlap_spin.blockSignals(True)
        self.overlap_spin.setMaximum(limit)
        self.overlap_spin.setValue(min(self._chosen_overlap, limit))
        self.overlap_spin.blockSignals(False)
        self.overlap_spin.setToolTip(f"Pixels shared by neighbouring tiles: below half a tile, at most {limit} here")
        self._set(tile=tile, overlap=self.overlap_spin.value())

    def _on_overlap(self, value: int) -> None:
        self._chosen_overlap = value
        self._set(overlap=value)

    def _on_strength(self, percent: int) -> None:
        self._set(strength=percent / 100)
        self.strength_label.setText(f"{percent} %")

    def refresh_models(self) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItems(self.registry.names() + [LOAD_WEIGHTS])
        for index, name in enumerate(self.registry.names()):
            self.model_combo.setItemData(index, as_tooltip(self.registry.describe(name)), Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setItemData(self.model_combo.count() - 1, LOADABLE, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentText(self.settings.model)
        self.model_combo.blockSignals(False)
        self._show_model_note()

    def _show_model_note(self, *_) -> None:
        shown = self.model_combo.currentText()
        name = self.settings.model if shown == LOAD_WEIGHTS else shown
        self.model_combo.setToolTip(as_tooltip(self.registry.describe(name)))
        untrained = self.registry.untrained(name)
        self.model_note.setText(UNTRAINED_NOTE if untrained else "")
        self.model_note.setVisible(untrained)
        self.blur_control.set_applicable(self.registry.kernel_aware(name))

    def select_model(self, name: str) -> None:
        self.settings.model = name
        self.refresh_models()

    def update_enabled(self) -> None:
        busy = self.status.busy
        self.deblur_button.setEnabled(not busy)
        self.preview_button.setEnabled(not busy)
        self.deblur_button.setToolTip(
            f"Disabled while {self.status.task.value} is running" if busy else "Deblur the chosen image layer")
        self.cancel_button.setEnabled(self.status.task is Task.DEBLUR)
        self.model_combo.setEnabled(not busy)
        self.blur_control.estimate_button.setEnabled(not busy)

    def _on_model_chosen(self, index: int) -> None:
        name = self.model_combo.itemText(index)
        if name != LOAD_WEIGHTS:
            self.settings.model = name
            return
        path, _ = QFileDialog.getOpenFileName(self, "Load MIDNet weights", "",
                                              f"{LOADABLE};;All files (*)")
        if path:
            self.load_weights(path)
        self.refresh_models()

    def load_weights(self, path: str) -> None:
        """Validate and register a weights file off the GUI thread (loading imports torch)."""
        self.workers.run(self.registry.add_file, path, on_return=self.select_model,
                         on_error=lambda error: show_error(f"Cannot use these weights: {error}"))

    def _on_device(self, requested: str) -> None:
        self.settings.device = requested
        self.workers.run(warm_up, requested, on_return=lambda device: self.device_label.setText(f"→ {device}"),
                         on_error=lambda error: self.device_label.setText(f"→ unavailable: {error}"))

    # --- running -------------------------------------------------------------------------
    def chosen_layer(self) -> Image | None:
        layer = self.layer_combo.layer()
        active = self.viewer.layers.selection.active
        if layer is not None:
            if active is not None and not isinstance(active, Image):
                show_info(f"'{active.name}' is a {active.__class__.__name__} layer, which MIDNet cannot deblur; "
                          f"it deblurs the image chosen above, '{layer.name}'.")
            return layer
        if active is not None:
            show_error(f"'{active.name}' is a {active.__class__.__name__} layer; MIDNet deblurs image layers only.")
        else:
            show_error("There is no image layer to deblur: open an image first.")
        return None

    def start(self) -> None:
        if self.status.busy:
            return
        layer = self.chosen_layer()
        if layer is None:
            return
        if layer.rgb:
            show_error(f"'{layer.name}' is an RGB layer; MIDNet restores grayscale SEM images "
                       "(split the channels or convert to gray first).")
            return
        data = full_resolution(layer)
        index = ()
        if self.settings.current_slice_only and data.ndim > 2:
            index = current_index(layer, self.viewer)
            data = data[index]
        settings = replace(self.settings)
        if self.registry.untrained(settings.model):
            show_warning(f"{settings.model} is {UNTRAINED_NOTE}")
        self.status.task = Task.DEBLUR
        self.progress_bar.setValue(0)
        if is_lazy(data) and data.ndim == 2:  # read by region, the result written to disk: never whole in memory
            target = result_path(layer.name)
            self.message.setText(f"Deblurring '{layer.name}' with {settings.model} into {target}…")
            job = (deblur_to_zarr_job, settings, data, target)
        else:
            self.message.setText(f"Deblurring '{layer.name}' with {settings.model}…")
            job = (deblur_job, settings, np.asarray(data), settings.show_focus_map)
        self.worker = self.workers.run(
            with_model, self.registry, settings.model, *job, on_yield=self._on_progress, on_error=self._on_error,
            on_return=lambda outcome: self._on_done(layer, index, outcome), on_finish=self._on_finished)

    def preview(self) -> None:
        """Deblur the region on screen (plus the tiler's overlap for context) into a layer
        '<name> preview' placed over it; only that region of the data is read."""
        if self.status.busy:
            return
        layer = self.chosen_layer()
        if layer is None or layer.rgb:
            return
        data = layer.data[0] if layer.multiscale else layer.data
        index = current_index(layer, self.viewer) if data.ndim > 2 else ()
        corners = np.asarray(layer.corner_pixels)[:, -2:]
        if layer.multiscale:  # corner pixels are of the level on screen
            corners = corners * np.asarray(layer.downsample_factors[layer.data_level])[-2:]
        rows, cols = preview_region(corners, data.shape[-2:], self.settings.overlap)
        crop = np.asarray(data[index + (rows, cols)])
        self.status.task = Task.DEBLUR
        self.progress_bar.setValue(0)
        self.message.setText(f"Previewing {size_text(crop.shape)} of '{layer.name}'…")
        self.worker = self.workers.run(
            with_model, self.registry, self.settings.model, deblur_job, replace(self.settings), crop,
            on_yield=self._on_progress,
            on_error=self._on_error, on_finish=self._on_finished,
            on_return=lambda outcome: self._show_preview(layer, index + (rows.start, cols.start), outcome))

    def _show_preview(self, source: Image, origin: tuple[int, ...], outcome) -> None:
        """Over the region it came from; of a stack, a one-slice stack at the slice on screen."""
        if outcome is None or (self.worker is not None and self.worker.abort_requested):
            return
        add_preview(self.viewer, source, origin, outcome)
        self.progress_bar.setValue(100)
        self._final_message = (f"Preview of {size_text(outcome.data.shape)} in "
                               f"{outcome.provenance['seconds']:.1f} s; Deblur restores the whole image.")

    def estimate_blur(self) -> None:
        """Estimate the chosen image's blur (the plane on screen) in a worker; fill the control."""
        layer = self.chosen_layer()
        if layer is None:
            return
        plane = current_plane(layer, self.viewer)
        self.blur_control.estimate_label.setText(f"Estimating the blur of '{layer.name}'…")
        self.workers.run(identify, plane, on_error=lambda error: show_error(f"Cannot estimate the blur: {error}"),
                         on_return=lambda found: self._show_identified(layer, found))

    def _show_identified(self, layer: Image, found) -> None:
        self.blur_control.show_estimate(found.global_estimate, f"'{layer.name}'")
        if self.settings.show_focus_map:
            self.workers.run(found.sigma_map, on_error=lambda error: show_error(f"No focus map: {error}"),
                             on_return=lambda sigma: add_focus_map(self.viewer, layer, sigma))

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()
            self.message.setText("Cancelling…")

    def _on_progress(self, event) -> None:
        if self.worker is None:  # a progress signal delivered after the run ended
            return
        if isinstance(event, BlurIdentified):
            self.blur_control.show_estimate(event.estimate, "given" if event.given else "estimated")
            return
        self.progress_bar.setValue(int(100 * event.fraction))
        slices = f", slice {event.slice + 1} of {event.slices}" if event.slices > 1 else ""
        self.message.setText(f"Tile {event.tile} of {event.tiles}{slices}")
        # napari's progress processes Qt events, so the run may end (and _on_finished run) in
        # here: it goes last, and is closed if the run is over when it returns.
        if self._progress is None:
            self._progress = progress(total=event.total, desc="MIDNet deblur")
        self._progress.update(event.done - self._progress.n)
        if self.worker is None:
            self._close_progress()

    def _on_done(self, source: Image, index: tuple, outcome) -> None:
        if outcome is None or (self.worker is not None and self.worker.abort_requested):
            return
        result = add_result(self.viewer, source, index, outcome)
        if source in self.viewer.layers:
            self.layer_combo.setCurrentText(source.name)  # a second click deblurs the source again, not the result
        if outcome.sigma_map is not None:
            add_focus_map(self.viewer, source, outcome.sigma_map, index)
        self.progress_bar.setValue(100)  # also when nothing needed the network (uniform, Strength 0)
        untrained = "" if outcome.provenance["trained"] else " UNTRAINED model: not a real deblurring."
        self._final_message = (f"Done in {outcome.provenance['seconds']:.1f} s on {outcome.provenance['device']}."
                               f"{untrained}")
        self.deblurred.emit(source.name, result.name)

    def _on_error(self, error: Exception) -> None:
        text = str(error)
        if isinstance(error, MemoryError) or "out of memory" in text.lower():
            show_error("Out of memory while deblurring: choose a smaller tile size and try again.")
        else:
            show_error(f"Deblur failed: {text}")
        self._final_message = f"Failed: {text}"

    def _on_finished(self) -> None:
        """The last word on a run: progress messages may not outlive it."""
        if self.worker is not None and self.worker.abort_requested:
            if not self.workers.closed:  # a dock the user closed says nothing more
                show_info("Deblur cancelled; no layer was added.")
            self._final_message = "Cancelled; no layer was added."
            self.progress_bar.setValue(0)
        self.message.setText(self._final_message)
        self._final_message = ""
        self._close_progress()
        self.worker = None
        self.status.task = None

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None


def with_model(registry: ModelRegistry, name: str, job, *args):
    """Load the chosen model in the worker (seconds the first time), then run the job with it."""
    return (yield from job(registry.get(name), *args))


class TileSpin(QSpinBox):
    """The Tile box: its minimum reads "auto"; the first step up from there goes to the
    automatic tile's size, not to the minimum plus a step."""

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt API)
        if self.value() < MIN_TILE and steps > 0:
            self.setValue(TILE)
        else:
            super().stepBy(steps)
