"""`napari-midnet deblur`: every output planned and checked before compute, a batch that goes on
past a bad file, inputs never modified, instrument metadata kept; and `focus`, the blur alone."""

from __future__ import annotations

import sys

import numpy as np

from .common import (
    EXIT_FAILURE,
    CliError,
    check_device,
    emit_json,
    load_model_or_fail,
    run_with_bar,
    with_backend,
)


def deblur(args) -> int:
    """Every output is planned and checked before any compute; a bad file is reported and the
    batch goes on; the exit status is 1 if any file failed. An output folder the run created
    and left empty (it failed before writing) is removed again."""
    from ..io.paths import removed_if_left_empty

    with removed_if_left_empty(args.outdir):
        return _deblur(args)


def _deblur(args) -> int:
    from ..blur.estimate import parse_blur
    from ..bundled import sample_paths
    from ..io.paths import collect_inputs
    from ..jobs.batch import deblur_batch, plan_batch
    from ..jobs.cluster import ClusterError
    from ..restoration.restore import RestoreOptions

    inputs = collect_inputs(args.inputs) + ([sample_paths()["SEM blurry"]] if args.sample else [])
    try:
        given_blur = parse_blur(args.blur)
        RestoreOptions(tile=args.tile, overlap=args.overlap, strength=args.strength).check()
    except ValueError as error:
        raise CliError(f"--{error}") from None
    check_device(args.device)
    if args.scheduler:
        from ..jobs.cluster import local_workers

        try:
            local_workers(args.scheduler)
        except ClusterError as error:
            raise CliError(str(error)) from None
    try:
        plan = plan_batch(inputs, args.outdir, args.suffix, args.overwrite, args.skip_existing, args.shard)
    except ValueError as error:
        raise CliError(str(error)) from None
    if plan.note:
        print(f"napari-midnet: {plan.note}", file=sys.stderr)
    for source, target in plan.skipped:
        print(f"{source.name}: {target} exists, skipped")
    loaded = with_backend(load_model_or_fail(args.model), args.backend)
    options = RestoreOptions(tile=args.tile, overlap=args.overlap, device=args.device,
                             float32=args.float32, keep_databar=not args.include_databar,
                             ensemble=args.ensemble, strength=args.strength, blur=given_blur)
    if given_blur is not None and not loaded.model.config.kernel_aware:
        print(f"napari-midnet: note: {loaded.name} is a blind model; --blur is used by kernel-aware models "
              "only (e.g. midnet-s-psf)", file=sys.stderr)
    try:
        failed = _run_batch(deblur_batch(loaded, options, plan.todo, args.overwrite, args.scheduler, args.model,
                                         args.backend))
    except ClusterError as error:
        raise CliError(str(error)) from None
    if failed:
        total = len(plan.todo) + len(plan.skipped)
        print(f"napari-midnet: {len(failed)} of {total} images failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _run_batch(batch) -> list[str]:
    """Draw the batch's bars (one per file, or one for the frames on a cluster), report each
    file as it ends; returns the names that failed."""
    from ..events import BatchStep, FileDone, TileDone
    from .common import ProgressBar

    failed, bar, step, done = [], None, BatchStep(""), 0
    try:
        for event in batch:
            if isinstance(event, BatchStep):
                if bar is not None:  # the cluster's frames are done: the next part has its own bar
                    bar.close()
                step, done = event, 0
                bar = ProgressBar(event.label, event.total) if event.total else None
            elif isinstance(event, TileDone):
                bar = bar or ProgressBar(step.label, event.total)
                bar.update(event.done)
            elif isinstance(event, FileDone):
                if not step.total and bar is not None:  # a file's own bar ends before its report
                    bar.close()
                    bar = None
                if event.error:
                    failed.append(event.source.name)
                    print(f"napari-midnet: error: {event.source.name}: {event.error}", file=sys.stderr)
                else:
                    _report(event.result)
                if step.total:
                    done += 1
                    bar.update(done)
    finally:
        if bar is not None:
            bar.close()
    return failed


def _report(done) -> None:
    """The lines a deblurred file gets: its blur (kernel-aware models), sharpness, any note."""
    name, readout = done.source.name, done.readout
    if done.blur:
        print(f"{name}: {done.blur}", file=sys.stderr)
    print(f"{name} -> {done.target}  sharpness {readout.source_sharpness:.3f} -> "
          f"{readout.result_sharpness:.3f} (x{readout.sharpness_ratio:.2f})  {done.seconds:.1f} s")
    if readout.notice:
        print(f"note: {name}: {readout.notice}", file=sys.stderr)


def export(args) -> int:
    """A bioimage.io package of MODEL, written only when its own bioimageio.core test passes."""
    from ..jobs.export import export_package
    from ..restoration.graphs import ExportError

    loaded = load_model_or_fail(args.model)
    try:
        out = run_with_bar(export_package(loaded, args.bioimageio, overwrite=args.overwrite), "export",
                           lambda event: event.stage)
    except ExportError as error:
        raise CliError(str(error)) from None
    print(f"wrote {out} (bioimage.io model 0.5: pytorch_state_dict, torchscript, onnx; bioimageio.core test passed)")
    return 0


def focus(args) -> int:
    """One sentence (or JSON object) per image; a bad file is reported and the rest go on."""
    from ..io.files import read_image, write_tiff
    from ..io.paths import check_writable_folder, collect_inputs, is_zarr_folder, plan_outputs
    from ..io.stores import ZarrPlane
    from ..jobs.readouts import identify, middle_gray_plane

    inputs = collect_inputs(args.inputs)
    missing = [str(path) for path in inputs if not path.exists()]
    if not inputs or missing:
        raise CliError(f"input not found: {', '.join(missing)}" if missing else "no image files in the given inputs")
    maps = [None] * len(inputs)
    if args.map:
        try:
            maps = plan_outputs(inputs, args.map, "_blur", extension=".tif")  # two inputs, one map: refused
            check_writable_folder(args.map)
        except (ValueError, OSError) as error:
            raise CliError(str(error)) from None
    results, failed = [], []
    for path, map_path in zip(inputs, maps):
        try:
            if is_zarr_folder(path):  # what deblur reads, focus reads
                with ZarrPlane(path) as zarr_plane:
                    plane = zarr_plane[:, :]
            else:
                plane = middle_gray_plane(read_image(path))
            blur_map = identify(plane)
        except (ValueError, OSError) as error:
            failed.append(path.name)
            print(f"napari-midnet: error: {path.name}: {error}", file=sys.stderr)
            continue
        estimate = blur_map.global_estimate
        results.append({"image": str(path), **estimate.as_dict()})
        if not args.json:
            print(f"{path.name}: {estimate.describe()}")
        if args.map:
            sigma = np.full(plane.shape, np.nan, dtype=np.float32)  # NaN on the info bar
            sigma[:blur_map.shape[0]] = blur_map.sigma_map()
            write_tiff(map_path, sigma, overwrite=True,
                       provenance={"what": "blur sigma per pixel (px, geometric mean of the spot's axes)",
                                   "source": path.name, **estimate.as_dict()})
    if args.json:
        emit_json(results)
    return EXIT_FAILURE if failed else 0
