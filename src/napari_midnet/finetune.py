"""Fine-tuning a model on the user's own images (the widget's worker runs `finetune_job`).

Sources are blurry/sharp pairs (layers or files; aligned automatically) and sharp-only images
(blurred by the SEM simulator). Validation holds out one whole image, or, with a single image,
the bottom quarter of it, so validation never shares pixels with training crops.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .device import pick_device
from .events import PairAligned, Validated
from .files import read_image
from .pairs import PairError, TrainingImage, make_pair, make_sharp_only, pair_files
from .training import TrainConfig, TrainResult, default_checkpoint_dir, train
from .weights import LoadedModel, tensors_sha256

AUTO_VALIDATION = "automatic"
HELD_OUT_FRACTION = 0.25


@dataclass
class TrainingSource:
    """One image for fine-tuning: a pair (blurry given) or a sharp-only image."""

    name: str
    sharp: np.ndarray
    blurry: np.ndarray | None = None
    origin: str = ""  # layer name or file path, for the model card


@dataclass
class FinetuneSettings:
    iterations: int = 300
    lr: float = 2e-4
    crop: int = 128
    batch: int = 4
    validation: str = AUTO_VALIDATION  # or the name of the image to hold out
    seed: int = 0
    align: bool = True
    strength: float = 1.0  # blur strength of the simulator for sharp-only images
    max_residual: float = 1.5  # pixels; pairs aligning worse are refused
    checkpoint_dir: str | None = None
    output_name: str = "fine-tuned"


@dataclass
class FinetuneOutcome:
    loaded: LoadedModel
    result: TrainResult
    card: dict = field(default_factory=dict)

    @property
    def improved(self) -> bool:
        """Validation PSNR went up (or there was nothing to validate): safe to make it the active model."""
        metrics = self.card.get("metrics")
        return metrics is None or metrics["after"]["psnr"] > metrics["before"]["psnr"]


def folder_sources(folder: str | Path) -> list[TrainingSource]:
    """Pairs from a `blurry/` + `sharp/` folder, read but not yet aligned."""
    return [TrainingSource(name, read_image(sharp), read_image(blurry), origin=str(blurry.parent.parent))
            for name, blurry, sharp in pair_files(folder)]


def ensure_writable(folder: str | Path) -> Path:
    """Fail before training, in one sentence, if checkpoints cannot be written there."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ValueError(f"cannot write checkpoints to {folder}: {error.strerror or error}") from None
    return folder


def prepare_images(sources: list[TrainingSource], settings: FinetuneSettings
                   ) -> Generator[PairAligned, None, list[TrainingImage]]:
    if not sources:
        raise ValueError("no training images: add at least one pair or sharp image")
    images = []
    for source in sources:
        if source.blurry is None:
            images.append(make_sharp_only(source.name, source.sharp))
            continue
        try:
            pair = make_pair(source.name, source.blurry, source.sharp, register=settings.align,
                             max_residual=settings.max_residual)
        except PairError as error:
            yield PairAligned(source.name, str(error), float("inf"), False)
            raise
        if pair.registration is not None:
            yield PairAligned(source.name, pair.registration.describe(), pair.registration.residual, True)
        images.append(pair)
    return images


def split_validation(images: list[TrainingImage], choice: str) -> tuple[list[TrainingImage], list[TrainingImage]]:
    names = [image.name for image in images]
    if choice != AUTO_VALIDATION:
        if choice not in names:
            raise ValueError(f"the validation image {choice!r} is not among the training images")
        return [i for i in images if i.name != choice], [i for i in images if i.name == choice]
    if len(images) >= 2:
        held = next((i for i in reversed(images) if i.blurry is not None), images[-1])
        return [i for i in images if i is not held], [held]
    train_part, val_part = hold_out_rows(images[0])
    return [train_part], [val_part]


def hold_out_rows(image: TrainingImage, fraction: float = HELD_OUT_FRACTION) -> tuple[TrainingImage, TrainingImage]:
    """Split one image into a training part and a disjoint validation strip (its bottom rows)."""
    top, bottom, _, _ = image.valid_box
    cut = bottom - int((bottom - top) * fraction)
    train_mask, val_mask = image.mask.copy(), image.mask.copy()
    train_mask[cut:] = False
    val_mask[:cut] = False
    return replace(image, mask=train_mask), replace(image, name=f"{image.name} (bottom {fraction:.0%})", mask=val_mask)


def finetune_job(base: LoadedModel, sources: list[TrainingSource], settings: FinetuneSettings,
                 should_stop: Callable[[], bool] = lambda: False, resume: str | Path | None = None,
                 device: str = "auto", folders: tuple[str | Path, ...] = (), initial: Validated | None = None,
                 ) -> Generator[object, None, FinetuneOutcome]:
    """Align, split, train a copy of `base`; the base model itself is never modified.

    `folders` are pairs folders read here (in the worker); `initial` is the validation score of
    the base model from the first run when this one resumes, so the card compares with the base.
    """
    device = pick_device(device)
    folder = ensure_writable(settings.checkpoint_dir or default_checkpoint_dir())
    sources = list(sources) + [source for path in folders for source in folder_sources(path)]
    images = yield from prepare_images(sources, settings)
    train_set, val_set = split_validation(images, settings.validation)
    model = copy.deepcopy(base.model)
    config = TrainConfig(iterations=settings.iterations, crop=settings.crop, batch=settings.batch, lr=settings.lr,
                         lr_min=settings.lr * 1e-3, seed=settings.seed, val_every=max(settings.iterations // 10, 10),
                         checkpoint_every=max(settings.iterations // 5, 25), checkpoint_dir=str(folder),
                         synthetic_strength=settings.strength)
    result = yield from train(model, train_set, val_set, config, should_stop=should_stop, resume=resume,
                              device=device)
    card = {
        "preset": base.card.get("preset", base.name),
        "trained": True,
        "base": {"name": base.name, "sha256": base.sha256},
        "training": {
            "kind": "fine-tuning in napari",
            "images": [{"name": s.name, "origin": s.origin, "pair": s.blurry is not None,
                        "size": list(s.sharp.shape)} for s in sources],
            "validation": [v.name for v in val_set],
            "iterations": result.step, "lr": settings.lr, "crop": settings.crop, "batch": settings.batch,
            "seed": settings.seed, "aligned": settings.align,
        },
    }
    before = initial or result.before
    if before is not None and result.after is not None:
        card["metrics"] = {"before": {"psnr": before.psnr, "ssim": before.ssim},
                           "after": {"psnr": result.after.psnr, "ssim": result.after.ssim}}
    loaded = LoadedModel(result.model.cpu().eval(), settings.output_name, card)
    loaded.sha256 = tensors_sha256(loaded.model.state_dict())
    return FinetuneOutcome(loaded, result, card)
