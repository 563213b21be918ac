"""How often `focus` calls a frame in focus: every sharp and every blurred real frame in ../shared/data.

Sharp: the 73 sem-sharp frames, the six sharp JEOL frames and the bundled sharp Zeiss frame.
Blurred: the six blurry JEOL frames, the three real defocused deepfocus frames, the bundled
blurry Zeiss sample. Prints the estimated blur of each and the hit rate of both groups.

Usage: python scripts/check_focus_calls.py [--data ../shared/data]
"""

import argparse
from pathlib import Path

from napari_midnet.bundled import sample_paths
from napari_midnet.io.files import read_image
from napari_midnet.io.paths import IMAGE_SUFFIXES
from napari_midnet.jobs.readouts import identify, middle_gray_plane


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    groups = {
        "sharp": images(args.data / "sem-sharp") + images(args.data / "midnet-pairs" / "sharp")
        + [sample_paths()["SEM sharp"]],
        "blurred": images(args.data / "midnet-pairs" / "blurry") + images(args.data / "deepfocus")
        + [sample_paths()["SEM blurry"]],
    }
    for group, paths in groups.items():
        calls = []
        for path in paths:
            estimate = identify(middle_gray_plane(read_image(path))).global_estimate
            calls.append(estimate.in_focus)
            print(f"{group:<8} {path.parent.name + '/' + path.name:<60} {estimate.describe()}")
        right = sum(calls) if group == "sharp" else len(calls) - sum(calls)
        print(f"== {group}: {right} of {len(calls)} called {'in' if group == 'sharp' else 'out of'} focus")


if __name__ == "__main__":
    main()
