"""Train the blur identification regression (resources/blur-estimator.npz) and report its accuracy.

Training data: real sharp SEM frames (sem-sharp without the held-out source, and the sharp JEOL
frames 1, 2, 3, 5) blurred by the SEM simulator, whose true spot is the target, plus crops of the
real JEOL pairs 1, 2, 3, 5 with their fitted spots (calibration.py). Held out for the report: the
whole deepsem-nanowires source, the bundled Zeiss sample (another instrument) and the JEOL frames
4 and 6. About 9 minutes on one core.

Usage: python scripts/train_blur_estimator.py [--data ../shared/data] [--check-only] [--json FILE]
       [--regression-only]   (the report without the cross-validation check of blur/crossval.py)
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np

from napari_midnet.blur import estimate as blur
from napari_midnet.blur.noise import noise_std
from napari_midnet.blur.simulate import Degradation, apply_degradation, sample_degradation, true_blur
from napari_midnet.bundled import resource_path, sample_paths
from napari_midnet.io.files import read_image
from napari_midnet.io.paths import atomic_path
from napari_midnet.training.calibration import fit_degradation
from napari_midnet.training.pairs import load_pair_folder, load_sharp_folder, make_sharp_only

TRAIN_SOURCES = ("nasa-micronet-sem", "sem2surface-nova450", "fibresem-zeiss-auriga", "openfibsem-helios-pfib")
HELD_OUT_SOURCE = "deepsem-nanowires"
TRAIN_FRAMES = ["frame1", "frame2", "frame3", "frame5"]
HELD_OUT_FRAMES = ["frame4", "frame6"]
CROP = 512
HIDDEN = (64, 64)


def valid_area(image) -> np.ndarray:
    top, bottom, left, right = image.valid_box
    return image.sharp[top:bottom, left:right] if image.blurry is None else image.blurry[top:bottom, left:right]


def random_crop(area: np.ndarray, rng: np.random.Generator, size: int = CROP) -> np.ndarray:
    height, width = area.shape
    h, w = min(size, height), min(size, width)
    y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    return area[y:y + h, x:x + w]


def features_of(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half the samples see one window (the focus map), half the Welch average (the global estimate)."""
    padded, ys, xs = blur.window_grid(crop)
    power = np.concatenate(list(blur.window_powers(padded, [(y, x) for y in ys for x in xs])))
    chosen = power[rng.integers(len(power))] if rng.random() < 0.5 else power.mean(axis=0)
    return blur.spectral_features(chosen, noise_std(crop))


TILT_RANGE = (-1.5, 1.0)  # spectral exponent added to the sharp object, half of the samples
TILT_PIVOT = 0.05  # cycles/px left unchanged by the tilt


def tilt(image: np.ndarray, exponent: float) -> np.ndarray:
    """The object made rougher (exponent > 0) or smoother (< 0) by a power law in its spectrum:
    a different material, still in focus. Without it the regression takes the training sources'
    spectral slopes for "sharp" and calls a rougher object's blur focus (measured: -90 % at
    sigma 2 on the held-out nanowires)."""
    height, width = image.shape
    radius = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])
    gain = (np.maximum(radius, 1.0 / max(height, width)) / TILT_PIVOT) ** (exponent / 2)
    mean = image.mean()
    tilted = np.fft.irfft2(np.fft.rfft2(image - mean) * gain, s=image.shape) + mean
    return np.clip(tilted, 0.0, 1.0)


def synthetic_samples(images, count: int, rng: np.random.Generator):
    features, targets = [], []
    areas = [valid_area(image) for image in images]
    for _ in range(count):
        area = random_crop(areas[rng.integers(len(areas))], rng)
        if rng.random() < 0.5:
            area = tilt(area, rng.uniform(*TILT_RANGE))
        degradation = sample_degradation(rng)
        crop = apply_degradation(area, degradation, rng)
        features.append(features_of(crop, rng))
        targets.append(blur.targets_of(true_blur(degradation)))
    return features, targets


def real_samples(pairs, count: int, rng: np.random.Generator):
    features, targets = [], []
    spots = {pair.name: fit_degradation(pair).blur() for pair in pairs}
    for _ in range(count):
        pair = pairs[rng.integers(len(pairs))]
        features.append(features_of(random_crop(valid_area(pair), rng), rng))
        targets.append(blur.targets_of(spots[pair.name]))
    return features, targets


