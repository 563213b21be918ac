"""Shared helpers for the headless GUI scripts: a napari viewer with the dock, driven to idle."""

import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import napari  # noqa: E402
from qtpy.QtWidgets import QApplication  # noqa: E402


def open_viewer_with_dock(width=1500, height=900):
    viewer = napari.Viewer(show=True)
    viewer.window.resize(width, height)
    _, dock = viewer.window.add_plugin_dock_widget("napari-midnet", "MIDNet Deblur")
    return viewer, dock


def process_until(condition, timeout_s=600.0, tick=None):
    """Run the Qt event loop until `condition()` holds; `tick()` is called every pass."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the GUI did not reach the expected state in time")
        app.processEvents()
        if tick:
            tick()
        time.sleep(0.002)
