"""The fine-tune panel's list of training data: pairs of layers, sharp-only layers, pairs folders."""

from __future__ import annotations

from napari.utils.notifications import show_error
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFileDialog, QFormLayout, QHBoxLayout, QListWidget, QPushButton, QVBoxLayout, QWidget

from ..training.pairs import TrainingSource
from .layer_combo import ImageLayerCombo, is_product
from .plane import layer_array
from .state import EntryKind, TrainingEntry


class TrainingDataList(QWidget):
    changed = Signal()  # entries added or removed

    def __init__(self, viewer, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.entries: list[TrainingEntry] = []
        self.blurry_combo = ImageLayerCombo(viewer, follow_active=False)
        self.sharp_combo = ImageLayerCombo(viewer, follow_active=False)
        self.blurry_combo.currentTextChanged.connect(self._keep_pair_distinct)
        viewer.layers.events.inserted.connect(self._start_on_a_pair)
        self.entry_list = QListWidget()
        self.entry_list.setMaximumHeight(90)
        add_pair, add_sharp = QPushButton("Add pair"), QPushButton("Add sharp-only")
        add_folder, remove = QPushButton("Add pairs folder…"), QPushButton("Remove")
        add_pair.clicked.connect(self.add_pair)
        add_sharp.clicked.connect(self.add_sharp_only)
        add_folder.clicked.connect(self._choose_folder)
        remove.clicked.connect(self.remove_selected)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        pick = QFormLayout()
        pick.addRow("Blurry", self.blurry_combo)
        pick.addRow("Sharp", self.sharp_combo)
        layout.addLayout(pick)
        layout.addLayout(row(add_pair, add_sharp))
        layout.addLayout(row(add_folder, remove))
        layout.addWidget(self.entry_list)
        self._start_on_a_pair()

    def disconnect_viewer(self) -> None:
        self.blurry_combo.disconnect_viewer()
        self.sharp_combo.disconnect_viewer()
        self.viewer.layers.events.inserted.disconnect(self._start_on_a_pair)

    def _start_on_a_pair(self, *_) -> None:
        """Blurry on a layer whose name says blurry, Sharp on one that says sharp, by their roles
        and never by the order they came in (the dock may open before the sample or after it);
        a choice whose name already fits its role is kept."""
        for combo, role in ((self.blurry_combo, "blurry"), (self.sharp_combo, "sharp")):
            if _role(combo.currentText()) != role:
                names = [combo.itemText(i) for i in range(combo.count())]
                fitting = next((name for name in names if _role(name) == role and not self._product(name)), None)
                if fitting is not None:
                    combo.setCurrentText(fitting)
        self._keep_pair_distinct()

    def _product(self, name: str) -> bool:
        return name in self.viewer.layers and is_product(self.viewer.layers[name])

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

    def add_pair(self) -> None:
        blurry, sharp = self.blurry_combo.layer(), self.sharp_combo.layer()
        if blurry is None or sharp is None:
            show_error("Pick a blurry and a sharp image layer to add a pair.")
        elif blurry.name == sharp.name:
            show_error("The blurry and the sharp layer must be two different layers.")
        elif not (_refuse_rgb(blurry) or _refuse_rgb(sharp)):
            self._add(TrainingEntry(EntryKind.PAIR, sharp=sharp.name, blurry=blurry.name))

    def add_sharp_only(self) -> None:
        sharp = self.sharp_combo.layer()
        if sharp is None:
            show_error("Pick a sharp image layer to train from it with simulated blur.")
        elif not _refuse_rgb(sharp):
            self._add(TrainingEntry(EntryKind.SHARP, sharp=sharp.name))

    def add_folder(self, folder: str) -> None:
        self._add(TrainingEntry(EntryKind.FOLDER, folder=folder))

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Pairs folder (with blurry/ and sharp/)")
        if folder:
            self.add_folder(folder)

    def _add(self, entry: TrainingEntry) -> None:
        self.entries.append(entry)
        self.entry_list.addItem(entry.label)
        self.changed.emit()

    def remove_selected(self) -> None:
        index = self.entry_list.currentRow()
        if index >= 0:
            self.entries.pop(index)
            self.entry_list.takeItem(index)
            self.changed.emit()

    def image_names(self) -> list[str]:
        """The names images will train under (layers, not folders): the Validation choices."""
        return [entry.name for entry in self.entries if entry.kind is not EntryKind.FOLDER]

    def sources(self) -> tuple[list[TrainingSource], list[str]] | None:
        """The layers' data as training sources, and the folders; None (said) when a layer is gone."""
        sources, folders = [], []
        for entry in self.entries:
            if entry.kind is EntryKind.FOLDER:
                folders.append(entry.folder)
                continue
            pair = entry.kind is EntryKind.PAIR
            names = [entry.sharp, entry.blurry] if pair else [entry.sharp]
            missing = [name for name in names if name not in self.viewer.layers]
            if missing:
                show_error(f"The layer '{missing[0]}' is gone; remove its entry from the list.")
                return None
            sharp = layer_array(self.viewer.layers[entry.sharp])
            blurry = layer_array(self.viewer.layers[entry.blurry]) if pair else None
            sources.append(TrainingSource(entry.name, sharp, blurry, origin=f"layer {entry.name}"))
        return sources, folders


def _refuse_rgb(layer) -> bool:
    if layer.rgb:
        show_error(f"'{layer.name}' is an RGB layer; fine-tuning needs grayscale SEM images.")
    return layer.rgb


def row(*widgets) -> QHBoxLayout:
    line = QHBoxLayout()
    for widget in widgets:
        line.addWidget(widget)
    return line


def _role(name: str) -> str | None:
    """What a layer's name says it is: 'blurry', 'sharp' or nothing ('deblurred' is neither)."""
    lower = name.lower()
    if "blur" in lower and "deblur" not in lower:
        return "blurry"
    return "sharp" if "sharp" in lower else None
