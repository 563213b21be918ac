"""Compare panel: side-by-side toggle and a readout table computed by the core off the GUI thread."""

from __future__ import annotations

from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFormLayout, QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem, QWidget

from ..jobs.readouts import Readout, compute_readout
from ..metrics import STRUCTURE_CROP
from .layer_combo import ImageLayerCombo
from .plane import current_plane, full_resolution, is_lazy
from .workers import WorkerTracker

ROWS = ("Sharpness", "PSNR (dB)", "SSIM")
COLUMNS = ("Source", "Result", "Change")


class CompareWidget(QWidget):
    def __init__(self, viewer, workers: WorkerTracker, parent=None):
        super().__init__(parent)
        self.viewer, self.workers = viewer, workers
        self.source = self.result = None
        self.readout: Readout | None = None
        self._generation = 0
        self._reference_note = ""  # why the chosen reference was not used
        self._saved_view: tuple[list[str], dict[str, bool]] | None = None
        self._debounce = QTimer(self)  # scrolling through a stack asks once it settles, not per step
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self._measure)
        viewer.dims.events.current_step.connect(self.update_readouts)
        viewer.layers.events.removed.connect(self._on_layer_removed)

        self.compare_button = QPushButton("Compare side by side")
        self.compare_button.setCheckable(True)
        self.compare_button.setEnabled(False)
        self.compare_button.setToolTip("Deblur an image first")
        self.compare_button.toggled.connect(self.set_side_by_side)
        self.reference_combo = ImageLayerCombo(viewer, follow_active=False, allow_none=True)
        self.reference_combo.setToolTip("A sharp image of the same field: PSNR/SSIM after automatic alignment")
        self.reference_combo.currentTextChanged.connect(lambda _: self.update_readouts())
        self.table = QTableWidget(len(ROWS), len(COLUMNS))
        self.table.setVerticalHeaderLabels(ROWS)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setMaximumHeight(130)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.alignment = QLabel("")
        self.alignment.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow(self.compare_button)
        form.addRow("Sharp reference", self.reference_combo)
        form.addRow(self.table)
        form.addRow(self.alignment)

    def disconnect_viewer(self) -> None:
        self.reference_combo.disconnect_viewer()
        self.viewer.dims.events.current_step.disconnect(self.update_readouts)
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)
        self._debounce.stop()
        self._watch(False)

    def set_pair(self, source: str, result: str) -> None:
        """Called when a deblurred layer appears: compare it with its source from now on."""
        if self.compare_button.isChecked():
            self.compare_button.setChecked(False)
        self._watch(False)
        names = {layer.name for layer in self.viewer.layers}
        if source not in names or result not in names:  # deleted while the deblur ran
            self._forget(f"'{source if source not in names else result}' was deleted; deblur an image to compare.")
            return
        self.source, self.result = self.viewer.layers[source], self.viewer.layers[result]
        self._watch(True)
        self.compare_button.setEnabled(True)
        self.compare_button.setToolTip("Show source and result side by side (napari grid, linked camera)")
        self.update_readouts()

    def _on_layer_removed(self, event) -> None:
        """Source or result deleted: their numbers no longer describe anything on screen. By name:
        napari hands plugins proxies of layers, a new one per access, so identity never matches."""
        if self.source is None or event.value.name not in (self.source.name, self.result.name):
            return
        if self.compare_button.isChecked():
            self.compare_button.setChecked(False)
        self._watch(False)
        self._forget(f"'{event.value.name}' was deleted; deblur an image to compare.")

    def _forget(self, message: str) -> None:
        self.source = self.result = self.readout = None
        self._generation += 1  # a measurement still on its way is dropped
        self.table.clearContents()
        self.compare_button.setEnabled(False)
        self.compare_button.setToolTip("Deblur an image first")
        self.alignment.setText(message)

    def _watch(self, on: bool) -> None:
        for layer in (self.source, self.result):
            if layer is not None:
                emitter = layer.events.data
                emitter.connect(self.update_readouts) if on else emitter.disconnect(self.update_readouts)

    def update_readouts(self, event=None) -> None:
        """Layers, slice or reference changed: measure again shortly (off the GUI thread)."""
        if self.source is not None:
            self._debounce.start()

    def _measure(self) -> None:
        if self.source is None or self.result is None:
            return
        if self.source not in self.viewer.layers or self.result not in self.viewer.layers:
            return
        elsewhere = slice_elsewhere(self.result, self.viewer)
        if elsewhere:
            self._generation += 1
            self.table.clearContents()
            self.alignment.setText(elsewhere)
            return
        reference = self.reference_combo.layer()
        self._reference_note = ""
        if reference is not None and reference.name in (self.source.name, self.result.name):
            which = "source" if reference.name == self.source.name else "result"
            self._reference_note = f"The reference is the {which} itself: pick a sharp image of the same field."
            reference = None
        # a lazy (huge) image is described by its central square, read alone
        layers = [layer for layer in (self.source, self.result, reference) if layer is not None]
        crop = STRUCTURE_CROP if any(is_lazy(full_resolution(layer)) for layer in layers) else None
        source = current_plane(self.source, self.viewer, crop)
        result = current_plane(self.result, self.viewer, crop)
        ref = current_plane(reference, self.viewer, crop) if reference is not None else None
        self._generation += 1
        generation = self._generation
        self.table.clearContents()  # the last run's numbers are not this one's
        self.alignment.setText("Measuring…" + (" aligning the reference…" if ref is not None else ""))
        self.workers.run(compute_readout, source, result, ref,
                         on_return=lambda readout: self._show(readout, generation),
                         on_error=lambda error: show_error(f"Could not compute the readouts: {error}"))

    def _show(self, readout: Readout, generation: int) -> None:
        if generation != self._generation:
            return  # a newer request is on its way
        self.readout = readout
        cells = [
            (readout.source_sharpness, readout.result_sharpness, f"×{readout.sharpness_ratio:.2f}"),
            (readout.source_psnr, readout.result_psnr, _signed(readout.psnr_change, " dB")),
            (readout.source_ssim, readout.result_ssim, _signed(readout.ssim_change, "")),
        ]
        for row, values in enumerate(cells):
            for column, value in enumerate(values):
                text = value if isinstance(value, str) else ("–" if value is None else f"{value:.3f}")
                self.table.setItem(row, column, QTableWidgetItem(text))
        alignment = (f"Reference alignment: {readout.alignment}" if readout.alignment else
                     self._reference_note or "Pick a sharp reference layer for PSNR/SSIM.")
        self.alignment.setText(f"Note: {readout.notice}.\n{alignment}" if readout.notice else alignment)

    def set_side_by_side(self, on: bool) -> None:
        """Grid mode with just source and result (one shared camera), or back to before.

        napari gives every layer a grid cell in list order, hidden ones too, so source and result
        move to the first two places while comparing; order, visibility and the user's camera
        come back afterwards. A one-slice result seen at another slice is refused, as its
        numbers are: one of the two cells would be empty.
        """
        layers = self.viewer.layers
        if on and self.source in layers and self.result in layers:
            elsewhere = slice_elsewhere(self.result, self.viewer)
            if elsewhere:
                show_info(elsewhere)
                self.compare_button.setChecked(False)
                return
            camera = camera_of(self.viewer)
            self._saved_view = ([layer.name for layer in layers], {layer.name: layer.visible for layer in layers},
                                (tuple(camera.center), camera.zoom, tuple(camera.angles)))
            layers.move(layers.index(self.source), 0)
            layers.move(layers.index(self.result), 1)
            for layer in layers:
                layer.visible = layer.name in (self.source.name, self.result.name)
            grid = grid_of(self.viewer)
            grid.shape, grid.stride, grid.enabled = (1, 2), 1, True
            self.viewer.reset_view()
            self.compare_button.setText("Back to the normal view")
        elif not on and self._saved_view is not None:
            grid_of(self.viewer).enabled = False
            order, visible, (center, zoom, angles) = self._saved_view
            for target, name in enumerate(name for name in order if name in layers):
                layers.move(layers.index(name), target)
            for layer in layers:
                layer.visible = visible.get(layer.name, layer.visible)
            self._saved_view = None
            camera = camera_of(self.viewer)
            camera.center, camera.zoom, camera.angles = center, zoom, angles  # where the user was
            self.compare_button.setText("Compare side by side")


def slice_elsewhere(layer, viewer) -> str:
    """Why a one-slice result cannot be compared at the viewer's current position ('' if it can)."""
    slice_of = layer.metadata.get("midnet", {}).get("slice")
    if not slice_of:
        return ""
    point = layer.world_to_data(viewer.dims.point)
    if all(abs(point[axis]) < 0.5 for axis in range(len(slice_of))):
        return ""
    where = ", ".join(str(i) for i in slice_of)
    return f"'{layer.name}' holds slice {where} only: go to that slice to compare it with its source."


def camera_of(viewer):
    """The viewer's camera (napari >= 0.9 keeps it on the scene)."""
    return viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera


def grid_of(viewer):
    """The viewer's grid settings (napari >= 0.9 keeps them on the canvas)."""
    return viewer.canvas.grid if hasattr(viewer, "canvas") else viewer.grid


def _signed(value: float | None, unit: str) -> str:
    return "–" if value is None else f"{value:+.3f}{unit}"
