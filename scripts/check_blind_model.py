"""The model checks (issues 10 and 20), each beside doing nothing and an oracle Wiener filter.

1. real pairs: JEOL frames held out of training (default frame4, frame6), registered;
2. do no harm: every sharp JEOL frame, a few images of the held-out sem-sharp source and the
   bundled sharp Zeiss frame fed as input, the output scored against the input;
3. other instrument: the held-out sem-sharp source blurred by the simulator (defocus sigma 1.5,
   3 and 6 px and one astigmatic 4 x 2 px spot, dose 2000), beside the Wiener filter given the
   true PSF and its best balance;
4. half-sharp frames: the left half sharp, the right half blurred (sigma 4): the sharp half
   scored against itself (was it left alone?);
5. the bundled Zeiss sample pair;
6. light blur on clean frames: the held-out source blurred by sigma 1, 2 and 4 px at low noise
   (read noise 0.003, dose 10^5), stored in 8 and in 16 bit: never below the input?
The classical peers (Wiener, Richardson-Lucy, BM3D deblurring), each given the true PSF and its
best parameter, are measured on the pairs of checks 3 and 6 (scripts/classical_peers.py), once:
kept in --peers FILE (default runs/peers.json) and read from there next time (`--no-peers` skips
them; BM3D takes half a minute an image).
A kernel-aware model is scored with its estimated blur ("auto") and, where the true spot is
known (fitted on the real pairs, the simulator's elsewhere), with that spot given ("given").
Contrast is the output's standard deviation over the reference's.

Usage: python scripts/check_blind_model.py [--models M ...] [--data ../shared/data] [--json FILE]
       [--peers FILE | --no-peers]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from checks_table import COMPARISON, comparison_row  # scripts/, beside this one
from classical_peers import peers_given_the_true_psf

from napari_midnet.blur.simulate import Degradation
from napari_midnet.bundled import sample_paths
from napari_midnet.events import drain
from napari_midnet.io.files import read_image
from napari_midnet.jobs.evaluation import evaluate_pairs, half_blurred_pair, harm, synthetic_pair
from napari_midnet.models.config import DEFAULT_MODEL
from napari_midnet.models.loader import load_model
from napari_midnet.training.calibration import fit_degradation
from napari_midnet.training.pairs import load_pair_folder, load_sharp_folder, make_pair, make_sharp_only

BLURS = {"sigma 1.5": Degradation(sigma=1.5), "sigma 3": Degradation(sigma=3.0), "sigma 6": Degradation(sigma=6.0),
         "astigmatic 4x2 at 30 deg": Degradation(sigma=np.sqrt(8.0), axis_ratio=2.0, angle=-np.deg2rad(30))}
NOISE = {"dose": 2000.0, "read_noise": 0.005}  # about the real pairs' noise
HALF_BLUR = Degradation(sigma=4.0, **NOISE)
LIGHT_BLURS = (1.0, 2.0, 4.0)
LIGHT_NOISE = {"dose": 1e5, "read_noise": 0.003}  # frame-averaged or long-dwell frames
LIGHT_BITS = (8, 16)
LIGHT_COUNT = 2  # images of the held-out source per light-blur case


def with_noise(degradation: Degradation) -> Degradation:
    return Degradation(**{**degradation.__dict__, **NOISE})


def scored(model, pairs, kernel_aware: bool, wiener: bool) -> dict:
    result = {"auto": drain(evaluate_pairs(model, pairs, wiener=wiener))}
    if kernel_aware:
        result["given"] = drain(evaluate_pairs(model, pairs, wiener=wiener, given_blur=True))
    return result


def real_pairs(model, kernel_aware: bool, data: Path, frames: list[str]) -> dict:
    pairs = load_pair_folder(data / "midnet-pairs", names=frames)
    for pair in pairs:
        pair.blur = fit_degradation(pair).blur()
    return scored(model, pairs, kernel_aware, wiener=True)


def do_no_harm(model, data: Path, source: str, count: int) -> dict:
    images = load_sharp_folder(data / "midnet-pairs" / "sharp") + load_sharp_folder(data / "sem-sharp" / source)[:count]
    images.append(make_sharp_only("zeiss-sample-sharp", read_image(sample_paths()["SEM sharp"])))
    return {image.name: drain(harm(model, image))["output"] for image in images}


def instrument_pairs(data: Path, source: str, count: int) -> dict:
    """{label: pairs}: the held-out source blurred by each of BLURS (seeded: every model and peer
    sees the same pairs)."""
    images = load_sharp_folder(data / "sem-sharp" / source)[:count]
    return {label: [synthetic_pair(image, with_noise(degradation), seed, f"{image.name}@{label}")
                    for seed, image in enumerate(images)] for label, degradation in BLURS.items()}


def light_pairs(data: Path, source: str) -> dict:
    """{label: pairs}: light blur at low noise, quantised to 8 or 16 bit as a detector stores it."""
    images = load_sharp_folder(data / "sem-sharp" / source)[:LIGHT_COUNT]
    cases = {}
    for sigma in LIGHT_BLURS:
        for bits in LIGHT_BITS:
            cases[f"sigma {sigma:g}, {bits} bit"] = [
                synthetic_pair(image, Degradation(sigma=sigma, **LIGHT_NOISE), seed, f"{image.name}@{sigma}", bits)
                for seed, image in enumerate(images)]
    return cases


def blurred_sets(model, kernel_aware: bool, cases: dict) -> dict:
    results = {}
    for label, pairs in cases.items():
        # the Wiener oracle gets the true PSF and the best balance; a blind model ignores the spot
        truth = drain(evaluate_pairs(model, pairs, wiener=True, given_blur=True))["mean"]
        auto = drain(evaluate_pairs(model, pairs))["mean"] if kernel_aware else truth
        results[label] = {"auto": auto | {"wiener": truth["wiener"]}}
        if kernel_aware:
            results[label]["given"] = truth
    return results


def half_sharp(model, data: Path, source: str, count: int) -> dict:
    images = load_sharp_folder(data / "sem-sharp" / source)[:count]
    pairs = [half_blurred_pair(image, HALF_BLUR, seed) for seed, image in enumerate(images)]
    return drain(evaluate_pairs(model, pairs))["mean"]


def zeiss_sample(model) -> dict:
    paths = sample_paths()
    pair = make_pair("zeiss-sample", read_image(paths["SEM blurry"]), read_image(paths["SEM sharp"]), align=False)
    return drain(evaluate_pairs(model, [pair], wiener=True))["mean"]


def seconds_for_a_frame(model) -> float:
    from napari_midnet.jobs.bench import test_image
    from napari_midnet.restoration.restore import restore

    frame = test_image(1280)[:1024]  # a texture: pure noise now passes through without the network
    start = time.perf_counter()
    drain(restore(frame, model))
    return time.perf_counter() - start


def cell(scores: dict | None) -> str:
    if not scores:
        return f"{'':>21}"
    return f"{scores['psnr']:6.2f} {scores['ssim']:5.3f} x{scores['contrast']:4.2f}"


def print_report(name: str, report: dict) -> None:
    print(f"\n== {name}  (PSNR dB  SSIM  contrast; auto = estimated blur, given = true spot)")
    print(f"{'':<36}{'input':>21}{'model auto':>21}{'model given':>21}{'Wiener oracle':>21}")
    print("1. real JEOL pairs held out of training")
    real = report["real_pairs"]
    for frame in real["auto"]["images"]:
        given = real.get("given", {}).get("images", {}).get(frame, {})
        scores = real["auto"]["images"][frame]
        print(f"   {frame:<33}{cell(scores['input'])}{cell(scores['output'])}{cell(given.get('output'))}"
              f"{cell(scores['wiener'])}")
    print("2. do no harm: a sharp image in, the output against it (target >= 35 dB)")
    for image, scores in report["do_no_harm"].items():
        print(f"   {image[:33]:<33}{'':>21}{cell(scores)}")
    harm_psnr = [s["psnr"] for s in report["do_no_harm"].values()]
    print(f"   worst {min(harm_psnr):.2f} dB, mean {np.mean(harm_psnr):.2f} dB")
    print(f"3. other instrument ({report['source']}, held out), simulated blur, dose 2000; Wiener: true PSF")
    for label, scores in report["other_instrument"].items():
        print(f"   {label:<33}{cell(scores['auto']['input'])}{cell(scores['auto']['output'])}"
              f"{cell(scores.get('given', {}).get('output'))}{cell(scores['auto']['wiener'])}")
    print("6. light blur on clean frames (dose 1e5, read noise 0.003), 8 and 16 bit; Wiener: true PSF")
    for label, scores in report["light_blur"].items():
        print(f"   {label:<33}{cell(scores['auto']['input'])}{cell(scores['auto']['output'])}"
              f"{cell(scores.get('given', {}).get('output'))}{cell(scores['auto']['wiener'])}")
    half = report["half_sharp"]
    print(f"4. half-sharp frames, the sharp half against itself (target >= 38 dB){'':<1}{cell(half['output'])}")
    zeiss = report["zeiss_sample"]
    print(f"   {'5. bundled Zeiss sample':<33}{cell(zeiss['input'])}{cell(zeiss['output'])}{'':>21}"
          f"{cell(zeiss['wiener'])}")
    print(f"   parameters {report['parameters']:,}; {report['macs_per_megapixel'] / 1e9:.1f} GMAC per megapixel; "
          f"{report['seconds_1280x1024']:.1f} s for a 1280 x 1024 frame")


def print_peers(peers: dict) -> None:
    names = list(next(iter(peers.values())))
    print("\n== classical peers, each given the true PSF and its best parameter (PSNR dB  SSIM  contrast)")
    print(f"{'':<36}" + "".join(f"{name:>21}" for name in names))
    for label, scores in peers.items():
        print(f"   {label:<33}" + "".join(cell(scores[name]) for name in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", "--model", nargs="+", default=[DEFAULT_MODEL])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--frames", nargs="+", default=["frame4", "frame6"])
    parser.add_argument("--source", default="deepsem-nanowires", help="sem-sharp source held out of training")
    parser.add_argument("--count", type=int, default=4, help="images of that source to use")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--peers", type=Path, default=Path("runs/peers.json"), help="the peers' scores, kept")
    parser.add_argument("--no-peers", action="store_true", help="skip the classical peers (BM3D is slow)")
    args = parser.parse_args()
    from napari_midnet.models.nets import count_parameters, macs_per_megapixel

    instrument, light = instrument_pairs(args.data, args.source, args.count), light_pairs(args.data, args.source)
    if not args.no_peers:
        # the same pairs every run: each case measured once
        peers = json.loads(args.peers.read_text()) if args.peers.exists() else {}
        for label, pairs in {**instrument, **light}.items():
            if label not in peers:
                print(f"classical peers given the true PSF, {label} (minutes: BM3D)…", flush=True)
                peers[label] = peers_given_the_true_psf(pairs)
                args.peers.parent.mkdir(parents=True, exist_ok=True)
                args.peers.write_text(json.dumps(peers, indent=2))
        print_peers(peers)
    reports = {}
    for name in args.models:
        model = load_model(name).model
        kernel_aware = model.config.kernel_aware
        reports[name] = {
            "parameters": count_parameters(model),
            "macs_per_megapixel": macs_per_megapixel(model),
            "seconds_1280x1024": seconds_for_a_frame(model),
            "real_pairs": real_pairs(model, kernel_aware, args.data, args.frames),
            "do_no_harm": do_no_harm(model, args.data, args.source, args.count),
            "source": args.source,
            "other_instrument": blurred_sets(model, kernel_aware, instrument),
            "light_blur": blurred_sets(model, kernel_aware, light),
            "half_sharp": half_sharp(model, args.data, args.source, args.count),
            "zeiss_sample": zeiss_sample(model),
        }
        print_report(name, reports[name])
    if len(reports) > 1:
        print("\n== comparison (estimated blur)")
        for row in [COMPARISON] + [comparison_row(name, report) for name, report in reports.items()]:
            print("  ".join(f"{value:<18}" for value in row))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
