"""Fit the SEM degradation simulator to real registered pairs and print the fits.

Usage: python scripts/calibrate_simulator.py PAIRS_DIR [--json]
(e.g. ../shared/data/midnet-pairs). The ranges the simulator draws from (degrade.py) were set to
cover these fits and beyond.
"""

import argparse
import json

from napari_midnet.training.calibration import fit_degradation
from napari_midnet.training.pairs import load_pair_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    fits = [fit_degradation(pair).as_dict() for pair in load_pair_folder(args.pairs)]
    if args.json:
        print(json.dumps(fits, indent=2))
        return
    columns = list(fits[0])
    print(" ".join(f"{c:>12}" for c in columns))
    for fit in fits:
        print(" ".join(f"{v:>12}" if isinstance(v, str) else f"{v:>12.4f}" for v in fit.values()))


if __name__ == "__main__":
    main()
