"""Produce docs/screenshot.png: napari with the dock, the sample and its deblurred result side by
side, and the readouts against the sharp reference. Run headless (leave QT_QPA_PLATFORM unset):
xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot.py
"""

import time
from pathlib import Path

from gui_session import open_viewer_with_dock, process_until

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshot.png"


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
    dock.shutdown()
    viewer.close()


if __name__ == "__main__":
    main()
