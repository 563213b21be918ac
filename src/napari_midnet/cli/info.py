"""`napari-midnet info` and `bench`."""

from __future__ import annotations

from .. import __version__
from .common import CliError, emit_json


def info(args) -> int:
    from ..bundled import bundled_weights
    from ..config import DEFAULT_MODEL, PRESETS
    from ..device import pick_device
    from ..nets import build_model, count_parameters
    from ..weights import load_model

    presets = {}
    for name, preset in PRESETS.items():
        shipped = bundled_weights(name)
        entry = {"parameters": count_parameters(build_model(name)), "weights": shipped is not None,
                 "kernel_aware": preset.config.condition_planes > 0, "description": preset.summary}
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


def bench(args) -> int:
    from ..bench import FULL, QUICK, run_bench

    defaults = FULL if args.full else QUICK
    try:
        run_bench(args.presets or defaults["presets"], args.tiles or defaults["tiles"],
                  args.size or defaults["size"], defaults["big"] if args.big is None else args.big, args.device)
    except RuntimeError as error:
        raise CliError(str(error)) from None
    return 0
