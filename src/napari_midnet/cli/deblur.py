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
    from ..io.files import removed_if_left_empty

    with removed_if_left_empty(args.outdir):
        return _deblur(args)


def _deblur(args) -> int:
    from ..blur.estimate import parse_blur
    from ..bundled import sample_paths
    from ..io.files import collect_inputs
    from ..jobs.batch import plan_batch
    from ..jobs.deblur import deblur_file
    from ..restoration.restore import RestoreOptions

    inputs = collect_inputs(args.inputs) + ([sample_paths()["SEM blurry"]] if args.sample else [])
    try:
        given_blur = parse_blur(args.blur)
        RestoreOptions(tile=args.tile, overlap=args.overlap, strength=args.strength).check()
    except ValueError as error:
        raise CliError(f"--{error}") from None
    check_device(args.device)
    if args.scheduler:
        from ..jobs.cluster import ClusterError, local_workers

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
    todo = plan.todo
    failed = []
    if args.scheduler:
        failed = _deblur_on_cluster(todo, args, options, loaded)
    for source, target in todo if not args.scheduler else ():
        try:
            _report(run_with_bar(deblur_file(loaded, options, source, target, args.overwrite), source.name))
        except (ValueError, OSError) as error:  # ImageReadError is a ValueError
            failed.append(source.name)
            print(f"napari-midnet: error: {source.name}: {error}", file=sys.stderr)
    if failed:
        total = len(plan.todo) + len(plan.skipped)
        print(f"napari-midnet: {len(failed)} of {total} images failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _deblur_on_cluster(todo: list, args, options, loaded) -> list[str]:
    """Images on the scheduler: one task per image, and each image that streams (huge) in bands
    across all workers, one after another; returns the names that failed."""
    from ..jobs.cluster import ClusterError, cluster_client, deblur_files, deblur_in_bands
    from ..jobs.deblur import streams
    from .common import ProgressBar

    huge = [(source, target) for source, target in todo if streams(source)]
    frames = [job for job in todo if job not in huge]
    failed = []
    try:
        with cluster_client(args.scheduler, args.model, args.backend) as client:
            if frames:
                bar = ProgressBar("deblur on the cluster", len(frames))
                try:
                    for count, done in enumerate(deblur_files(client, frames, options, args.overwrite), 1):
                        if done.error:
                            failed.append(done.source.name)
                            print(f"napari-midnet: error: {done.source.name}: {done.error}", file=sys.stderr)
                        else:
                            _report(done.result)
                        bar.update(count)
                finally:
                    bar.close()
            for source, target in huge:
                try:
                    _report(run_with_bar(deblur_in_bands(client, loaded, options, source, target, args.overwrite),
                                         f"{source.name} in bands"))
                except (ValueError, OSError) as error:
                    failed.append(source.name)
                    print(f"napari-midnet: error: {source.name}: {error}", file=sys.stderr)
    except ClusterError as error:
        raise CliError(str(error)) from None
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
    from ..io.files import check_writable_folder, collect_inputs, is_zarr_folder, plan_outputs, read_image, write_tiff
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