def fit_mlp(features: np.ndarray, targets: np.ndarray, seed: int) -> dict:
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    x = torch.tensor((features - mean) / std, dtype=torch.float32)
    y = torch.tensor(targets, dtype=torch.float32)
    sizes = (x.shape[1], *HIDDEN, y.shape[1])
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if index < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-5)
    steps = 3000
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        batch = torch.randint(0, len(x), (512,))
        loss = torch.nn.functional.mse_loss(net(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    linear = [module for module in net if isinstance(module, torch.nn.Linear)]
    arrays = {"mean": mean, "std": std, "layers": np.array(len(linear))}
    for index, module in enumerate(linear):
        arrays[f"w{index}"] = module.weight.detach().numpy().T.astype(np.float64)
        arrays[f"b{index}"] = module.bias.detach().numpy().astype(np.float64)
    return arrays


def accuracy_simulated(images, rng: np.random.Generator) -> dict:
    """Relative sigma error over sigma 0.5-16 px and dose 100-10000, and the angle error on astigmatic spots."""
    sigmas, doses = (0.5, 1, 2, 4, 8, 16), (100, 1000, 10000)
    rows = {}
    for sigma in sigmas:
        for dose in doses:
            errors = []
            for image in images:
                degradation = Degradation(sigma=sigma, dose=dose, read_noise=0.005)
                estimate = blur.estimate_blur(apply_degradation(valid_area(image), degradation, rng))
                errors.append(estimate.sigma / sigma - 1)
            rows[f"sigma {sigma} dose {dose}"] = {"median_rel_error": float(np.median(errors)),
                                                  "mean_abs_rel_error": float(np.mean(np.abs(errors)))}
    angle_errors, ratio = [], []
    for image in images:
        for angle in (0, 30, 60, 90, 120, 150):
            degradation = Degradation(sigma=4 / np.sqrt(2), axis_ratio=2.0, angle=np.deg2rad(-angle), dose=2000,
                                      read_noise=0.005)
            truth = true_blur(degradation)
            estimate = blur.estimate_blur(apply_degradation(valid_area(image), degradation, rng))
            angle_errors.append(abs((estimate.angle_deg - truth.angle_deg + 90) % 180 - 90))
            ratio.append(estimate.sigma_major_px / max(estimate.sigma_minor_px, 1e-3))
    sharp = [blur.estimate_blur(valid_area(image)).sigma for image in images]
    return {"sigma": rows, "astigmatic 4x2 px": {"median_angle_error_deg": float(np.median(angle_errors)),
                                                 "mean_angle_error_deg": float(np.mean(angle_errors)),
                                                 "median_axis_ratio": float(np.median(ratio))},
            "sharp frames (sigma 0)": {"median_sigma": float(np.median(sharp)), "max_sigma": float(np.max(sharp)),
                                       "in_focus": int(sum(s <= blur.IN_FOCUS_LIMIT for s in sharp)),
                                       "of": len(sharp)}}


def accuracy_low_noise(images, rng: np.random.Generator) -> dict:
    """Frame-averaged, long-dwell and 16-bit frames: Gaussian blur, no noise or a dose of 1e4-1e5,
    quantised to 8 or 16 bit (the estimator learned from noisier frames: KNOWN_NOISE_FLOOR)."""
    from scipy.ndimage import gaussian_filter

    rows = {}
    for sigma in (1, 2, 4, 8):
        for dose in (None, 1e4, 1e5):
            for levels in (255, 65535):
                errors = []
                for image in images:
                    blurred = gaussian_filter(valid_area(image).astype(np.float64), sigma)
                    noisy = blurred if dose is None else rng.poisson(np.clip(blurred, 0, None) * dose) / dose
                    estimate = blur.estimate_blur(np.round(np.clip(noisy, 0, 1) * levels) / levels)
                    errors.append(estimate.sigma / sigma - 1)
                noise = "no noise" if dose is None else f"dose {dose:.0e}"
                name = f"sigma {sigma} {noise} {8 if levels == 255 else 16} bit"
                rows[name] = {"median_rel_error": float(np.median(errors)),
                              "mean_abs_rel_error": float(np.mean(np.abs(errors)))}
    return rows


def accuracy_real(pairs) -> dict:
    report = {}
    for pair in pairs:
        fitted = fit_degradation(pair).blur()
        top, bottom, left, right = pair.valid_box
        estimate = blur.estimate_blur(pair.blurry[top:bottom, left:right])
        sharp = blur.estimate_blur(pair.sharp[top:bottom, left:right])
        report[pair.name] = {"fitted": fitted.as_dict(), "estimated": estimate.as_dict(),
                             "rel_error": estimate.sigma / fitted.sigma - 1,
                             "held_out": pair.name in HELD_OUT_FRAMES, "sharp_frame_sigma": sharp.sigma}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--check-only", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--regression-only", action="store_true", help="leave out the cross-validation check")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    pairs = load_pair_folder(args.data / "midnet-pairs")
    if not args.check_only:
        sharp = [image for source in TRAIN_SOURCES for image in load_sharp_folder(args.data / "sem-sharp" / source)]
        sharp += [image for image in load_sharp_folder(args.data / "midnet-pairs" / "sharp")
                  if image.name in TRAIN_FRAMES]
        features, targets = synthetic_samples(sharp, args.samples, rng)
        real_f, real_t = real_samples([p for p in pairs if p.name in TRAIN_FRAMES], args.samples // 8, rng)
        arrays = fit_mlp(np.array(features + real_f), np.array(targets + real_t), args.seed)
        with atomic_path(resource_path(blur.ESTIMATOR_FILE)) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        blur.regressor.cache_clear()
    if args.regression_only:
        blur.checked_covariance = lambda power, covariance: covariance
    report = {}
    held_out = {HELD_OUT_SOURCE: load_sharp_folder(args.data / "sem-sharp" / HELD_OUT_SOURCE)[:6],
                "zeiss-sample": [make_sharp_only("zeiss-sample", read_image(sample_paths()["SEM sharp"]))]}
    for source, images in held_out.items():
        report[f"simulated ({source})"] = accuracy_simulated(images, rng)
        report[f"low noise ({source})"] = accuracy_low_noise(images, rng)
    report["real pairs"] = accuracy_real(pairs)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
