"""A combo box of the viewer's image layers that can follow the active layer."""

from __future__ import annotations

from napari.layers import Image
from qtpy.QtWidgets import QComboBox

NONE = "(none)"


def is_product(layer) -> bool:
    """A layer napari-midnet added (its results, previews and focus maps carry their record)."""
    return "midnet" in layer.metadata


class ImageLayerCombo(QComboBox):
    def __init__(self, viewer, follow_active: bool = True, allow_none: bool = False, parent=None):
        super().__init__(parent)
        self.viewer = viewer
        self.follow_active = follow_active
        self.allow_none = allow_none
        self.refresh()
        for emitter, callback in self._connections():
            emitter.connect(callback)

    def disconnect_viewer(self) -> None:
        for emitter, callback in self._connections():
            emitter.disconnect(callback)

    def _connections(self):
        events = self.viewer.layers.events
        return [(events.inserted, self.refresh), (events.removed, self.refresh), (events.moved, self.refresh),
                (self.viewer.layers.selection.events.active, self._on_active)]

    def refresh(self, event=None) -> None:
        current = self.currentText()
        self.blockSignals(True)
        self.clear()
        if self.allow_none:
            self.addItem(NONE)
        self.addItems([layer.name for layer in self.viewer.layers if isinstance(layer, Image)])
        index = self.findText(current)
        self.blockSignals(False)
        if index >= 0:
            self.setCurrentIndex(index)
        elif self.follow_active:
            self._on_active()

    def _on_active(self, event=None) -> None:
        """Follow the layer the user makes active; not one the plugin just added (a result, a
        preview, a focus map: napari activates each new layer), which would become the next
        input by accident. The user can still choose any of them here."""
        active = self.viewer.layers.selection.active
        if self.follow_active and isinstance(active, Image) and not is_product(active):
            self.setCurrentText(active.name)

    def layer(self) -> Image | None:
        name = self.currentText()
        if not name or name == NONE or name not in self.viewer.layers:
            return None
        layer = self.viewer.layers[name]
        return layer if isinstance(layer, Image) else None
