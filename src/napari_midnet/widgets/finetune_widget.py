"""Fine-tune panel: the training data list, the settings form, and the run (in a background
worker, with Stop/Resume) whose progress is the evented FinetuneRun that the bar, the plot and
the messages follow."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFileDialog, QFormLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..events import PairAligned, SpotFitted
from ..models.registry import ModelRegistry
from ..models.weights import save_weights
from ..progress import Eta, clock
from ..training.checkpoints import CHECKPOINT_NAME, default_checkpoint_dir
from ..training.finetune import FinetuneRequest, FinetuneSettings, finetune_job
from .finetune_settings_form import FinetuneSettingsForm
from .state import DeblurSettings, FinetuneRun, FinetuneState, RunStatus, Task
from .training_data import TrainingDataList, row
from .training_plot import TrainingPlot
from .workers import WorkerTracker


def capitalised(sentence: str) -> str:
    """The core's sentences start lower-case (the CLI prints them after a name); the dock's start capital."""
    return sentence[:1].upper() + sentence[1:]


class FinetuneWidget(QWidget):
    model_ready = Signal(str)  # registry name of a freshly fine-tuned model

    def __init__(self, viewer, deblur_settings: DeblurSettings, status: RunStatus, registry: ModelRegistry,
                 workers: WorkerTracker, parent=None):
        super().__init__(parent)
        self.viewer, self.deblur_settings, self.status = viewer, deblur_settings, status
        self.registry, self.workers = registry, workers
        self.settings = FinetuneSettings(checkpoint_dir=str(default_checkpoint_dir()))
        self.run = FinetuneRun()
        self._eta = Eta()

        self.data = TrainingDataList(viewer)
        self.form = FinetuneSettingsForm(self.settings)
        self.data.changed.connect(lambda: self.form.set_validation_names(self.data.image_names()))
        self.form.checkpoint_edit.editingFinished.connect(self.offer_earlier_checkpoint)
        self.alignment = QLabel("")
        self.alignment.setWordWrap(True)
        self.base_label = QLabel("")
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
        self.run.events.alignment.connect(lambda lines: self.alignment.setText("\n".join(lines)))
        self.run.events.step.connect(self._show_step)
        self.run.events.losses.connect(self._replot)
        self.run.events.psnr.connect(self._replot)

        layout = QVBoxLayout(self)
        layout.addWidget(self.data)
        info = QFormLayout()
        info.addRow(self.alignment)
        info.addRow("Base model", self.base_label)
        layout.addLayout(info)
        layout.addWidget(self.form)
        layout.addLayout(row(self.run_button, self.stop_button, self.resume_button, self.save_button))
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.message)
        layout.addWidget(self.plot)
        self.offer_earlier_checkpoint()
        self.update_enabled()

    def disconnect_viewer(self) -> None:
        self.data.disconnect_viewer()

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
        if not self.data.entries:
            show_error("Add at least one pair or sharp image before fine-tuning.")
            return
        prepared = self.data.sources()
        if prepared is None:
            return
        sources, folders = prepared
        try:
            base = self.registry.get(self.deblur_settings.model)
        except Exception as error:  # an unusable base model: say which and why
            show_error(f"Cannot fine-tune {self.deblur_settings.model}: {error}")
            return
        if not resume:
            self.run.reset()
        self.run.stop.clear()
        self.run.state = FinetuneState.PREPARING
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
        """The run's record follows every event; only what is said once is said here."""
        self.run.record(event)
        # a pair that failed is the run's error, said once by _on_error
        if isinstance(event, PairAligned) and event.ok and event.residual > 0.5 * self.settings.max_residual:
            show_warning(f"The pair '{event.name}' aligns poorly ({event.description}).")
        elif isinstance(event, SpotFitted):
            self.message.setText(capitalised(event.sentence()))

    def _show_step(self, step: int) -> None:
        if not step or self.run.stop.is_set():
            return
        eta = self._eta.remaining(step, self.run.iterations)
        self.progress_bar.setValue(int(100 * step / max(self.run.iterations, 1)))
        self.message.setText(f"Step {step} of {self.run.iterations}, loss {self.run.loss:.4f}, ETA {clock(eta)}")

    def _replot(self, *_) -> None:
        self.plot.set_data(self.run.losses, self.run.psnr, self.settings.iterations)

    def _on_done(self, outcome) -> None:
        if outcome is None:
            return
        result = outcome.result
        if outcome.images:
            self.run.prepared = outcome.images
        if result.stopped:
            self.run.state = FinetuneState.STOPPED
            self.message.setText("Stopped before training began; nothing was trained." if result.checkpoint is None
                                 else f"Stopped at step {result.step}; checkpoint {result.checkpoint}. "
                                      "Resume continues.")
            return
        self.run.outcome, self.run.state = outcome, FinetuneState.FINISHED
        name = self.registry.add_loaded(outcome.loaded, self.settings.output_name)
        summary = outcome.summary()
        gain = f" {capitalised(summary)}." if summary else ""
        if not outcome.improved:
            self.message.setText(f"Fine-tuned model '{name}' validates worse than its base, so Deblur keeps "
                                 f"{self.deblur_settings.model}; pick '{name}' under Model to use it anyway.{gain}")
            show_warning(f"Fine-tuning made validation worse; '{name}' was not selected for Deblur.")
            return
        self.message.setText(f"Fine-tuned model '{name}' is now the active model.{gain}")
        show_info(f"Fine-tuning finished: '{name}' is selected for Deblur.")
        self.model_ready.emit(name)

    def _on_error(self, error: Exception) -> None:
        self.run.state = FinetuneState.FAILED
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
