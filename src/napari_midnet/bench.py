"""`napari-midnet bench`: deblur throughput vs. the bare network forward, and peak memory.

Each measurement runs in a fresh child process so its peak RSS is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

from .backends import BACKENDS, DEFAULT_BACKEND, for_backend

OVERLAP = 64
QUICK = {"presets": ["midnet-s"], "tiles": [256], "size": 512, "big": 0}  # under a minute on 2 CPU cores
FULL = {"presets": ["midnet-s", "midnet"], "tiles": [256, 512], "size": 1024, "big": 8192}  # 15+ minutes


def test_image(size: int) -> np.ndarray:
    """A reproducible uint16 SEM-like texture (smooth grains plus noise)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    grains = gaussian_filter(rng.random((size, size), dtype=np.float32), 3)
    grains = (grains - grains.min()) / (np.ptp(grains) + 1e-6)
    noisy = grains * 40000 + rng.normal(0, 800, grains.shape).astype(np.float32) + 10000
    return np.clip(noisy, 0, 65535).astype(np.uint16)


def measure(preset: str, tile: int, size: int, device: str, bare: bool, backend: str = DEFAULT_BACKEND) -> dict:
    """Time one deblur of a size^2 image and (optionally) the bare forward of its tiles."""
    import resource

    import torch

    from .device import pick_device
    from .restore import RestoreOptions, restore
    from .weights import load_model

    device = pick_device(device)
    start = time.perf_counter()
    model = for_backend(load_model(preset), backend).model
    setup_s = time.perf_counter() - start
    image = test_image(size)
    options = RestoreOptions(tile=tile, overlap=OVERLAP, device=device, keep_databar=False)
    warm = test_image(min(size, tile))
    for _ in restore(warm, model, options):
        pass
    start = time.perf_counter()
    for _ in restore(image, model, options):
        pass
    deblur_s = time.perf_counter() - start
    result = {"preset": preset, "tile": tile, "size": size, "device": device, "deblur_s": deblur_s,
              "backend": backend, "setup_s": setup_s,
              "mpix_s": size * size / deblur_s / 1e6}
    if bare:
        tile_side = min(tile, size)
        count = (-(-size // tile_side)) ** 2  # non-overlapping tiles that cover the image: the floor of any tiling
        batch = options.batch or (8 if device == "cuda" else 4)
        planes = 1 + model.config.condition_planes  # a kernel-aware net's blur planes too
        tiles = torch.rand(batch, planes, tile_side, tile_side, device=device)
        tiles = tiles.contiguous(memory_format=torch.channels_last)
        start = time.perf_counter()
        with torch.inference_mode():
            for first in range(0, count, batch):
                model(tiles[: min(batch, count - first)])
            if device == "cuda":
                torch.cuda.synchronize()
        result["forward_s"] = time.perf_counter() - start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _in_child(preset: str, tile: int, size: int, device: str, bare: bool, backend: str = DEFAULT_BACKEND) -> dict:
    code = ("import json,sys;from napari_midnet.bench import measure;"
            f"print(json.dumps(measure({preset!r},{tile},{size},{device!r},{bare},{backend!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark of {preset} tile {tile} failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_bench(presets: list[str], tiles: list[int], size: int, big: int, device: str,
              backends: bool = False) -> None:
    from .config import DEFAULT_MODEL

    print(f"deblur of a {size}x{size} uint16 image, overlap {OVERLAP}; 'forward' = the bare network on "
          "non-overlapping tiles covering the image (what any tiling must at least cost)")
    print(f"{'preset':<9} {'tile':>5} {'Mpix/s':>7} {'deblur s':>9} {'forward s':>10} {'ratio':>6} {'peak RSS MB':>12}")
    for preset in presets:
        for tile in tiles:
            row = _in_child(preset, tile, size, device, bare=True)
            print(f"{preset:<9} {tile:>5} {row['mpix_s']:>7.3f} {row['deblur_s']:>9.2f} {row['forward_s']:>10.2f} "
                  f"{row['deblur_s'] / row['forward_s']:>6.2f} {row['peak_rss_mb']:>12.0f}", flush=True)
    if backends:
        print(f"midnet-s with each backend on the CPU ({size}x{size}, tile {tiles[0]}); setup = load + convert")
        print(f"{'backend':<12} {'setup s':>8} {'deblur s':>9} {'Mpix/s':>7} {'peak RSS MB':>12}")
        for backend in BACKENDS:
            row = _in_child("midnet-s", tiles[0], size, "cpu", False, backend)
            print(f"{backend:<12} {row['setup_s']:>8.1f} {row['deblur_s']:>9.2f} {row['mpix_s']:>7.3f} "
                  f"{row['peak_rss_mb']:>12.0f}", flush=True)
    if big:
        print(f"{DEFAULT_MODEL} on a {big}x{big} uint16 image (peak memory; minutes on a CPU)…", flush=True)
        row = _in_child(DEFAULT_MODEL, 256, big, device, bare=False)
        print(f"{DEFAULT_MODEL} on a {big}x{big} uint16 image: {row['deblur_s']:.1f} s, "
              f"{row['mpix_s']:.3f} Mpix/s, peak RSS {row['peak_rss_mb']:.0f} MB")
