"""Fine-tune panel: the user's own pairs or sharp images, a background training run with live
progress, Stop/Resume, and the result added to the model chooser."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..events import CheckpointSaved, PairAligned, SpotFitted, TrainStep, Validated
from ..finetune import AUTO_VALIDATION, FinetuneRequest, FinetuneSettings, finetune_job
from ..pairs import TrainingSource
from ..progress import Eta, clock
from ..registry import ModelRegistry
from ..state import DeblurSettings, FinetuneRun, RunStatus, Task, TrainingEntry
from ..training import CHECKPOINT_NAME, default_checkpoint_dir
from ..weights import save_weights
from .layer_combo import ImageLayerCombo
from .plane import layer_array
from .training_plot import TrainingPlot
from .workers import WorkerTracker


class FinetuneWidget(QWidget):
    model_ready = Signal(str)  # registry name of a freshly fine-tuned model

    def __init__(self, viewer, deblur_settings: DeblurSettings, status: RunStatus, registry: ModelRegistry,
                 workers: WorkerTracker, parent=None):
        super().__init__(parent)
        self.viewer, self.deblur_settings, self.status = viewer, deblur_settings, status
        self.registry, self.workers = registry, workers
        self.settings = FinetuneSettings(checkpoint_dir=str(default_checkpoint_dir()))
        self.entries: list[TrainingEntry] = []
        self.run = FinetuneRun()
        self._eta = Eta()

        self.blurry_combo = ImageLayerCombo(viewer, follow_active=False)
        self.sharp_combo = ImageLayerCombo(viewer, follow_active=False)
        self.blurry_combo.currentTextChanged.connect(self._keep_pair_distinct)
        viewer.layers.events.inserted.connect(self._keep_pair_distinct)
        self.entry_list = QListWidget()
        self.entry_list.setMaximumHeight(90)
        add_pair, add_sharp = QPushButton("Add pair"), QPushButton("Add sharp-only")
        add_folder, remove = QPushButton("Add pairs folder…"), QPushButton("Remove")
        add_pair.clicked.connect(self.add_pair)
        add_sharp.clicked.connect(self.add_sharp_only)
        add_folder.clicked.connect(self._choose_folder)
        remove.clicked.connect(self.remove_selected)
        self.align_check = QCheckBox("Align pairs (registration)")
        self.align_check.setChecked(True)
        self.align_check.toggled.connect(lambda on: self._set(align=on))
        self.blur_scale_spin = self._double(0.25, 3.0, self.settings.blur_scale, 0.25, "blur_scale")
        self.alignment = QLabel("")
        self.alignment.setWordWrap(True)
        self.base_label = QLabel("")
        self.iterations_spin = self._int(10, 100000, self.settings.iterations, "iterations")
        self.lr_spin = self._double(1e-6, 1e-2, self.settings.lr, 1e-4, "lr", decimals=6)
        self.crop_spin = self._int(32, 512, self.settings.crop, "crop", step=16)
        self.batch_spin = self._int(1, 64, self.settings.batch, "batch")
        self.seed_spin = self._int(0, 2**31 - 1, self.settings.seed, "seed")
        self.validation_combo = QComboBox()
        self.validation_combo.currentTextChanged.connect(lambda text: self._set(validation=text or AUTO_VALIDATION))
        self.name_edit = QLineEdit(self.settings.output_name)
        self.name_edit.textChanged.connect(lambda text: self._set(output_name=text.strip() or "fine-tuned"))
        self.checkpoint_edit = QLineEdit(self.settings.checkpoint_dir)
        self.checkpoint_edit.textChanged.connect(lambda text: self._set(checkpoint_dir=text.strip() or None))
        self.checkpoint_edit.editingFinished.connect(self.offer_earlier_checkpoint)
        self.run_button, self.stop_button = QPushButton("Run"), QPushButton("Stop")
        self.resume_button, self.save_button = QPushButton("Resume"), QPushButton("Save model…")
        self.run_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.stop_button.clicked.connect(self.request_stop)
        self.save_button.clicked.connect(self._choose_save_path)
        self.progress_bar = QProgressBar()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.plot = TrainingPlot()

        layout = QVBoxLayout(self)
        pick = QFormLayout()
        pick.addRow("Blurry", self.blurry_combo)
        pick.addRow("Sharp", self.sharp_combo)
        layout.addLayout(pick)
        layout.addLayout(_row(add_pair, add_sharp))
        layout.addLayout(_row(add_folder, remove))
        layout.addWidget(self.entry_list)
        form = QFormLayout()
        form.addRow(self.align_check)
        form.addRow("Simulated blur ×", self.blur_scale_spin)
        form.addRow(self.alignment)
        form.addRow("Base model", self.base_label)
        form.addRow("Iterations", self.iterations_spin)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Crop", self.crop_spin)
        form.addRow("Batch", self.batch_spin)
        form.addRow("Validation", self.validation_combo)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Output name", self.name_edit)
        form.addRow("Checkpoints", self.checkpoint_edit)
        layout.addLayout(form)
        layout.addLayout(_row(self.run_button, self.stop_button, self.resume_button, self.save_button))
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.message)
        layout.addWidget(self.plot)
        self._refresh_validation()
        self._start_on_a_pair()
        self.offer_earlier_checkpoint()
        self.update_enabled()

    # --- small builders -----------------------------------------------------------------
    def _set(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self.settings, key, value)

    def _int(self, low, high, value, key, step=1) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setValue(value)
        spin.valueChanged.connect(lambda v: self._set(**{key: v}))
        return spin

    def _double(self, low, high, value, step, key, decimals=2) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setDecimals(decimals)
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setValue(value)
        spin.valueChanged.connect(lambda v: self._set(**{key: v}))
        return spin

    def disconnect_viewer(self) -> None:
        self.blurry_combo.disconnect_viewer()
        self.sharp_combo.disconnect_viewer()
        self.viewer.layers.events.inserted.disconnect(self._keep_pair_distinct)

    def offer_earlier_checkpoint(self) -> None:
        """A checkpoint left in the folder (napari quit mid-run, or a run stopped before a
        restart) can be resumed here, not only from the command line."""
        found = Path(self.settings.checkpoint_dir or default_checkpoint_dir()) / CHECKPOINT_NAME
        if self.status.busy or self.run.losses or self.run.outcome is not None:
            return  # this session's own run owns the checkpoint
        self.run.checkpoint = found if found.is_file() else None
        self.update_enabled()
        if self.run.checkpoint is not None:
            self.message.setText(f"A checkpoint of an earlier run is in {found.parent}: add the same training "
                                 "images and press Resume to continue it (Run starts afresh).")

    def _start_on_a_pair(self) -> None:
        """A dock opened after the layers (e.g. the sample): Blurry on a layer whose name says
        blurry, Sharp on another one."""
        names = [self.blurry_combo.itemText(i) for i in range(self.blurry_combo.count())]
        blurry = next((name for name in names if "blur" in name.lower()), None)
        if blurry is not None:
            self.blurry_combo.setCurrentText(blurry)
        self._keep_pair_distinct()

    def _keep_pair_distinct(self, *_) -> None:
        """Blurry and Sharp never start on the same layer: Sharp moves to another one, preferring
        a name that says sharp."""
        blurry = self.blurry_combo.currentText()
        if self.sharp_combo.currentText() != blurry:
            return
        others = [self.sharp_combo.itemText(i) for i in range(self.sharp_combo.count())
                  if self.sharp_combo.itemText(i) != blurry]
        if others:
            self.sharp_combo.setCurrentText(next((n for n in others if "sharp" in n.lower()), others[0]))

    # --- training data ------------------------------------------------------------------------
    def add_pair(self) -> None:
        blurry, sharp = self.blurry_combo.layer(), self.sharp_combo.layer()
        if blurry is None or sharp is None:
            show_error("Pick a blurry and a sharp image layer to add a pair.")
        elif blurry.name == sharp.name:
            show_error("The blurry and the sharp layer must be two different layers.")
        elif self._refuse_rgb(blurry) or self._refuse_rgb(sharp):
            return
        else:
            self._add(TrainingEntry("pair", sharp=sharp.name, blurry=blurry.name))

    def add_sharp_only(self) -> None:
        sharp = self.sharp_combo.layer()
        if sharp is None:
            show_error("Pick a sharp image layer to train from it with simulated blur.")
        elif not self._refuse_rgb(sharp):
            self._add(TrainingEntry("sharp", sharp=sharp.name))

    def add_folder(self, folder: str) -> None:
        self._add(TrainingEntry("folder", folder=folder))

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Pairs folder (with blurry/ and sharp/)")
        if folder:
            self.add_folder(folder)

    def _refuse_rgb(self, layer) -> bool:
        if layer.rgb:
            show_error(f"'{layer.name}' is an RGB layer; fine-tuning needs grayscale SEM images.")
        return layer.rgb

    def _add(self, entry: TrainingEntry) -> None:
        self.entries.append(entry)
        self.entry_list.addItem(entry.label)
        self._refresh_validation()

    def remove_selected(self) -> None:
        row = self.entry_list.currentRow()
        if row >= 0:
            self.entries.pop(row)
            self.entry_list.takeItem(row)
            self._refresh_validation()

    def _refresh_validation(self) -> None:
        names = [e.blurry if e.kind == "pair" else e.sharp for e in self.entries if e.kind != "folder"]
        self.validation_combo.blockSignals(True)
        self.validation_combo.clear()
        self.validation_combo.addItems([AUTO_VALIDATION, *names])
        self.validation_combo.blockSignals(False)
        self._set(validation=AUTO_VALIDATION)

    def _sources(self) -> tuple[list[TrainingSource], list[str]] | None:
        sources, folders = [], []
        for entry in self.entries:
            if entry.kind == "folder":
                folders.append(entry.folder)
                continue
            names = [entry.sharp] + ([entry.blurry] if entry.kind == "pair" else [])
            missing = [name for name in names if name not in self.viewer.layers]
            if missing:
                show_error(f"The layer '{missing[0]}' is gone; remove its entry from the list.")
                return None
            sharp = layer_array(self.viewer.layers[entry.sharp])
            blurry = layer_array(self.viewer.layers[entry.blurry]) if entry.kind == "pair" else None
            name = entry.blurry if entry.kind == "pair" else entry.sharp
            sources.append(TrainingSource(name, sharp, blurry, origin=f"layer {name}"))
        return sources, folders

    # --- running ---------------------------------------------------------------------------------
    def update_enabled(self) -> None:
        busy = self.status.busy
        self.base_label.setText(self.deblur_settings.model)
        self.run_button.setEnabled(not busy)
        self.run_button.setToolTip(f"Disabled while {self.status.task.value} is running" if busy else
                                   "Fine-tune the base model on the listed images")
        self.stop_button.setEnabled(self.status.task is Task.FINETUNE)
        self.resume_button.setEnabled(not busy and self.run.checkpoint is not None and self.run.outcome is None)
        self.save_button.setEnabled(not busy and self.run.outcome is not None)

    def start(self, resume: bool = False) -> None:
        if self.status.busy:
            return
        if not self.entries:
            show_error("Add at least one pair or sharp image before fine-tuning.")
            return
        prepared = self._sources()
        if prepared is None:
            return
        sources, folders = prepared
        if not resume:
            self.run = FinetuneRun()
            self.alignment.setText("")
        self.run.stop.clear()
        try:
            base = self.registry.get(self.deblur_settings.model)
        except Exception as error:  # an unusable base model: say which and why
            show_error(f"Cannot fine-tune {self.deblur_settings.model}: {error}")
            return
        self.status.task = Task.FINETUNE
        self._eta = Eta()
        aligning = self.settings.align and not (resume and self.run.prepared)
        self.message.setText("Aligning pairs…" if aligning else "Starting…")
        request = FinetuneRequest(base, replace(self.settings), sources, pair_folders=tuple(folders),
                                  resume=self.run.checkpoint if resume else None, device=self.deblur_settings.device,
                                  should_stop=self.run.stop.is_set, prepared=self.run.prepared if resume else None)
        self.workers.run(finetune_job, request, on_yield=self._on_event, on_return=self._on_done,
                         on_error=self._on_error, on_finish=self._on_finished, on_stop=self.run.stop.set)

    def request_stop(self) -> None:
        self.run.stop.set()
        self.message.setText("Stopping after this step…")

    def _on_event(self, event) -> None:
        if isinstance(event, PairAligned):
            line = f"{event.name}: {event.description}"
            self.alignment.setText((self.alignment.text() + "\n" if self.alignment.text() else "") + line)
            if not event.ok or event.residual > 0.5 * self.settings.max_residual:
                show_warning(f"The pair '{event.name}' aligns poorly ({event.description}).")
        elif isinstance(event, SpotFitted):
            self.message.setText(f"Blur of {event.name}: {event.description}")
        elif isinstance(event, TrainStep):
            if self.run.losses and event.step <= self.run.losses[-1][0]:
                return  # a resumed run repeats nothing, but say so to the plot only once
            self.run.losses.append((event.step, event.loss))
            eta = self._eta.remaining(event.step, event.iterations)
            self.progress_bar.setValue(int(100 * event.step / event.iterations))
            self.message.setText(f"Step {event.step} of {event.iterations}, loss {event.loss:.4f}, "
                                 f"ETA {clock(eta)}")
        elif isinstance(event, Validated):
            if self.run.psnr and event.step <= self.run.psnr[-1][0]:
                return  # a resumed run validates its starting point again: already plotted
            self.run.psnr.append((event.step, event.psnr))
        elif isinstance(event, CheckpointSaved):
            self.run.checkpoint = event.path
        self.plot.set_data(self.run.losses, self.run.psnr, self.settings.iterations)

    def _on_done(self, outcome) -> None:
        if outcome is None:
            return
        result = outcome.result
        if outcome.images:
            self.run.prepared = outcome.images
        if result.stopped and result.checkpoint is None:
            self.message.setText("Stopped before training began; nothing was trained.")
            return
        if result.stopped:
            self.message.setText(f"Stopped at step {result.step}; checkpoint {result.checkpoint}. Resume continues.")
            return
        self.run.outcome = outcome
        name = self.registry.add_loaded(outcome.loaded, self.settings.output_name)
        metrics = outcome.card.get("metrics")
        gain = (f" Validation PSNR {metrics['before']['psnr']:.2f} → {metrics['after']['psnr']:.2f} dB,"
                f" SSIM {metrics['before']['ssim']:.3f} → {metrics['after']['ssim']:.3f}.") if metrics else ""
        if not outcome.improved:
            self.message.setText(f"Fine-tuned model '{name}' validates worse than its base, so Deblur keeps "
                                 f"{self.deblur_settings.model}; pick '{name}' under Model to use it anyway.{gain}")
            show_warning(f"Fine-tuning made validation worse; '{name}' was not selected for Deblur.")
            return
        self.message.setText(f"Fine-tuned model '{name}' is now the active model.{gain}")
        show_info(f"Fine-tuning finished: '{name}' is selected for Deblur.")
        self.model_ready.emit(name)

    def _on_error(self, error: Exception) -> None:
        show_error(f"Fine-tuning failed: {error}")
        self.message.setText(f"Failed: {error}")

    def _on_finished(self) -> None:
        self.status.task = None

    # --- saving ------------------------------------------------------------------------------------
    def _choose_save_path(self) -> None:
        suggested = f"{self.settings.output_name}.safetensors"
        path, _ = QFileDialog.getSaveFileName(self, "Save fine-tuned weights", suggested, "Weights (*.safetensors)")
        if path:
            self.save(path)

    def save(self, path: str) -> None:
        loaded = self.run.outcome.loaded
        self.workers.run(save_weights, loaded.model, path, loaded.card,
                         on_return=lambda _: show_info(f"Saved the fine-tuned model to {path}."),
                         on_error=lambda error: show_error(f"Could not save the model: {error}"))


def _row(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row
