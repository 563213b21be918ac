"""`napari-midnet bench`: deblur throughput vs. the bare network forward, and peak memory.

Each measurement runs in a fresh child process so its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..events import drain
from ..models.loader import load_model
from ..restoration.backends import BACKENDS, DEFAULT_BACKEND, for_backend
from ..restoration.device import auto_batch
from ..restoration.tiling import OVERLAP

REPEATS = 5  # interleaved rounds of deblur and the bare forward
AUTO_TILE = 0  # in --tiles: the automatic tile, as deblur picks it
BARE_TILE = 256  # the floor: the bare network on non-overlapping tiles of this side covering the image
QUICK = {"presets": ["midnet-s"], "tiles": [AUTO_TILE], "size": 512, "big": 0}  # under a minute on 2 CPU cores
FULL = {"presets": ["midnet-s", "midnet"], "tiles": [AUTO_TILE, 256, 512], "size": 1024, "big": 8192}  # 15+ minutes


def test_image(size: int) -> np.ndarray:
    """A reproducible uint16 SEM-like texture (smooth grains plus noise)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    grains = gaussian_filter(rng.random((size, size), dtype=np.float32), 3)
    grains = (grains - grains.min()) / (np.ptp(grains) + 1e-6)
    noisy = grains * 40000 + rng.normal(0, 800, grains.shape).astype(np.float32) + 10000
    return np.clip(noisy, 0, 65535).astype(np.uint16)


