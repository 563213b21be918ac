"""Export panel: the model chosen in the Deblur panel as a bioimage.io package, in a worker."""

from __future__ import annotations

from pathlib import Path

from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..models.registry import ModelRegistry
from .state import DeblurSettings, RunStatus, Task
from .workers import WorkerTracker

EXPORT_TIP = ("Write the model chosen above as a bioimage.io package (zip) for Fiji, ilastik, QuPath or "
              "bioimageio.core; tested before it is written")


class ExportWidget(QWidget):
    def __init__(self, settings: DeblurSettings, status: RunStatus, registry: ModelRegistry,
                 workers: WorkerTracker, parent=None):
        super().__init__(parent)
        self.settings, self.status, self.registry, self.workers = settings, status, registry, workers
        self.worker = None
        self.export_button = QPushButton("Export to bioimage.io…")
        self.export_button.setToolTip(EXPORT_TIP)
        self.export_button.clicked.connect(self._ask_path)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.message)
        self.update_enabled()

    def update_enabled(self, *_) -> None:
        """Refused models are refused here, with the reason, before any dialog."""
        refusal = self.registry.export_refusal(self.settings.model)
        self.export_button.setEnabled(not self.status.busy and not refusal)
        self.export_button.setToolTip(refusal.capitalize() + "." if refusal else EXPORT_TIP)
        self.cancel_button.setEnabled(self.status.task is Task.EXPORT)
        if refusal and self.status.task is not Task.EXPORT:
            self.message.setText(f"Not exportable: {refusal}.")
        elif self.message.text().startswith("Not exportable"):
            self.message.setText("")

    def _ask_path(self) -> None:
        default = f"{self.settings.model}.zip".replace(" ", "_")
        path, _ = QFileDialog.getSaveFileName(self, "Export to bioimage.io", default, "bioimage.io package (*.zip)")
        if path:
            self.export(path if path.lower().endswith(".zip") else f"{path}.zip")

    def export(self, path: str | Path) -> None:
        """Export the chosen model to `path` (replaced: the save dialog asked already)."""
        if self.status.busy:
            return
        self.status.task = Task.EXPORT
        self.progress_bar.setValue(0)
        self.message.setText(f"Exporting {self.settings.model} (under a minute on a CPU)…")
        self.worker = self.workers.run(_export_job, self.registry, self.settings.model, Path(path),
                                       on_yield=self._on_step, on_return=self._on_done, on_error=self._on_error,
                                       on_finish=self._on_finished)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()
            self.message.setText("Cancelling after the current step…")

    def _on_step(self, step) -> None:
        self.progress_bar.setValue(int(100 * step.done / step.total))
        if self.worker is not None and not self.worker.abort_requested:
            self.message.setText(f"Export: {step.stage}…")

    def _on_done(self, path) -> None:
        self.message.setText(f"Wrote {path} (bioimageio.core test passed).")
        show_info(f"Exported to {path}")

    def _on_error(self, error: Exception) -> None:
        show_error(f"Export failed: {error}")
        self.message.setText(f"Export failed: {error}")

    def _on_finished(self) -> None:
        if self.worker is not None and self.worker.abort_requested:
            self.message.setText("Export cancelled; nothing was written.")
            self.progress_bar.setValue(0)
        self.worker = None
        self.status.task = None


def _export_job(registry: ModelRegistry, name: str, path: Path):
    from ..jobs.export import export_package

    return (yield from export_package(registry.get(name), path, overwrite=True))
