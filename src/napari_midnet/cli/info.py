"""`napari-midnet info` and `bench`."""

from __future__ import annotations

from .. import __version__
from .common import CliError, emit_json, load_model_or_fail


def info(args) -> int:
    if args.model:
        return model_info(args)
    from ..bundled import bundled_weights
    from ..models.config import DEFAULT_MODEL, PRESETS
    from ..models.loader import load_model
    from ..models.nets import build_model, count_parameters
    from ..restoration.device import pick_device

    presets = {}
    for name, preset in PRESETS.items():
        shipped = bundled_weights(name)
        entry = {"parameters": count_parameters(build_model(name)), "weights": shipped is not None,
                 "kernel_aware": preset.config.kernel_aware, "description": preset.summary}
        if shipped is not None:
            card = load_model(name).card
            entry["metrics"] = card.get("metrics", {})
        presets[name] = entry
    data = {"version": __version__, "device": pick_device("auto"), "default_model": DEFAULT_MODEL,
            "presets": presets}
    if args.json:
        emit_json(data)
        return 0
    print(f"napari-midnet {data['version']}  device: {data['device']}  default model: {DEFAULT_MODEL}")
    for name, entry in presets.items():
        weights = "trained weights ship" if entry["weights"] else "UNTRAINED (no weights ship)"
        print(f"  {name:<13} {entry['parameters'] / 1e6:6.2f} M parameters  {weights}  - {entry['description']}")
    return 0


def model_info(args) -> int:
    """One model's card (a preset's shipped weights or a weights file): what it is and how it was made."""
    loaded = load_model_or_fail(args.model)
    config = loaded.model.config
    summary = {"name": loaded.name, "sha256": loaded.sha256, "trained": loaded.trained,
               "kernel_aware": config.kernel_aware, "architecture": config.as_dict(), "card": loaded.card}
    if args.json:
        emit_json(summary)
        return 0
    metrics = loaded.card.get("metrics", {})
    print(f"{loaded.name}: {'trained' if loaded.trained else 'UNTRAINED'}, "
          f"{'kernel-aware' if summary['kernel_aware'] else 'blind'}, sha256 {loaded.sha256[:12]}…")
    if "after" in metrics:
        print(f"  validation PSNR {metrics['before']['psnr']:.2f} -> {metrics['after']['psnr']:.2f} dB "
              f"({metrics.get('validation_region', '')})")
    training = loaded.card.get("training", {})
    if training.get("command"):
        print(f"  trained by: {training['command']}")
    print("  the whole card: napari-midnet info MODEL --json")
    return 0


def bench(args) -> int:
    from ..jobs.bench import FULL, QUICK, SCALE_FULL_SHAPE, SCALE_SHAPES, run_bench, run_scale_bench
    from ..models.config import DEFAULT_MODEL

    defaults = FULL if args.full else QUICK
    try:
        if args.scale:
            run_scale_bench(SCALE_SHAPES + ([SCALE_FULL_SHAPE] if args.full else []),
                            (args.presets or [DEFAULT_MODEL])[0])
            return 0
        run_bench(args.presets or defaults["presets"], args.tiles or defaults["tiles"],
                  args.size or defaults["size"], defaults["big"] if args.big is None else args.big, args.device,
                  backends=args.backends)
    except RuntimeError as error:
        raise CliError(str(error)) from None
    return 0
