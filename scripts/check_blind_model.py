"""The blind model's checks (issue 10), printed beside doing nothing and a Wiener filter.

1. real pairs: JEOL frames held out of training (default frame4, frame6), registered;
2. do no harm: every sharp JEOL frame and a few images of the held-out sem-sharp source fed as
   input, the output scored against the input (doing nothing scores infinity);
3. other instruments: the held-out sem-sharp source blurred by the simulator at three strengths;
4. the bundled Zeiss sample pair.

Usage: python scripts/check_blind_model.py [--model M] [--data ../shared/data] [--json FILE]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from napari_midnet.bundled import sample_paths
from napari_midnet.config import DEFAULT_MODEL
from napari_midnet.degrade import Degradation
from napari_midnet.evaluation import evaluate_pairs, harm, synthetic_pair
from napari_midnet.events import drain
from napari_midnet.files import read_image
from napari_midnet.pairs import load_pair_folder, load_sharp_folder, make_pair
from napari_midnet.weights import load_model

STRENGTHS = {"light": 1.5, "medium": 4.0, "heavy": 8.0}  # defocus sigma, px
NOISE = {"dose": 2000.0, "read_noise": 0.005}  # about the real pairs' noise


def real_pairs(model, data: Path, frames: list[str]) -> dict:
    pairs = load_pair_folder(data / "midnet-pairs", names=frames)
    return drain(evaluate_pairs(model, pairs, wiener=True))


def do_no_harm(model, data: Path, source: str, count: int, wiener: tuple[float, float]) -> dict:
    images = load_sharp_folder(data / "midnet-pairs" / "sharp") + load_sharp_folder(data / "sem-sharp" / source)[:count]
    return {image.name: drain(harm(model, image, wiener=wiener)) for image in images}


def other_instrument(model, data: Path, source: str, count: int) -> dict:
    images = load_sharp_folder(data / "sem-sharp" / source)[:count]
    results = {}
    for strength, sigma in STRENGTHS.items():
        pairs = [synthetic_pair(image, Degradation(sigma=sigma, **NOISE), seed, f"{image.name}@{strength}")
                 for seed, image in enumerate(images)]
        results[strength] = drain(evaluate_pairs(model, pairs, wiener=True))["mean"]
    return results


def zeiss_sample(model) -> dict:
    paths = sample_paths()
    pair = make_pair("zeiss-sample", read_image(paths["SEM blurry"]), read_image(paths["SEM sharp"]), register=False)
    return drain(evaluate_pairs(model, [pair], wiener=True))["mean"]


def row(label: str, scores: dict) -> str:
    cells = [f"{scores[k]['psnr']:7.2f} {scores[k]['ssim']:6.3f}" if k in scores else f"{'':>14}"
             for k in ("input", "output", "wiener")]
    return f"{label:<34}" + "  ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--frames", nargs="+", default=["frame4", "frame6"])
    parser.add_argument("--source", default="deepsem-nanowires", help="sem-sharp source held out of training")
    parser.add_argument("--count", type=int, default=4, help="images of that source to use")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    model = load_model(args.model).model

    real = real_pairs(model, args.data, args.frames)
    first = real["images"][args.frames[0]]["wiener"]
    wiener = (first["sigma"], first["balance"])
    report = {
        "model": args.model,
        "real_pairs": real,
        "do_no_harm": do_no_harm(model, args.data, args.source, args.count, wiener),
        "do_no_harm_wiener": {"sigma": wiener[0], "balance": wiener[1]},
        "other_instrument": {"source": args.source, "images": args.count,
                             "sigmas": STRENGTHS, **other_instrument(model, args.data, args.source, args.count)},
        "zeiss_sample": zeiss_sample(model),
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))

    print(f"model {args.model}; PSNR dB / SSIM against the sharp reference")
    print(f"{'':<34}{'input (nothing)':>14}  {'model':>14}  {'Wiener (oracle)':>14}")
    print("1. real JEOL pairs held out of training")
    for name, scores in real["images"].items():
        print(row(f"   {name}", scores))
    print("2. do no harm: sharp image in, output against that input "
          f"(doing nothing: inf; Wiener fixed at sigma {wiener[0]}, balance {wiener[1]})")
    for name, scores in report["do_no_harm"].items():
        print(row(f"   {name[:30]}", scores))
    harm_psnr = [s["output"]["psnr"] for s in report["do_no_harm"].values()]
    print(f"   worst {min(harm_psnr):.2f} dB, mean {np.mean(harm_psnr):.2f} dB")
    print(f"3. other instrument: {args.source} (held out), {args.count} images, simulator blur")
    for strength, sigma in STRENGTHS.items():
        print(row(f"   {strength} (sigma {sigma} px)", report["other_instrument"][strength]))
    print(row("4. bundled Zeiss sample", report["zeiss_sample"]))


if __name__ == "__main__":
    main()
