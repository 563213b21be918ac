"""The CLI's subcommands; each takes the parsed arguments and returns an exit status."""

from __future__ import annotations

import shlex
import sys
import time

from . import __version__
from .cli import CliError, elapsed_since, emit_json
from .progress import ProgressBar


def load_model_or_fail(spec: str):
    from .weights import WeightsError, load_model

    try:
        loaded = load_model(spec)
    except WeightsError as error:
        raise CliError(str(error)) from None
    if not loaded.trained:
        print(f"napari-midnet: warning: model {loaded.name!r} is UNTRAINED (no trained weights ship "
              "for it); its output is not a real deblurring", file=sys.stderr)
    return loaded


def run_with_bar(generator, label: str, note=lambda event: ""):
    """Drive a progress generator, drawing a bar; returns the generator's result."""
    bar = None
    try:
        while True:
            event = next(generator)
            text = note(event)  # every event, so notes can remember e.g. the last validation
            if hasattr(event, "tiles") or hasattr(event, "iterations"):
                if bar is None:
                    bar = ProgressBar(label, _total(event))
                bar.update(_done(event), text)
    except StopIteration as stop:
        return stop.value
    finally:
        if bar is not None:
            bar.close()


def _total(event) -> int:
    return event.tiles * event.slices if hasattr(event, "tiles") else event.iterations


def _done(event) -> int:
    return event.slice * event.tiles + event.tile if hasattr(event, "tiles") else event.step


def deblur(args) -> int:
    from .files import ImageReadError, collect_inputs, read_image, write_tiff
    from .restore import RestoreOptions, restore
    from .samples import sample_paths

    inputs = collect_inputs(args.inputs) + ([sample_paths()["SEM blurry"]] if args.sample else [])
    if not inputs:
        raise CliError("no image files in the given inputs (give files or folders, or --sample)")
    outputs = [args.outdir / f"{path.stem}{args.suffix}.tif" for path in inputs]
    for source, target in zip(inputs, outputs):
        if not source.exists():
            raise CliError(f"input not found: {source}")
        if target.exists() and not args.overwrite:
            raise CliError(f"{target} exists (use --overwrite to replace it)")
        if target.resolve() == source.resolve():
            raise CliError(f"{target} would overwrite its input; choose another --outdir or --suffix")
    loaded = load_model_or_fail(args.model)
    options = RestoreOptions(tile=args.tile, overlap=args.overlap, device=args.device,
                             float32=args.float32, keep_databar=not args.include_databar,
                             ensemble=args.ensemble, strength=args.strength)
    if not 0.0 <= args.strength <= 1.0:
        raise CliError(f"--strength must be between 0 and 1, got {args.strength}")
    for source, target in zip(inputs, outputs):
        start = time.monotonic()
        try:
            image = read_image(source)
            restored = run_with_bar(restore(image, loaded.model, options), source.name)
        except (ImageReadError, ValueError) as error:
            raise CliError(str(error)) from None
        write_tiff(target, restored, overwrite=args.overwrite)
        readout = _sharpness_readout(image, restored)
        print(f"{source.name} -> {target}  sharpness {readout.source_sharpness:.3f} -> "
              f"{readout.result_sharpness:.3f} (x{readout.sharpness_ratio:.2f})  {elapsed_since(start)}")
        if readout.notice:
            print(f"note: {source.name}: {readout.notice}", file=sys.stderr)
    return 0


def _sharpness_readout(image, restored):
    """Sharpness of the middle gray plane, above the databar (as the dock's readout)."""
    from .readouts import compute_readout

    def plane(array):
        if array.ndim == 3 and array.shape[-1] in (3, 4):
            array = array[..., :3].mean(axis=-1)
        while array.ndim > 2:
            array = array[array.shape[0] // 2]
        return array

    return compute_readout(plane(image), plane(restored))


def info(args) -> int:
    from .config import DEFAULT_MODEL
    from .model import PRESETS, build_model, count_parameters
    from .restore import pick_device
    from .weights import bundled_weights, load_model

    presets = {}
    for name, preset in PRESETS.items():
        shipped = bundled_weights(name)
        entry = {"parameters": count_parameters(build_model(name)), "weights": shipped is not None,
                 "description": preset.summary}
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
        print(f"  {name:<9} {entry['parameters'] / 1e6:6.2f} M parameters  {weights}  - {entry['description']}")
    return 0


def bench(args) -> int:
    from .bench import run_bench

    run_bench(args.presets, args.tiles, args.size, args.big, args.device)
    return 0


def command_line() -> str:
    """The command as typed, for model cards."""
    return "napari-midnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
