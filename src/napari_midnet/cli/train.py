"""`napari-midnet train` and `evaluate`: the same training job the dock runs, from folders."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..events import PairAligned, SpotFitted, Validated
from .common import (
    EXIT_INTERRUPTED,
    CliError,
    check_device,
    command_line,
    emit_json,
    load_model_or_fail,
    run_with_bar,
)


def train(args) -> int:
    from ..io.files import ImageReadError
    from ..io.paths import check_writable_folder
    from ..models.weights import save_weights
    from ..restoration.device import pick_device
    from ..training.checkpoints import CHECKPOINT_NAME, default_checkpoint_dir, read_checkpoint
    from ..training.finetune import AUTO_VALIDATION, FinetuneRequest, FinetuneSettings, finetune_job
    from ..training.pairs import PairError

    if args.out.suffix != ".safetensors":
        raise CliError("--out must name a .safetensors file")
    if args.out.exists() and not args.overwrite:
        raise CliError(f"{args.out} exists already; use --overwrite to replace it")
    if args.iterations < 1:
        raise CliError(f"--iterations must be at least 1 (0 would save the base model as if trained), "
                       f"got {args.iterations}")
    try:
        check_writable_folder(args.out.parent)  # before the work, not after it
        if args.resume is not None:
            read_checkpoint(args.resume)
    except (OSError, ValueError) as error:
        raise CliError(str(error)) from None
    check_device(args.device)
    if not 0.0 <= args.real_fraction <= 1.0:
        raise CliError("--real-fraction must be between 0 and 1")
    if not args.pairs and not args.sharp_only:
        raise CliError("give training data with --pairs DIR and/or --sharp-only DIR")
    settings = FinetuneSettings(
        iterations=args.iterations, lr=args.lr, crop=args.crop, batch=args.batch, seed=args.seed,
        validation=tuple(args.val) if args.val else AUTO_VALIDATION, align=not args.no_align,
        real_fraction=args.real_fraction, blur_scale=args.blur_scale, output_name=args.out.stem,
        checkpoint_dir=str(args.checkpoints) if args.checkpoints else None)
    deadline = time.monotonic() + 60 * args.max_minutes if args.max_minutes else float("inf")
    request = FinetuneRequest(_base_model(args), settings, pair_folders=tuple(args.pairs),
                              sharp_folders=tuple(args.sharp_only), resume=args.resume, device=args.device,
                              should_stop=lambda: time.monotonic() > deadline, command=command_line(args))
    print(f"training {request.base.name} on {pick_device(args.device)}", file=sys.stderr)
    checkpoint = Path(settings.checkpoint_dir or default_checkpoint_dir()) / CHECKPOINT_NAME
    started = time.time()
    try:
        outcome = run_with_bar(finetune_job(request), "train", _progress_note())
    except (PairError, ImageReadError, ValueError, FileNotFoundError) as error:
        raise CliError(str(error)) from None
    except KeyboardInterrupt:
        if checkpoint.is_file() and checkpoint.stat().st_mtime >= started:
            print(f"napari-midnet: interrupted; the training state is in {checkpoint}: continue with "
                  f"--resume {checkpoint}", file=sys.stderr)
            return EXIT_INTERRUPTED
        raise
    training = outcome.card["training"]
    print(f"trained on {', '.join(training['train'])}; validated on {', '.join(training['validation']) or 'nothing'}",
          file=sys.stderr)
    if summary := outcome.summary():
        print(summary, file=sys.stderr)
    from safetensors import SafetensorError

    try:
        save_weights(outcome.loaded.model, args.out, outcome.card)
    except (OSError, SafetensorError) as error:
        why = getattr(error, "strerror", None) or error  # a SafetensorError has no strerror
        raise CliError(f"cannot write {args.out} ({why}); the training state is in "
                       f"{outcome.result.checkpoint}: write it with --resume {outcome.result.checkpoint}") from None
    print(f"wrote {args.out} ({outcome.result.step} iterations; checkpoint {outcome.result.checkpoint})")
    return 0


def _base_model(args):
    """A fresh network of --preset (initialised from --seed; from --init's weights where they
    fit), or the weights of --init (default: the default model)."""
    from ..models.config import DEFAULT_MODEL
    from ..models.weights import WeightsError, fresh_model, require_trainable, warm_start

    if not args.preset:
        loaded = load_model_or_fail(args.init or DEFAULT_MODEL)
        try:
            require_trainable(loaded)
        except WeightsError as error:
            raise CliError(str(error)) from None
        return loaded
    try:
        fresh = fresh_model(args.preset, seed=args.seed, name=f"fresh {args.preset}")
        return warm_start(fresh, load_model_or_fail(args.init)) if args.init else fresh
    except (ValueError, WeightsError) as error:
        raise CliError(str(error)) from None


def _progress_note():
    """The bar's note: loss and the last validation PSNR; alignments are printed as they come."""
    last: list[Validated] = []

    def note(event) -> str:
        if isinstance(event, PairAligned) and event.ok:
            print(f"registered {event.name}: {event.description}", file=sys.stderr)
        if isinstance(event, SpotFitted):
            print(event.sentence(), file=sys.stderr)
        if isinstance(event, Validated):
            last[:] = [event]
        loss = f"loss {event.loss:.4f}" if hasattr(event, "loss") else ""
        return loss + (f" val PSNR {last[0].psnr:.2f} dB" if last else "")

    return note


def evaluate(args) -> int:
    from ..io.files import ImageReadError
    from ..jobs.evaluation import evaluate_pairs
    from ..restoration.restore import RestoreOptions
    from ..training.pairs import PairError, load_pair_folder

    try:
        pairs = load_pair_folder(args.pairs, align=not args.no_align)
    except (PairError, ImageReadError) as error:
        raise CliError(str(error)) from None
    loaded = load_model_or_fail(args.model)
    options = RestoreOptions(device=args.device, ensemble=args.ensemble)
    report = run_with_bar(evaluate_pairs(loaded.model, pairs, options, args.wiener), "evaluate")
    report["model"] = {"name": loaded.name, "sha256": loaded.sha256, "trained": loaded.trained}
    if args.json:
        emit_json(report)
        return 0
    kinds = [kind for kind in ("input", "output", "wiener") if kind in report["mean"]]
    print(f"{'image':<16}" + "".join(f" {kind + ' PSNR':>12} {'SSIM':>6}" for kind in kinds))
    for name, row in list(report["images"].items()) + [("mean", report["mean"])]:
        print(f"{name:<16}" + "".join(f" {row[kind]['psnr']:>12.2f} {row[kind]['ssim']:>6.3f}" for kind in kinds))
    return 0
