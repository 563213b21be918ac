"""The one training job: `napari-midnet train` and the dock's Fine-tune panel both run it.

Sources are blurry/sharp pairs (layers, or pairs folders; aligned automatically) and sharp-only
images (layers or folders; blurred by the SEM simulator). Validation holds out the named images,
or automatically the last pair (the last image when there is no pair), or, when there is only
one image, its bottom quarter, so validation never shares pixels with training crops. The same
data gives the same split, training settings and model card, whoever runs it.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from psygnal import evented

from ..events import PairAligned, StopRequested, never
from ..models.weights import LoadedModel, require_trainable, tensors_sha256
from ..restoration.device import pick_device
from .checkpoints import default_checkpoint_dir
from .loop import VAL_SIZE, TrainConfig, TrainResult, fit_spots, train
from .pairs import (
    PairError,
    TrainingImage,
    TrainingSource,
    make_pair,
    make_sharp_only,
    pair_folder_sources,
    sharp_folder_sources,
)

AUTO_VALIDATION = "automatic"
HELD_OUT_FRACTION = 0.25


@evented
@dataclass
class FinetuneSettings(TrainConfig):
    """The training hyper-parameters (one declaration, in training.py) plus what the job adds."""

    validation: str | tuple[str, ...] = AUTO_VALIDATION  # or the names of the images to hold out
    align: bool = True
    max_residual: float = 1.5  # pixels; pairs aligning worse are refused
    output_name: str = "fine-tuned"


@dataclass
class FinetuneRequest:
    """Everything one training run needs; the dock's worker and the CLI build one."""

    base: LoadedModel  # trained further on a copy; never modified
    settings: FinetuneSettings
    sources: list[TrainingSource] = field(default_factory=list)  # in-memory images (layers)
    pair_folders: tuple[str | Path, ...] = ()  # read in the job, so in the worker
    sharp_folders: tuple[str | Path, ...] = ()
    resume: str | Path | None = None
    device: str = "auto"
    should_stop: Callable[[], bool] = never
    command: str | None = None  # the command line, recorded in the card
    prepared: list[TrainingImage] | None = None  # the images of an earlier run (Resume): not aligned again


@dataclass
class FinetuneOutcome:
    loaded: LoadedModel
    result: TrainResult
    card: dict = field(default_factory=dict)
    images: list[TrainingImage] = field(default_factory=list)  # aligned and normalised, for a Resume

    @property
    def improved(self) -> bool:
        """Validation PSNR went up (or there was nothing to validate): safe to make it the active model."""
        metrics = self.card.get("metrics")
        return metrics is None or metrics["after"]["psnr"] > metrics["before"]["psnr"]

    def summary(self) -> str:
        """How it validated, in one sentence for the CLI and the dock ("" when nothing was), with a
        remark when it validates worse than the model it started from (a resumed run's base too)."""
        metrics = self.card.get("metrics")
        if metrics is None:
            return ""
        before, after, given = metrics["before"], metrics["after"], metrics["input"]
        text = (f"validation PSNR {before['psnr']:.2f} -> {after['psnr']:.2f} dB, SSIM {before['ssim']:.3f} -> "
                f"{after['ssim']:.3f} (blurry input: {given['psnr']:.2f} dB, {given['ssim']:.3f})")
        if not self.improved:
            text += (f"; worse than the model it started from by {before['psnr'] - after['psnr']:.2f} dB: keep that "
                     "one, or train with more pairs or a lower learning rate")
        return text


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


def prepare_images(sources: list[TrainingSource], settings: FinetuneSettings, should_stop: Callable[[], bool] = never
                   ) -> Generator[PairAligned, None, list[TrainingImage] | None]:
    """Normalised (and aligned) training images; None when asked to stop between two of them."""
    if not sources:
        raise ValueError("no training images: add at least one pair or sharp image")
    images = []
    for source in sources:
        if should_stop():
            return None
        if source.blurry is None:
            images.append(make_sharp_only(source.name, source.sharp))
            continue
        try:
            pair = make_pair(source.name, source.blurry, source.sharp, align=settings.align,
                             max_residual=settings.max_residual, should_stop=should_stop)
        except StopRequested:
            return None
        except PairError as error:
            yield PairAligned(source.name, str(error).removeprefix(f"{source.name}: "), float("inf"), False)
            raise
        if pair.registration is not None:
            yield PairAligned(source.name, pair.registration.describe(), pair.registration.residual, True)
        images.append(pair)
    return images


