"""The MIDNet dock: Deblur, Compare and Fine-tune panels sharing one state and one worker set."""

from __future__ import annotations

from qtpy.QtCore import QEvent
from qtpy.QtWidgets import QApplication, QGroupBox, QScrollArea, QVBoxLayout, QWidget

from ..models.registry import ModelRegistry
from .compare_widget import CompareWidget
from .deblur_widget import DeblurWidget
from .export_widget import ExportWidget
from .finetune_widget import FinetuneWidget
from .state import DeblurSettings, RunStatus
from .workers import WorkerTracker

QUIT_WAIT_MS = 30_000  # quitting napari waits this long for a training run to write its checkpoint


class MidnetDock(QScrollArea):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.settings, self.status, self.registry = DeblurSettings(), RunStatus(), ModelRegistry()
        self.workers = WorkerTracker()
        self._shut_down = False
        self.deblur = DeblurWidget(napari_viewer, self.settings, self.status, self.registry, self.workers)
        self.compare = CompareWidget(napari_viewer, self.workers)
        self.finetune = FinetuneWidget(napari_viewer, self.settings, self.status, self.registry, self.workers)
        self.export = ExportWidget(self.settings, self.status, self.registry, self.workers)
        self.deblur.deblurred.connect(self.compare.set_pair)
        self.status.events.task.connect(self.update_enabled)
        self.settings.events.model.connect(self.finetune.update_enabled)
        self.settings.events.model.connect(self.export.update_enabled)
        self.finetune.model_ready.connect(self.deblur.select_model)

        content = QWidget()
        layout = QVBoxLayout(content)
        for title, panel in (("Deblur", self.deblur), ("Compare", self.compare), ("Fine-tune", self.finetune),
                             ("Export", self.export)):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(panel)
            layout.addWidget(box)
        layout.addStretch()
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setMinimumWidth(340)
        workers = self.workers  # closures below must not keep the dock itself alive
        self.destroyed.connect(lambda *_: workers.stop_all())
        QApplication.instance().aboutToQuit.connect(lambda: workers.stop_all(wait_ms=QUIT_WAIT_MS))

    def update_enabled(self) -> None:
        self.deblur.update_enabled()
        self.finetune.update_enabled()
        self.export.update_enabled()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.shutdown()
        super().closeEvent(event)

    def event(self, event) -> bool:
        """napari's dock x only takes the widget out of its dock (parent None), it does not
        close or delete it: that is when running jobs must stop, not stay on invisibly."""
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:
            self.shutdown()
        return super().event(event)

    def shutdown(self) -> None:
        """Stop every worker (training writes its checkpoint in the background) and let go of the
        viewer's events; returns at once."""
        if self._shut_down:
            return
        self._shut_down = True
        self.workers.stop_all()
        self.deblur.layer_combo.disconnect_viewer()
        self.compare.disconnect_viewer()
        self.finetune.disconnect_viewer()
