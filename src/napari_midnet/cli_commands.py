"""The CLI's subcommands; each takes the parsed arguments and returns an exit status."""

from __future__ import annotations

import shlex
import sys
import time

from . import __version__
from .cli import EXIT_FAILURE, CliError, elapsed_since, emit_json
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
    elif not loaded.card:
        print(f"napari-midnet: note: {loaded.name} has no model card, so how it was trained is unknown",
              file=sys.stderr)
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
    """Every output is planned and checked before any compute; a bad file is reported and the
    batch goes on; the exit status is 1 if any file failed."""
    from .bundled import sample_paths
    from .files import check_writable_folder, collect_inputs, plan_outputs
    from .restore import RestoreOptions

    inputs = collect_inputs(args.inputs) + ([sample_paths()["SEM blurry"]] if args.sample else [])
    if not inputs:
        raise CliError("no image files in the given inputs (give files or folders, or --sample)")
    if args.overwrite and args.skip_existing:
        raise CliError("--overwrite and --skip-existing contradict each other; choose one")
    if not 0.0 <= args.strength <= 1.0:
        raise CliError(f"--strength must be between 0 and 1, got {args.strength}")
    missing = [str(path) for path in inputs if not path.exists()]
    if missing:
        raise CliError(f"input not found: {', '.join(missing)}")
    try:
        outputs = plan_outputs(inputs, args.outdir, args.suffix)
        check_writable_folder(args.outdir)
    except (ValueError, OSError) as error:
        raise CliError(str(error)) from None
    existing = [target for target in outputs if target.exists()]
    if existing and not (args.overwrite or args.skip_existing):
        which = f"{existing[0]} exists" if len(existing) == 1 else f"{len(existing)} outputs exist, e.g. {existing[0]},"
        raise CliError(f"{which} already; use --overwrite to replace or --skip-existing to keep existing outputs")
    loaded = load_model_or_fail(args.model)
    options = RestoreOptions(tile=args.tile, overlap=args.overlap, device=args.device,
                             float32=args.float32, keep_databar=not args.include_databar,
                             ensemble=args.ensemble, strength=args.strength)
    failed = []
    for source, target in zip(inputs, outputs):
        if args.skip_existing and target.exists():
            print(f"{source.name}: {target} exists, skipped")
            continue
        try:
            _deblur_file(source, target, loaded, options, args.overwrite)
        except (ValueError, OSError) as error:  # ImageReadError is a ValueError
            failed.append(source.name)
            print(f"napari-midnet: error: {source.name}: {error}", file=sys.stderr)
    if failed:
        print(f"napari-midnet: {len(failed)} of {len(inputs)} images failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _deblur_file(source, target, loaded, options, overwrite: bool) -> None:
    from .device import pick_device
    from .files import read_image, read_tiff_layout, write_tiff
    from .restore import restore

    start = time.monotonic()
    image = read_image(source)
    restored = run_with_bar(restore(image, loaded.model, options), source.name)
    provenance = {"version": __version__, "model": loaded.name, "weights_sha256": loaded.sha256,
                  "tile": options.tile or "auto", "overlap": options.overlap, "strength": options.strength,
                  "ensemble": options.ensemble, "databar_kept": options.keep_databar,
                  "device": pick_device(options.device), "source": source.name}
    write_tiff(target, restored, overwrite=overwrite, layout=read_tiff_layout(source), provenance=provenance)
    readout = _sharpness_readout(image, restored)
    print(f"{source.name} -> {target}  sharpness {readout.source_sharpness:.3f} -> "
          f"{readout.result_sharpness:.3f} (x{readout.sharpness_ratio:.2f})  {elapsed_since(start)}")
    if readout.notice:
        print(f"note: {source.name}: {readout.notice}", file=sys.stderr)


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
    from .bundled import bundled_weights
    from .config import DEFAULT_MODEL, PRESETS
    from .device import pick_device
    from .nets import build_model, count_parameters
    from .weights import load_model

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
    from .bench import FULL, QUICK, run_bench

    defaults = FULL if args.full else QUICK
    try:
        run_bench(args.presets or defaults["presets"], args.tiles or defaults["tiles"],
                  args.size or defaults["size"], defaults["big"] if args.big is None else args.big, args.device)
    except RuntimeError as error:
        raise CliError(str(error)) from None
    return 0


def command_line() -> str:
    """The command as typed, for model cards."""
    return "napari-midnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
