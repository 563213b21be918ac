"""The CLI's `train` and `evaluate` subcommands."""

from __future__ import annotations

import sys
import time

from ..events import Validated
from .common import CliError, command_line, emit_json, load_model_or_fail, run_with_bar


def _load_training_data(args):
    from ..files import ImageReadError
    from ..pairs import PairError, load_pair_folder, load_sharp_folder

    log = lambda message: print(f"registered {message}", file=sys.stderr)  # noqa: E731
    try:
        pairs = [p for folder in args.pairs for p in load_pair_folder(folder, not args.no_register, log=log)]
        sharp = [s for folder in args.sharp_only for s in load_sharp_folder(folder)]
    except (PairError, ImageReadError) as error:
        raise CliError(str(error)) from None
    images = pairs + sharp
    if not images:
        raise CliError("give training data with --pairs DIR and/or --sharp-only DIR")
    names = {image.name for image in images}
    held_out = set(args.val) if args.val is not None else ({sorted(names)[-1]} if len(names) > 1 else set())
    unknown = held_out - names
    if unknown:
        raise CliError(f"--val names no image of the training data: {', '.join(sorted(unknown))}")
    train_set = [image for image in images if image.name not in held_out]
    val_set = [image for image in images if image.name in held_out]
    # The same frame may come both as a pair and as a sharp-only image: validate it once, on the pair.
    val_set = [v for v in val_set if v.blurry is not None or all(p.name != v.name for p in pairs)]
    if not train_set:
        raise CliError("every image is held out for validation; leave at least one for training")
    return train_set, val_set


def train(args) -> int:
    from ..config import DEFAULT_MODEL
    from ..device import pick_device
    from ..nets import build_model
    from ..training import TrainConfig
    from ..training import train as train_generator
    from ..weights import save_weights

    if not args.out.suffix == ".safetensors":
        raise CliError("--out must name a .safetensors file")
    train_set, val_set = _load_training_data(args)
    if args.preset:
        try:
            model, base = build_model(args.preset), f"fresh {args.preset}"
        except ValueError as error:
            raise CliError(str(error)) from None
        preset = args.preset
    else:
        loaded = load_model_or_fail(args.init or DEFAULT_MODEL)
        model, base = loaded.model, f"{loaded.name} (sha256 {loaded.sha256[:12]})"
        preset = loaded.card.get("preset", loaded.name)
    if not 0.0 <= args.real_fraction <= 1.0:
        raise CliError("--real-fraction must be between 0 and 1")
    config = TrainConfig(iterations=args.iterations, crop=args.crop, batch=args.batch, lr=args.lr,
                         seed=args.seed, real_fraction=args.real_fraction,
                         checkpoint_dir=str(args.checkpoints) if args.checkpoints else None)
    device = pick_device(args.device)
    print(f"training {base} on {len(train_set)} images ({', '.join(i.name for i in train_set)}), "
          f"validating on {', '.join(i.name for i in val_set) or 'nothing'}, device {device}", file=sys.stderr)
    last_val: list[Validated] = []

    def note(event) -> str:
        if isinstance(event, Validated):
            last_val[:] = [event]
        loss = f"loss {event.loss:.4f}" if hasattr(event, "loss") else ""
        return loss + (f" val PSNR {last_val[0].psnr:.2f} dB" if last_val else "")

    deadline = time.monotonic() + 60 * args.max_minutes if args.max_minutes else float("inf")
    out_of_time = lambda: time.monotonic() > deadline  # noqa: E731
    try:
        result = run_with_bar(train_generator(model, train_set, val_set, config, should_stop=out_of_time,
                                              resume=args.resume, device=device), "train", note)
    except (ValueError, FileNotFoundError) as error:
        raise CliError(str(error)) from None
    card = {
        "preset": preset,
        "trained": True,
        "base": base,
        "training": {
            "command": command_line(),
            "data": {"pairs": [str(p) for p in args.pairs], "sharp_only": [str(p) for p in args.sharp_only],
                     "train": [i.name for i in train_set], "validation": [i.name for i in val_set]},
            "iterations": result.step, "crop": args.crop, "batch": args.batch, "seed": args.seed,
            "real_fraction": args.real_fraction,
            "loss": "L1 + 0.05 edge + 0.01 FFT",
        },
    }
    if result.after is not None:
        card["metrics"] = {
            "validation_region": "central 512x512 of each validation image's registered valid area",
            "input": {"psnr": result.baseline.psnr, "ssim": result.baseline.ssim},
            "before": {"psnr": result.before.psnr, "ssim": result.before.ssim},
            "after": {"psnr": result.after.psnr, "ssim": result.after.ssim},
        }
        print(f"validation PSNR {result.before.psnr:.2f} -> {result.after.psnr:.2f} dB, "
              f"SSIM {result.before.ssim:.3f} -> {result.after.ssim:.3f} "
              f"(blurry input: {result.baseline.psnr:.2f} dB, {result.baseline.ssim:.3f})", file=sys.stderr)
    save_weights(result.model, args.out, card)
    print(f"wrote {args.out} ({result.step} iterations; checkpoint {result.checkpoint})")
    return 0


def evaluate(args) -> int:
    from ..evaluation import evaluate_pairs
    from ..files import ImageReadError
    from ..pairs import PairError, load_pair_folder
    from ..restore import RestoreOptions

    try:
        pairs = load_pair_folder(args.pairs, register=not args.no_register)
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
