"""Measure how responsive napari stays while the dock deblurs a 4096x4096 image on this CPU.

A 10 ms QTimer records the time between its ticks while the deblur (then a fine-tuning run) works
in its worker; the longest gap is how long the GUI could not react. Also times the deblur of the
bundled sample.
Run headless: xvfb-run -a python scripts/measure_responsiveness.py [deblur] [finetune]
"""

import sys
import time

import numpy as np
from gui_session import open_viewer_with_dock, process_until
from qtpy.QtCore import QTimer


def deblur_and_watch(viewer, dock, layer_name: str) -> tuple[float, list[float]]:
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    viewer.layers.selection.active = viewer.layers[layer_name]
    timer.start()
    start = time.perf_counter()
    dock.deblur.deblur_button.click()
    process_until(lambda: f"{layer_name} deblurred" in viewer.layers and not dock.status.busy, timeout_s=1800)
    seconds = time.perf_counter() - start
    timer.stop()
    return seconds, list(np.diff(ticks) * 1000)


def finetune_and_watch(viewer, dock, iterations: int = 40) -> tuple[float, list[float]]:
    """Fine-tune on the sample pair in the dock's worker while the timer ticks."""
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    panel = dock.finetune
    panel.data.blurry_combo.setCurrentText("SEM blurry")
    panel.data.sharp_combo.setCurrentText("SEM sharp")
    panel.data.add_pair()
    panel.form.iterations_spin.setValue(iterations)
    timer.start()
    start = time.perf_counter()
    panel.run_button.click()
    process_until(lambda: dock.status.busy)
    process_until(lambda: not dock.status.busy, timeout_s=1800)
    seconds = time.perf_counter() - start
    timer.stop()
    return seconds, list(np.diff(ticks) * 1000)


def report(label: str, seconds: float, gaps: list[float]) -> None:
    gaps = np.array(gaps)
    print(f"{label}: {seconds:.1f} s; 10 ms timer gaps: longest {gaps.max():.0f} ms, "
          f"99th percentile {np.percentile(gaps, 99):.0f} ms, median {np.median(gaps):.1f} ms over {gaps.size} ticks")


def close_mid_run(viewer, dock) -> float:
    """Milliseconds the GUI thread spends closing the dock while a deblur runs."""
    dock.deblur.deblur_button.click()
    process_until(lambda: dock.deblur.progress_bar.value() > 0, timeout_s=600)
    start = time.perf_counter()
    viewer.window.remove_dock_widget(dock)
    return (time.perf_counter() - start) * 1000


def main(parts: list[str]) -> None:
    """parts: any of 'sample', 'big', 'finetune', 'close' (default all)."""
    from napari_midnet.jobs.bench import test_image

    viewer, dock = open_viewer_with_dock()
    process_until(lambda: dock.deblur.device_label.text().startswith("→"))
    viewer.open_sample("napari-midnet", "sem")
    if "sample" in parts:  # target: no gap over 200 ms
        report(f"deblur the bundled sample (1024x768, {dock.settings.model})",
               *deblur_and_watch(viewer, dock, "SEM blurry"))
    if "big" in parts:
        viewer.add_image(test_image(4096), name="big")
        report("deblur 4096x4096 uint16", *deblur_and_watch(viewer, dock, "big"))
    if "finetune" in parts:
        report("fine-tune 40 steps on the sample pair", *finetune_and_watch(viewer, dock))
    if "close" in parts:  # target: under 100 ms
        viewer.layers.selection.active = viewer.layers["SEM blurry"]
        print(f"closing the dock mid-deblur took {close_mid_run(viewer, dock):.0f} ms on the GUI thread")
    else:
        dock.shutdown()
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1:] or ["sample", "big", "finetune", "close"])
