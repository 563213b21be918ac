"""The fine-tune panel's settings: each box writes one field of FinetuneSettings."""

from __future__ import annotations

from qtpy.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from ..training.finetune import AUTO_VALIDATION, FinetuneSettings


class FinetuneSettingsForm(QWidget):
    def __init__(self, settings: FinetuneSettings, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.align_check = QCheckBox("Align pairs (registration)")
        self.align_check.setChecked(settings.align)
        self.align_check.toggled.connect(lambda on: self._set(align=on))
        self.blur_scale_spin = self._double(0.25, 3.0, settings.blur_scale, 0.25, "blur_scale")
        self.iterations_spin = self._int(10, 100000, settings.iterations, "iterations")
        self.lr_spin = self._double(1e-6, 1e-2, settings.lr, 1e-4, "lr", decimals=6)
        self.crop_spin = self._int(32, 512, settings.crop, "crop", step=16)
        self.batch_spin = self._int(1, 64, settings.batch, "batch")
        self.seed_spin = self._int(0, 2**31 - 1, settings.seed, "seed")
        self.validation_combo = QComboBox()
        self.validation_combo.currentTextChanged.connect(lambda text: self._set(validation=text or AUTO_VALIDATION))
        self.name_edit = QLineEdit(settings.output_name)
        self.name_edit.textChanged.connect(lambda text: self._set(output_name=text.strip() or "fine-tuned"))
        self.checkpoint_edit = QLineEdit(settings.checkpoint_dir)
        self.checkpoint_edit.textChanged.connect(lambda text: self._set(checkpoint_dir=text.strip() or None))

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.align_check)
        form.addRow("Simulated blur ×", self.blur_scale_spin)
        form.addRow("Iterations", self.iterations_spin)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Crop", self.crop_spin)
        form.addRow("Batch", self.batch_spin)
        form.addRow("Validation", self.validation_combo)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Output name", self.name_edit)
        form.addRow("Checkpoints", self.checkpoint_edit)
        self.set_validation_names([])

    def set_validation_names(self, names: list[str]) -> None:
        """The images that can be held out (a change of list resets the choice to automatic)."""
        self.validation_combo.blockSignals(True)
        self.validation_combo.clear()
        self.validation_combo.addItems([AUTO_VALIDATION, *names])
        self.validation_combo.blockSignals(False)
        self._set(validation=AUTO_VALIDATION)

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