def measure(preset: str, tile: int, size: int, device: str, bare: bool, backend: str = DEFAULT_BACKEND) -> dict:
    """Time the deblur of a size^2 image and (optionally) the bare forward of its non-overlapping
    tiles, in REPEATS interleaved rounds: on a shared CPU identical runs vary by 30 % or more,
    so the ratio is the median of the rounds' ratios and the times the best round's."""
    import resource

    from ..restoration.device import pick_device
    from ..restoration.inference import for_inference
    from ..restoration.restore import RestoreOptions, resolve_options, restore

    device = pick_device(device)
    start = time.perf_counter()
    model = for_backend(load_model(preset), backend).model
    setup_s = time.perf_counter() - start
    image = test_image(size)
    options = resolve_options(RestoreOptions(tile=tile or None, device=device, keep_databar=False), image.shape)
    drain(restore(test_image(min(size, options.tile)), model, options))  # warm-up
    forward = _bare_forward(for_inference(model, device), size, device) if bare else None
    rounds = []
    for _ in range(REPEATS if bare else 1):
        start = time.perf_counter()
        drain(restore(image, model, options))
        deblur_s = time.perf_counter() - start
        rounds.append((deblur_s, forward() if bare else None))
    deblur_s = min(deblur for deblur, _ in rounds)
    result = {"preset": preset, "tile": options.tile, "overlap": options.overlap, "size": size, "device": device,
              "deblur_s": deblur_s, "backend": backend, "setup_s": setup_s, "mpix_s": size * size / deblur_s / 1e6}
    if bare:
        result["forward_s"] = min(seconds for _, seconds in rounds)
        result["ratio"] = float(np.median([deblur / seconds for deblur, seconds in rounds]))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _bare_forward(model, size: int, device: str):
    """A function timing the network alone on the non-overlapping BARE_TILE-px tiles that cover a
    size^2 image (globally pooled, channels-last, batched as deblur batches): the floor of any
    tiling."""
    import torch

    tile_side = min(BARE_TILE, size)
    count = (-(-size // tile_side)) ** 2
    batch = auto_batch(device, tile_side**2)
    planes = 1 + model.config.condition_planes  # a kernel-aware net's blur planes too
    tiles = torch.rand(batch, planes, tile_side, tile_side, device=device).contiguous(memory_format=torch.channels_last)

    def run() -> float:
        with torch.inference_mode():
            start = time.perf_counter()
            for first in range(0, count, batch):
                model(tiles[: min(batch, count - first)])
            if device == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - start

    run()  # warm-up
    return run


def _in_child(preset: str, tile: int, size: int, device: str, bare: bool, backend: str = DEFAULT_BACKEND) -> dict:
    command = [*_child(), "measure", preset, str(tile), str(size), device, "bare" if bare else "deblur", backend]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark of {preset} tile {tile} failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_bench(presets: list[str], tiles: list[int], size: int, big: int, device: str,
              backends: bool = False) -> None:
    from ..models.config import DEFAULT_MODEL

    print(f"deblur of a {size}x{size} uint16 image, overlap {OVERLAP}; 'forward' = the bare network on "
          f"non-overlapping {BARE_TILE}-px tiles covering the image (what any tiling must at least cost); "
          f"ratio = median over {REPEATS} interleaved rounds, seconds = the best round")
    print(f"{'preset':<12} {'tile':>5} {'Mpix/s':>7} {'deblur s':>9} {'forward s':>10} {'ratio':>6} "
          f"{'peak RSS MB':>12}")
    for preset in presets:
        for tile in tiles:
            row = _in_child(preset, tile, size, device, bare=True)
            shown = f"a{row['tile']}" if tile == AUTO_TILE else str(tile)  # a384: chosen automatically
            print(f"{preset:<12} {shown:>5} {row['mpix_s']:>7.3f} {row['deblur_s']:>9.2f} {row['forward_s']:>10.2f} "
                  f"{row['ratio']:>6.2f} {row['peak_rss_mb']:>12.0f}", flush=True)
    if backends:
        print(f"midnet-s with each backend on the CPU ({size}x{size}, tile {tiles[0] or 'auto'}); "
              "setup = load + convert")
        print(f"{'backend':<12} {'setup s':>8} {'deblur s':>9} {'Mpix/s':>7} {'peak RSS MB':>12}")
        for backend in BACKENDS:
            row = _in_child("midnet-s", tiles[0], size, "cpu", False, backend)
            print(f"{backend:<12} {row['setup_s']:>8.1f} {row['deblur_s']:>9.2f} {row['mpix_s']:>7.3f} "
                  f"{row['peak_rss_mb']:>12.0f}", flush=True)
    if big:
        print(f"{DEFAULT_MODEL} on a {big}x{big} uint16 image (peak memory; minutes on a CPU)…", flush=True)
        row = _in_child(DEFAULT_MODEL, AUTO_TILE, big, device, bare=False)
        print(f"{DEFAULT_MODEL} on a {big}x{big} uint16 image: {row['deblur_s']:.1f} s, "
              f"{row['mpix_s']:.3f} Mpix/s, peak RSS {row['peak_rss_mb']:.0f} MB")


SCALE_SHAPES = [(2048, 2048), (16384, 2048)]  # (rows, cols); --full adds 16384 x 16384
SCALE_FULL_SHAPE = (16384, 16384)
CLUSTER_FRAMES = 4  # 1024^2 frames deblurred by a LocalCluster of 1, then 2 worker processes


def run_scale_bench(shapes: list[tuple[int, int]], model: str, cluster_side: int = 1024) -> None:
    """Peak memory and throughput of `napari-midnet deblur` as a user runs it (a child process
    per run, its peak RSS from the kernel), for growing images; the first tall image is also
    deblurred in memory to show the streamed pixels are the same; then a folder on a
    LocalCluster of 1 and 2 workers."""
    import tifffile

    from ..io.files import read_image

    print(f"napari-midnet deblur --model {model} on uint8 TIFFs (streamed above {_stream_limit()} px); "
          "peak RSS of the whole process")
    print(f"{'image (cols x rows)':<20} {'path':<10} {'seconds':>8} {'Mpix/s':>7} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory(prefix="napari-midnet-bench-") as folder:
        folder = Path(folder)
        compared = False
        for rows, cols in shapes:
            source = folder / f"in-{cols}x{rows}.tif"
            tifffile.imwrite(source, _texture_u8((rows, cols)))
            runs = [("cli", "streamed" if rows * cols > _stream_limit() else "in memory")]
            if rows > cols and not compared:
                runs.append(("memory", "in memory"))
                compared = True
            outputs = {}
            for how, label in runs:
                target = folder / f"{how}-{cols}x{rows}"
                seconds, peak = _timed_child(_deblur_command(how, source, target, model))
                outputs[how] = target / f"{source.stem}.tif"
                print(f"{f'{cols} x {rows}':<20} {label:<10} {seconds:>8.1f} {rows * cols / seconds / 1e6:>7.3f} "
                      f"{peak:>12.0f}", flush=True)
            if len(outputs) == 2:
                same = np.array_equal(read_image(outputs["cli"]), read_image(outputs["memory"]))
                print(f"{'':<20} streamed pixels identical to the in-memory path: {'yes' if same else 'NO'}")
            for output in outputs.values():
                output.unlink()
        frames = folder / "frames"
        frames.mkdir()
        for index in range(CLUSTER_FRAMES):
            tifffile.imwrite(frames / f"frame{index}.tif", _texture_u8((cluster_side, cluster_side), seed=index))
        pixels = CLUSTER_FRAMES * cluster_side**2
        print(f"a folder of {CLUSTER_FRAMES} {cluster_side}^2 frames (cluster start-up included)")
        for workers in (1, 2):
            command = [*_cli(), "deblur", str(frames), "-o", str(folder / f"out{workers}"), "--model", model,
                       "--scheduler", f"local:{workers}"]
            seconds, peak = _timed_child(command)
            print(f"{f'local:{workers}':<20} {'cluster':<10} {seconds:>8.1f} {pixels / seconds / 1e6:>7.3f} "
                  f"{peak:>12.0f} (the CLI process; each worker holds its own model)", flush=True)


def _stream_limit() -> int:
    from .deblur import STREAM_ABOVE

    return STREAM_ABOVE


def _texture_u8(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A reproducible 8-bit SEM-like texture (smooth grains plus noise) of any shape, built a
    band at a time."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    out = np.empty(shape, dtype=np.uint8)
    for top in range(0, shape[0], 1024):
        rows = min(1024, shape[0] - top)
        grains = gaussian_filter(rng.random((rows + 24, shape[1]), dtype=np.float32), 3)[12:12 + rows]
        noisy = 40 + 170 * (grains - 0.4) / 0.2 + rng.normal(0, 6, grains.shape)
        out[top:top + rows] = np.clip(noisy, 0, 255).astype(np.uint8)
    return out


def _cli() -> list[str]:
    return [sys.executable, "-m", "napari_midnet"]


def _child() -> list[str]:
    """Each measurement runs in a fresh process (its own peak memory, no warm caches)."""
    return [sys.executable, "-m", "napari_midnet.jobs.bench"]


def _deblur_command(how: str, source, target, model: str) -> list[str]:
    if how == "cli":
        return [*_cli(), "deblur", str(source), "-o", str(target), "--model", model]
    return [*_child(), "deblur-in-memory", str(source), str(target), model]


def _timed_child(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of a child process."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(command[:4])} failed:\n{errors.read().strip()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def child_main(argv: list[str]) -> None:
    """`python -m napari_midnet.jobs.bench measure PRESET TILE SIZE DEVICE bare|deblur BACKEND`
    prints one JSON row; `... deblur-in-memory SOURCE TARGET_FOLDER MODEL` deblurs one file
    without streaming (the --scale table's in-memory row)."""
    what, *args = argv
    if what == "measure":
        preset, tile, size, device, how, backend = args
        print(json.dumps(measure(preset, int(tile), int(size), device, how == "bare", backend)))
    elif what == "deblur-in-memory":
        from ..restoration.restore import RestoreOptions
        from .deblur import deblur_file

        source, target, model = Path(args[0]), Path(args[1]), args[2]
        target.mkdir()
        drain(deblur_file(load_model(model), RestoreOptions(), source, target / f"{source.stem}.tif", False,
                          stream=False))
    else:
        raise SystemExit(f"unknown bench child command {what!r}")


if __name__ == "__main__":
    child_main(sys.argv[1:])
