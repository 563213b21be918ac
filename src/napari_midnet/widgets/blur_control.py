"""The blur a kernel-aware model undoes: estimated (shown in words) or set by hand in px."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..blur.estimate import BlurEstimate
from .state import DeblurSettings

MAX_SIGMA_PX = 32.0
BLIND_NOTE = "This model is blind: it guesses the blur itself (Estimate still reports it)."


class BlurControl(QWidget):
    """`settings.blur` is None while Automatic is ticked, else the spot in the three boxes.
    Estimate fills the boxes from the chosen image (the dock runs it in a worker)."""

    def __init__(self, settings: DeblurSettings, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.auto_check = QCheckBox("automatic")
        self.auto_check.setToolTip("Estimated from the image, region by region (the focus map); untick to "
                                   "set the spot by hand")
        self.auto_check.setChecked(settings.blur is None)
        self.major_spin = self._spin(0.0, MAX_SIGMA_PX, " px", "Defocus: sigma of the spot's major axis")
        self.minor_spin = self._spin(0.0, MAX_SIGMA_PX, " px", "sigma of the minor axis (equal: no astigmatism)")
        self.angle_spin = self._spin(0.0, 179.9, "°", "major axis, counterclockwise from the image rows")
        self.estimate_button = QPushButton("Estimate")
        self.estimate_button.setToolTip("Estimate the blur of the chosen image and put it in the boxes")
        self.estimate_label = QLabel("")
        self.estimate_label.setWordWrap(True)
        self.focus_map_check = QCheckBox("add the focus map as a layer")
        self.focus_map_check.setChecked(settings.show_focus_map)
        self.focus_map_check.toggled.connect(lambda on: setattr(self.settings, "show_focus_map", on))

        boxes = QGridLayout()  # two rows: three boxes with their +/- buttons do not fit a narrow dock
        for index, (label, spin) in enumerate((("major", self.major_spin), ("minor", self.minor_spin),
                                               ("angle", self.angle_spin))):
            boxes.addWidget(QLabel(label), index // 2, 2 * (index % 2))
            boxes.addWidget(spin, index // 2, 2 * (index % 2) + 1)
        top = QHBoxLayout()
        top.addWidget(self.auto_check)
        top.addWidget(self.estimate_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(boxes)
        layout.addWidget(self.estimate_label)
        layout.addWidget(self.focus_map_check)
        self.auto_check.toggled.connect(self._apply)
        for spin in (self.major_spin, self.minor_spin, self.angle_spin):
            spin.valueChanged.connect(self._apply)
        self._apply()

    def _spin(self, low: float, high: float, suffix: str, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(low, high)
        spin.setDecimals(1)
        spin.setSingleStep(0.5)
        spin.setSuffix(suffix)
        spin.setToolTip(tip)
        return spin

    def _apply(self, *_) -> None:
        manual = not self.auto_check.isChecked()
        for spin in (self.major_spin, self.minor_spin, self.angle_spin):
            spin.setEnabled(manual)
        spot = BlurEstimate.from_axes(self.major_spin.value(), self.minor_spin.value(), self.angle_spin.value())
        self.settings.blur = spot if manual else None

    def show_estimate(self, estimate: BlurEstimate, what: str) -> None:
        """Put an estimate in words under the boxes and its numbers in them (the user may then
        untick Automatic and correct them)."""
        self.estimate_label.setText(f"{what}: {estimate.describe()}")
        for spin, value in ((self.major_spin, estimate.sigma_major_px), (self.minor_spin, estimate.sigma_minor_px),
                            (self.angle_spin, estimate.angle_deg)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self._apply()

    def set_applicable(self, kernel_aware: bool) -> None:
        """Blind models ignore the blur: say so instead of offering a control that does nothing."""
        for widget in (self.auto_check, self.major_spin, self.minor_spin, self.angle_spin):
            widget.setEnabled(kernel_aware and (widget is self.auto_check or not self.auto_check.isChecked()))
        if not kernel_aware:
            self.estimate_label.setText(BLIND_NOTE)
        elif self.estimate_label.text() == BLIND_NOTE:
            self.estimate_label.setText("")
