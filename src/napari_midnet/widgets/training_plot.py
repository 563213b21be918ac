"""Live plot of training loss and validation PSNR.

Drawn with QPainter: napari ships neither pyqtgraph nor matplotlib, and two polylines redrawn
once per step do not justify a new dependency.
"""

from __future__ import annotations

from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

LOSS_COLOUR, PSNR_COLOUR = QColor(90, 170, 255), QColor(255, 170, 60)


class TrainingPlot(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.losses: list[tuple[int, float]] = []
        self.psnr: list[tuple[int, float]] = []
        self.iterations = 1
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_data(self, losses, psnr, iterations: int) -> None:
        self.losses, self.psnr, self.iterations = list(losses), list(psnr), max(iterations, 1)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        margin = 34
        width, height = self.width() - 2 * margin, self.height() - 2 * 16
        painter.setPen(QPen(QColor(130, 130, 130)))
        painter.drawRect(margin, 16, width, height)
        painter.drawText(4, 12, "loss")
        label = "val PSNR (dB)"
        painter.drawText(self.width() - painter.fontMetrics().horizontalAdvance(label) - 4, 12, label)
        for points, colour, right in ((self.losses, LOSS_COLOUR, False), (self.psnr, PSNR_COLOUR, True)):
            if not points:
                continue
            values = [value for _, value in points]
            low, high = min(values), max(values)
            span = (high - low) or 1.0
            polygon = QPolygonF([
                QPointF(margin + width * step / self.iterations, 16 + height * (1 - (value - low) / span))
                for step, value in points
            ])
            painter.setPen(QPen(colour, 1.6))
            painter.drawPolyline(polygon) if len(points) > 1 else painter.drawEllipse(polygon[0], 2, 2)
            x = self.width() - margin + 2 if right else 2
            painter.drawText(x, 28, f"{high:.3g}")
            painter.drawText(x, 16 + height, f"{low:.3g}")
        painter.setPen(QPen(Qt.GlobalColor.gray))
        painter.drawText(margin, self.height() - 2, f"step (of {self.iterations})" if self.iterations > 1 else "step")
        painter.end()
