"""Build the bundled sample data (run once by developers; the outputs are committed).

resources/sem_sharp.tif  : `aquami/micrographs/Sample.tif` from the MIT-licensed aquami package
                           (J. Stuckner et al.), a Zeiss InLens image of nanoporous gold, copied
                           byte for byte (its CZ_SEM metadata included).
resources/sem_blurry.tif : the same frame through napari-midnet's SEM degradation simulator with
                           the fixed settings below and seed 2024; databar rows left crisp, as an
                           instrument renders them; the CZ_SEM tag is carried over.

Usage: python scripts/make_sample_data.py PATH/TO/aquami/micrographs/Sample.tif
(`pip download --no-deps aquami==1.1.0` and unzip the wheel to get it.)
"""

import shutil
import sys
from pathlib import Path

import numpy as np
import tifffile

from napari_midnet.blur.simulate import Degradation, apply_degradation
from napari_midnet.io.databar import detect_databar

SAMPLE_BLUR = Degradation(sigma=4.0, axis_ratio=1.3, angle=0.6, line_jitter=0.15, dose=250.0, read_noise=0.005)
SEED = 2024
CZ_SEM = 34118


def main(source: Path) -> None:
    resources = Path(__file__).resolve().parents[1] / "resources"
    shutil.copyfile(source, resources / "sem_sharp.tif")
    with tifffile.TiffFile(source) as tif:
        page = tif.pages[0]
        sharp = page.asarray()
        tag = page.tags[CZ_SEM]
        tif.filehandle.seek(tag.valueoffset)
        raw_metadata = tif.filehandle.read(tag.count)
    bar = detect_databar(sharp)
    blurry = sharp.copy()
    degraded = apply_degradation(sharp[:bar] / 255.0, SAMPLE_BLUR, np.random.default_rng(SEED))
    blurry[:bar] = np.round(degraded * 255).astype(np.uint8)
    tifffile.imwrite(resources / "sem_blurry.tif", blurry, photometric="minisblack",
                     extratags=[(CZ_SEM, 2, len(raw_metadata), raw_metadata, True)])
    print(f"wrote {resources / 'sem_sharp.tif'} and {resources / 'sem_blurry.tif'} (databar from row {bar})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
