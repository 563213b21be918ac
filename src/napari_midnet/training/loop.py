"""MIDNet training as a generator: yields TrainStep / Validated / CheckpointSaved events and
returns a TrainResult. Stops cleanly on request (or when the consumer closes it), writing a
resumable checkpoint; deterministic for a seed."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..blur.estimate import BlurEstimate
from ..blur.noise import noise_std
from ..blur.simulate import apply_degradation, apply_tone, kernel_radius, sample_degradation, true_blur
from ..events import CheckpointSaved, SpotFitted, TrainStep, Validated, never
from ..imaging import size_text
from ..models.config import CONDITION_PLANES, pool_window
from ..restoration.condition import condition_planes, uniform_covariances
from .checkpoints import (
    CHECKPOINT_NAME,
    default_checkpoint_dir,
    load_checkpoint,
    save_checkpoint,
    stored_step,
)
from .pairs import TrainingImage

MAX_SYNTH_MARGIN = 64  # sharp-only crops are degraded with up to this much context, then trimmed
VAL_SIZE = 512  # validation uses the central VAL_SIZE^2 of each validation image's valid area


@dataclass
class TrainConfig:
    """Training's hyper-parameters, declared once: `napari-midnet train` and the Fine-tune panel
    (FinetuneSettings extends this) start from these defaults, a fine-tune of a trained model.
    Training from scratch (scripts/train_recipe.py) passes its own."""

    iterations: int = 300
    crop: int = 128
    batch: int = 4
    lr: float = 2e-4
    lr_min: float | None = None  # None: lr / 1000 at the end of the cosine decay
    seed: int = 0
    val_every: int | None = None  # None: a tenth of the run (10 to 250 steps)
    checkpoint_every: int | None = None  # None: a fifth of the run (25 to 500 steps)
    checkpoint_dir: str | None = None  # None: the per-user data directory
    blur_scale: float = 1.0  # the simulator's defocus and drift, scaled (sharp-only images)
    real_fraction: float = 0.25  # share of each batch drawn from real pairs when sharp-only images are mixed in

    @property
    def final_lr(self) -> float:
        return self.lr * 1e-3 if self.lr_min is None else self.lr_min

    @property
    def validation_interval(self) -> int:
        return self.val_every or max(min(self.iterations // 10, 250), 10)

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoint_every or max(min(self.iterations // 5, 500), 25)


@dataclass
class TrainResult:
    model: object
    step: int
    stopped: bool
    checkpoint: Path | None
    before: Validated | None = None
    after: Validated | None = None
    baseline: Validated | None = None  # the blurry input itself against the sharp image
    history: list = field(default_factory=list)


def check_training_data(train_set: list[TrainingImage], crop: int) -> None:
    if not train_set:
        raise ValueError("no training images: add at least one pair or sharp image")
    for image in train_set:
        top, bottom, left, right = image.valid_box
        if min(bottom - top, right - left) < crop:
            raise ValueError(
                f"{image.name}: its usable area ({size_text((bottom - top, right - left))}) is smaller than the "
                f"crop {crop}"
            )


def sample_batch(images: list[TrainingImage], config: TrainConfig, rng: np.random.Generator,
                 conditioned: bool = False):
    """Random crops (real pairs from registered valid regions; sharp-only ones degraded on the
    fly), with flips and 90-degree rotations. Returns (inputs, targets) as N x P x C x C and
    N x 1 x C x C, where P is 1, or 1 + the condition planes for a kernel-aware network: the
    blur as the identification would report it (`estimate_like`), turned with the crop.

    When both kinds are present, round(batch * real_fraction) crops come from real pairs, so a
    few real pairs are not drowned by many sharp-only images.
    """
    real = [image for image in images if image.blurry is not None]
    synthetic = [image for image in images if image.blurry is None]
    n_real = round(config.batch * config.real_fraction) if real and synthetic else (config.batch if real else 0)
    inputs, targets = [], []
    for index in range(config.batch):
        pool = real if index < n_real else synthetic
        image = pool[rng.integers(len(pool))]
        if image.blurry is not None:
            blurry, sharp, spot = _real_crop(image, config.crop, rng)
        else:
            blurry, sharp, spot = _synthetic_crop(image, config, rng)
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        blurry, sharp = (np.rot90(p[:, ::-1] if flip else p, k) for p in (blurry, sharp))
        planes = [blurry[None]]
        if conditioned:
            seen = estimate_like(turned(spot, flip, k), rng)
            planes.append(condition_planes(blurry, uniform_covariances(seen, blurry.shape), noise_std(blurry)))
        inputs.append(np.concatenate(planes))
        targets.append(sharp)
    return np.stack(inputs).astype(np.float32), np.stack(targets)[:, None].astype(np.float32)


def turned(spot: BlurEstimate, flip: bool, quarter_turns: int) -> BlurEstimate:
    """The spot of a crop mirrored left-right (`flip`), then turned by np.rot90 `quarter_turns`
    times (counterclockwise as displayed)."""
    angle = (180.0 - spot.angle_deg if flip else spot.angle_deg) + 90.0 * quarter_turns
    return BlurEstimate(spot.sigma_major_px, spot.sigma_minor_px, angle % 180.0, spot.noise)


# How far blur identification is off (measured: scripts/train_blur_estimator.py --check-only)
ESTIMATE_SIGMA_ERROR = 0.2  # log-normal spread of its sigma
ESTIMATE_ANGLE_ERROR = 10.0  # degrees
ESTIMATE_FLOOR = 0.8  # px: what it may report for a frame in focus


def estimate_like(spot: BlurEstimate, rng: np.random.Generator) -> BlurEstimate:
    """The true spot as blur identification would see it: the size off by a log-normal factor,
    each axis a little more, the angle off by a few degrees, and a small in-focus floor added in
    quadrature, so the network learns to rely on the estimate without trusting it blindly."""
    scale = np.exp(rng.normal(0.0, ESTIMATE_SIGMA_ERROR))
    floor = rng.uniform(0.0, ESTIMATE_FLOOR)
    major, minor = (np.hypot(s * scale * np.exp(rng.normal(0.0, 0.07)), floor)
                    for s in (spot.sigma_major_px, spot.sigma_minor_px))
    angle = spot.angle_deg + rng.normal(0.0, ESTIMATE_ANGLE_ERROR)
    if minor > major:
        major, minor, angle = minor, major, angle + 90.0
    return BlurEstimate(float(major), float(minor), float(angle % 180.0), spot.noise)


def _real_crop(image: TrainingImage, crop: int, rng: np.random.Generator):
    sharp, blurry = _random_crop(image, crop, rng)
    return blurry, sharp, image.blur or BlurEstimate.isotropic(0.0)


def _synthetic_crop(image: TrainingImage, config: TrainConfig, rng: np.random.Generator):
    """A degraded crop, blurred with enough surrounding context that its edges are real; the
    target gets the same tone as the input (the network must keep the acquisition's tone)."""
    degradation = sample_degradation(rng, config.blur_scale)
    top, bottom, left, right = image.valid_box
    room = (min(bottom - top, right - left) - config.crop) // 2
    margin = max(0, min(kernel_radius(degradation), MAX_SYNTH_MARGIN, room))
    sharp = _random_crop(image, config.crop + 2 * margin, rng)[0]
    blurry = apply_degradation(sharp, degradation, rng)
    inner = slice(margin, margin + config.crop)
    target = apply_tone(sharp[inner, inner], degradation)
    return blurry[inner, inner], target, true_blur(degradation)


def _random_crop(image: TrainingImage, size: int, rng: np.random.Generator):
    """(sharp, blurry) crops lying wholly inside the valid mask (largest box as a fallback)."""
    top, bottom, left, right = image.valid_box
    size = min(size, bottom - top, right - left)
    for _ in range(50):
        y = int(rng.integers(top, bottom - size + 1))
        x = int(rng.integers(left, right - size + 1))
        if image.mask[y:y + size, x:x + size].all():
            break
    blurry = None if image.blurry is None else image.blurry[y:y + size, x:x + size]
    return image.sharp[y:y + size, x:x + size], blurry


def central_region(image: TrainingImage, size: int = VAL_SIZE) -> tuple[slice, slice]:
    top, bottom, left, right = image.valid_box
    height, width = min(size, bottom - top), min(size, right - left)
    y = top + (bottom - top - height) // 2
    x = left + (right - left - width) // 2
    return slice(y, y + height), slice(x, x + width)


ValidationPair = tuple[np.ndarray, np.ndarray, BlurEstimate]  # blurry, sharp, its true spot


def validation_pairs(images: list[TrainingImage], seed: int) -> list[ValidationPair]:
    """Fixed (blurry, sharp, spot) validation regions; sharp-only images get a seeded synthetic twin."""
    rng = np.random.default_rng(seed + 7919)
    pairs = []
    for image in images:
        region = central_region(image)
        sharp = image.sharp[region]
        if image.blurry is not None:
            pairs.append((image.blurry[region], sharp, image.blur or BlurEstimate.isotropic(0.0)))
        else:
            degradation = sample_degradation(rng)
            pairs.append((apply_degradation(sharp, degradation, rng), sharp, true_blur(degradation)))
    return pairs


def network_input(blurry: np.ndarray, spot: BlurEstimate | None, conditioned: bool) -> np.ndarray:
    """1 x P x H x W: the image, and for a kernel-aware network the spot's condition planes."""
    planes = [blurry[None].astype(np.float32)]
    if conditioned:
        spot = spot or BlurEstimate.isotropic(0.0)
        planes.append(condition_planes(blurry, uniform_covariances(spot, blurry.shape), noise_std(blurry)))
    return np.concatenate(planes)[None]


def validate(model, pairs: list[ValidationPair], device: str, step: int) -> Validated:
    """Mean PSNR/SSIM (data range 1) of the model's output over the validation regions (a
    kernel-aware network gets the true spot)."""
    import torch

    from ..metrics import psnr, ssim

    model.eval()
    conditioned = model.config.kernel_aware
    scores = []
    with torch.inference_mode():
        for blurry, sharp, spot in pairs:
            inputs = torch.from_numpy(np.ascontiguousarray(network_input(blurry, spot, conditioned))).to(device)
            restored = model(inputs)[0, 0].float().clamp(0, 1).cpu().numpy()
            scores.append((psnr(restored, sharp, value_range=1.0), ssim(restored, sharp, value_range=1.0)))
    model.train()
    mean = np.mean(scores, axis=0)
    return Validated(step, float(mean[0]), float(mean[1]))


def baseline(pairs: list[ValidationPair]) -> Validated:
    from ..metrics import psnr, ssim

    scores = [(psnr(b, s, value_range=1.0), ssim(b, s, value_range=1.0)) for b, s, _ in pairs]
    mean = np.mean(scores, axis=0)
    return Validated(0, float(mean[0]), float(mean[1]))


def train(model, train_set: list[TrainingImage], val_set: list[TrainingImage], config: TrainConfig,
          should_stop: Callable[[], bool] = lambda: False, resume: str | Path | None = None,
          device: str = "cpu") -> Generator[object, None, TrainResult]:
    """Adam with cosine decay lr -> lr_min over `iterations`, loss L1 + 0.05 edge + 0.01 FFT."""
    import torch

    from .losses import multiscale_loss

    check_training_data(train_set, config.crop)
    conditioned = model.config.condition_planes == CONDITION_PLANES
    if model.config.condition_planes not in (0, CONDITION_PLANES):
        raise ValueError(f"a kernel-aware network takes {CONDITION_PLANES} condition planes, "
                         f"not {model.config.condition_planes}")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.9))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.iterations,
                                                           eta_min=config.final_lr)
    checkpoint_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else default_checkpoint_dir()
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = checkpoint_dir / CHECKPOINT_NAME
    step, scores = 0, {}
    if resume is not None:
        step, scores = load_checkpoint(Path(resume), model, optimizer, scheduler, rng)
    first_step = step
    if conditioned:  # after the checkpoint: a bad one is reported before this work
        yield from fit_spots(train_set + val_set, should_stop)
    val_pairs = validation_pairs(val_set, config.seed)
    result = TrainResult(model, step, False, None)
    # Validate (before and after) as the weights will run once loaded from the file this run's
    # card describes: the pooling window follows the training crop
    model.set_pool_window(pool_window(config.crop))
    if val_pairs:
        # A resumed run keeps the scores of the model it started from (stored in the checkpoint),
        # so "before" always means the base model, never the half-trained one.
        result.baseline = scores.get("baseline") or baseline(val_pairs)
        result.before = scores.get("before") or validate(model, val_pairs, device, step)
        result.after = result.before
        yield result.before

    def save() -> CheckpointSaved | None:
        """The state after this run's steps; nothing when it trained none, and never over a
        checkpoint of a later step (an earlier run's: this one gets its own name)."""
        if step == first_step:
            return None
        stored = stored_step(checkpoint_path)
        path = checkpoint_path if stored is None or stored <= step else checkpoint_path.with_stem(
            f"{checkpoint_path.stem}-step{step}")
        save_checkpoint(path, model, optimizer, scheduler, rng, step, asdict(config),
                        {key: asdict(value) for key, value in (("before", result.before), ("baseline", result.baseline))
                         if value is not None})
        result.checkpoint = path
        return CheckpointSaved(step, path)

    try:
        while step < config.iterations:
            if should_stop():
                result.stopped = True
                saved = save()
                if saved is not None:
                    yield saved
                break
            inputs, targets = sample_batch(train_set, config, rng, conditioned)
            inputs, targets = torch.from_numpy(inputs).to(device), torch.from_numpy(targets).to(device)
            loss = multiscale_loss(model.forward_scales(inputs), targets)
            take_step(loss, model, optimizer, scheduler)
            step += 1
            event = TrainStep(step, config.iterations, loss.item(), float(scheduler.get_last_lr()[0]))
            result.history.append(event)
            yield event
            if val_pairs and (step % config.validation_interval == 0 or step == config.iterations):
                result.after = validate(model, val_pairs, device, step)
                result.history.append(result.after)
                yield result.after
            if step % config.checkpoint_interval == 0 or step == config.iterations:
                yield save()
    except (GeneratorExit, KeyboardInterrupt):  # napari closed, Ctrl-C: leave a resumable state
        save()
        raise
    if val_pairs and result.after.step != step:  # stopped between validations: score what is returned
        result.after = validate(model, val_pairs, device, step)
        result.history.append(result.after)
        yield result.after
    result.step = step
    model.eval()
    return result


def take_step(loss, model, optimizer, scheduler) -> None:
    """One optimiser step on `loss`, the gradient's norm clipped at 1 (every training here)."""
    import torch

    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()


def fit_spots(images: list[TrainingImage], should_stop: Callable[[], bool] = never
              ) -> Generator[SpotFitted, None, None]:
    """Fit each real pair's defocus spot (calibration.py) once: a kernel-aware network trains
    with it as the condition of that pair's crops. Stops between pairs when asked."""
    from .calibration import fit_degradation

    for image in images:
        if should_stop():
            return
        if image.blurry is not None and image.blur is None:
            image.blur = fit_degradation(image).blur()
            yield SpotFitted(image.name, image.blur.describe())
