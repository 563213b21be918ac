"""Where a model changes contrast: output over reference standard deviation in spatial-frequency
bands (difference-of-Gaussian bands), on the held-out JEOL frames and the bundled Zeiss sample.
A tone change (gain) shows in every band, over-sharpening in the middle ones.

Usage: python scripts/tone_bands.py [--models M ...] [--data ../shared/data]
"""

import argparse
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_midnet.bundled import sample_paths
from napari_midnet.events import drain
from napari_midnet.io.files import read_image
from napari_midnet.metrics import interior
from napari_midnet.models.config import DEFAULT_MODEL
from napari_midnet.models.loader import load_model
from napari_midnet.restoration.restore import RestoreOptions, restore
from napari_midnet.training.pairs import load_pair_folder, make_pair

BANDS = ((0, 1), (1, 2), (2, 4), (4, 8), (8, 16), (16, 64))  # px: sigma of the two Gaussians


def band(image: np.ndarray, low: float, high: float) -> np.ndarray:
    fine = gaussian_filter(image, low) if low else image
    return fine - gaussian_filter(image, high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=[DEFAULT_MODEL])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    paths = sample_paths()
    pairs = [make_pair("zeiss-sample", read_image(paths["SEM blurry"]), read_image(paths["SEM sharp"]), align=False)]
    if (args.data / "midnet-pairs").is_dir():
        pairs = load_pair_folder(args.data / "midnet-pairs", names=["frame4", "frame6"]) + pairs
    options = RestoreOptions(value_range=(0.0, 1.0), float32=True)
    print(f"{'model':<14}{'image':<14}" + "".join(f"{f'{a}-{b} px':>10}" for a, b in BANDS) + f"{'all':>8}")
    for name in args.models:
        model = load_model(name).model
        for pair in pairs:
            output = np.clip(drain(restore(pair.blurry, model, options)), 0, 1).astype(np.float64)
            mask = interior(pair.mask)
            sharp = pair.sharp.astype(np.float64)
            ratios = [np.std(band(output, a, b)[mask]) / np.std(band(sharp, a, b)[mask]) for a, b in BANDS]
            total = np.std(output[mask]) / np.std(sharp[mask])
            print(f"{name[:13]:<14}{pair.name:<14}" + "".join(f"{r:>10.2f}" for r in ratios) + f"{total:>8.2f}")


if __name__ == "__main__":
    main()
