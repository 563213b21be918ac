"""Produce docs/screenshot.png (napari with the dock, the sample and its deblurred result side by
side, the readouts against the sharp reference) and docs/focus_map.png (the sharp sample frame
with its right half defocused by the simulator, its focus map over it, and the estimate in the
dock). Run headless (leave QT_QPA_PLATFORM unset):
xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot.py
"""

import time
from pathlib import Path

import numpy as np
from gui_session import open_viewer_with_dock, process_until

from napari_midnet.blur.simulate import Degradation, apply_degradation

DOCS = Path(__file__).resolve().parents[1] / "docs"
OUT = DOCS / "screenshot.png"
FOCUS_OUT = DOCS / "focus_map.png"


def settle(seconds: float = 1.0) -> None:
    """Let the canvas draw for a moment (grid views need a few passes)."""
    start = time.monotonic()
    process_until(lambda: time.monotonic() - start > seconds)


def main() -> None:
    viewer, dock = open_viewer_with_dock(1560, 940)
    process_until(lambda: dock.deblur.device_label.text().startswith("→"))
    viewer.open_sample("napari-midnet", "sem")
    viewer.layers.selection.active = viewer.layers["SEM blurry"]
    dock.deblur.deblur_button.click()
    process_until(lambda: "SEM blurry deblurred" in viewer.layers and not dock.status.busy)
    dock.compare.reference_combo.setCurrentText("SEM sharp")
    process_until(lambda: dock.compare.readout is not None and dock.compare.readout.result_psnr is not None)
    dock.compare.compare_button.click()
    settle()
    viewer.reset_view()  # napari's grid views fit only once they have been drawn
    settle()
    OUT.parent.mkdir(exist_ok=True)
    viewer.screenshot(str(OUT), canvas_only=False)
    print(f"wrote {OUT}")
    dock.compare.compare_button.click()  # back to the normal view
    focus_picture(viewer, dock)
    dock.shutdown()
    viewer.close()


def focus_picture(viewer, dock) -> None:
    sharp = viewer.layers["SEM sharp"]
    frame = np.asarray(sharp.data, dtype=np.float64) / 255
    blurred = apply_degradation(frame, Degradation(sigma=5.0, axis_ratio=1.6, angle=-0.5, dose=2000),
                                np.random.default_rng(0))
    half = frame.copy()
    half[:, frame.shape[1] // 2:] = blurred[:, frame.shape[1] // 2:]
    half[691:] = frame[691:]  # the info bar stays as it was
    for layer in list(viewer.layers):
        layer.visible = False
    layer = viewer.add_image((half * 255).astype(np.uint8), name="right half defocused", scale=sharp.scale,
                             units=sharp.units, colormap="gray")
    viewer.layers.selection.active = layer
    dock.deblur.blur_control.focus_map_check.setChecked(True)
    dock.deblur.blur_control.estimate_button.click()
    process_until(lambda: "right half defocused focus map (blur px)" in viewer.layers)
    dock.deblur.layer_combo.setCurrentText("right half defocused")
    viewer.reset_view()
    settle()
    viewer.screenshot(str(FOCUS_OUT), canvas_only=False)
    print(f"wrote {FOCUS_OUT}")


if __name__ == "__main__":
    main()