def split_validation(images: list[TrainingImage], choice: str | tuple[str, ...]
                     ) -> tuple[list[TrainingImage], list[TrainingImage]]:
    """(training, validation). A held-out name leaves training entirely; it validates on its pair
    when the same image also came as a sharp-only twin."""
    names = list(dict.fromkeys(image.name for image in images))
    if choice == AUTO_VALIDATION:
        if len(names) == 1:
            train_part, val_part = hold_out_rows(images[0])
            return [train_part], [val_part]
        held = {next((i for i in reversed(images) if i.blurry is not None), images[-1]).name}
    else:
        held = {choice} if isinstance(choice, str) else set(choice)
        unknown = held - set(names)
        if unknown:
            raise ValueError(f"the validation image(s) {', '.join(sorted(unknown))} are not among the training images")
    train_set = [image for image in images if image.name not in held]
    if not train_set:
        raise ValueError("every image is held out for validation; leave at least one for training")
    paired = {image.name for image in images if image.blurry is not None}
    val_set = [image for image in images
               if image.name in held and (image.blurry is not None or image.name not in paired)]
    return train_set, val_set


def hold_out_rows(image: TrainingImage, fraction: float = HELD_OUT_FRACTION) -> tuple[TrainingImage, TrainingImage]:
    """Split one image into a training part and a disjoint validation strip (its bottom rows)."""
    top, bottom, _, _ = image.valid_box
    cut = bottom - int((bottom - top) * fraction)
    train_mask, val_mask = image.mask.copy(), image.mask.copy()
    train_mask[cut:] = False
    val_mask[:cut] = False
    return replace(image, mask=train_mask), replace(image, name=f"{image.name} (bottom {fraction:.0%})", mask=val_mask)


def finetune_job(request: FinetuneRequest) -> Generator[object, None, FinetuneOutcome]:
    """Read, align, split, train a copy of the base model; returns it with its model card.

    Yields PairAligned, TrainStep, Validated and CheckpointSaved events.
    """
    settings = request.settings
    require_trainable(request.base)
    device = pick_device(request.device)
    folder = ensure_writable(settings.checkpoint_dir or default_checkpoint_dir())
    sources = (list(request.sources) + [s for path in request.pair_folders for s in pair_folder_sources(path)]
               + [s for path in request.sharp_folders for s in sharp_folder_sources(path)])
    images = request.prepared or (yield from prepare_images(sources, settings, request.should_stop))
    if images is None:  # stopped while aligning: nothing trained, nothing to keep
        return FinetuneOutcome(request.base, TrainResult(request.base.model, 0, True, None))
    if request.base.model.config.kernel_aware:  # on the images kept for Resume, so it never fits them again
        yield from fit_spots(images, request.should_stop)
    train_set, val_set = split_validation(images, settings.validation)
    config = TrainConfig(**{f.name: getattr(settings, f.name) for f in fields(TrainConfig)})
    config.checkpoint_dir = str(folder)
    result = yield from train(copy.deepcopy(request.base.model), train_set, val_set, config,
                              should_stop=request.should_stop, resume=request.resume, device=device)
    card = model_card(request, sources, train_set, val_set, result)
    model = result.model.cpu().eval()
    return FinetuneOutcome(LoadedModel(model, settings.output_name, card, tensors_sha256(model.state_dict())),
                           result, card, images)


def model_card(request: FinetuneRequest, sources: list[TrainingSource], train_set: list[TrainingImage],
               val_set: list[TrainingImage], result: TrainResult) -> dict:
    """What was trained from what, how, and how it validated (the base's score as "before")."""
    base, settings = request.base, request.settings
    card = {
        "preset": base.card.get("preset", base.name),
        "trained": True,
        "base": {"name": base.name, "sha256": base.sha256, "trained": base.trained},
        "training": {
            "command": request.command,
            "images": [{"name": s.name, "origin": s.origin, "pair": s.blurry is not None,
                        "size": list(s.sharp.shape)} for s in sources],
            "train": sorted({image.name for image in train_set}),
            "validation": [image.name for image in val_set],
            "iterations": result.step, "lr": settings.lr, "crop": settings.crop, "batch": settings.batch,
            "seed": settings.seed, "aligned": settings.align, "real_fraction": settings.real_fraction,
            "simulated_blur_scale": settings.blur_scale, "loss": "L1 + 0.05 edge + 0.01 FFT",
        },
    }
    if result.before is not None and result.after is not None:
        card["metrics"] = {
            "validation_region": f"central {VAL_SIZE}x{VAL_SIZE} of each validation image's valid area",
            "input": {"psnr": result.baseline.psnr, "ssim": result.baseline.ssim},
            "before": {"psnr": result.before.psnr, "ssim": result.before.ssim},
            "after": {"psnr": result.after.psnr, "ssim": result.after.ssim},
        }
    return card
