"""A folder (or list) of images to deblur: planned and checked as a whole before any compute, so a
batch never stops half way on something it could have known at the start."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from ..events import BatchStep, BlurIdentified, FileDone, TileDone
from ..io.paths import IMAGE_SUFFIXES, check_writable_folder, plan_outputs
from ..models.weights import LoadedModel
from ..restoration.backends import DEFAULT_BACKEND
from ..restoration.restore import RestoreOptions
from .deblur import deblur_file, streams


@dataclass
class BatchPlan:
    """(source, target) pairs to deblur, those kept because their output exists, and a note."""

    todo: list[tuple[Path, Path]]
    skipped: list[tuple[Path, Path]] = field(default_factory=list)
    note: str = ""  # e.g. a shard that holds no image


def plan_batch(inputs: list[Path], outdir: Path, suffix: str = "", overwrite: bool = False,
               skip_existing: bool = False, shard: str | None = None) -> BatchPlan:
    """Every output named and checked (writable folder, no two inputs on one output, no output
    over its input, existing outputs only with overwrite or skip), the shard chosen; one
    sentence (ValueError) otherwise."""
    if not inputs:
        raise ValueError("no image files in the given inputs (give files or folders, or --sample)")
    if overwrite and skip_existing:
        raise ValueError("--overwrite and --skip-existing contradict each other; choose one")
    if any(sep in suffix for sep in ("/", "\\")) or suffix in (".", ".."):
        raise ValueError(f"--suffix {suffix!r} is a part of a file name and cannot hold a path separator")
    missing = [str(path) for path in inputs if not path.exists()]
    if missing:
        raise ValueError(f"input not found: {', '.join(missing)}")
    if outdir.suffix.lower() in IMAGE_SUFFIXES and not outdir.is_dir():
        raise ValueError(f"-o names the output folder, and {outdir} looks like an image file name; "
                         f"give a folder (outputs are named after their inputs, e.g. {outdir.parent / 'out'})")
    outputs = plan_outputs(inputs, outdir, suffix)
    try:
        check_writable_folder(outdir)
    except OSError as error:
        raise ValueError(str(error)) from None
    note = ""
    if shard:
        inputs, outputs, note = shard_of(inputs, outputs, shard)
    existing = [target for target in outputs if target.exists()]
    if existing and not (overwrite or skip_existing):
        which = f"{existing[0]} exists" if len(existing) == 1 else f"{len(existing)} outputs exist, e.g. {existing[0]},"
        raise ValueError(f"{which} already; use --overwrite to replace or --skip-existing to keep existing outputs")
    pairs = list(zip(inputs, outputs))
    return BatchPlan([pair for pair in pairs if not (skip_existing and pair[1].exists())],
                     [pair for pair in pairs if skip_existing and pair[1].exists()], note)


def shard_of(inputs: list[Path], outputs: list[Path], spec: str) -> tuple[list[Path], list[Path], str]:
    """The K-th of N interleaved slices of the (sorted) inputs, and a note when it is empty;
    outputs were planned for all of them first, so two shards never write one name."""
    try:
        index, count = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ValueError(f"--shard takes K/N, e.g. 3/10, not {spec!r}") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {spec}: K must be between 1 and N ({count})")
    order = sorted(range(len(inputs)), key=lambda i: str(inputs[i]))
    mine = [i for rank, i in enumerate(order) if rank % count == index - 1]
    note = "" if mine else f"shard {spec} has no image ({len(inputs)} inputs in {count} shards)"
    return [inputs[i] for i in mine], [outputs[i] for i in mine], note


def deblur_batch(loaded: LoadedModel, options: RestoreOptions, todo: list[tuple[Path, Path]], overwrite: bool,
                 scheduler: str | None = None, model: str = "", backend: str = DEFAULT_BACKEND
                 ) -> Generator[BatchStep | TileDone | BlurIdentified | FileDone, None, None]:
    """Restore each (source, target) here, one after another, or on a dask scheduler (`model`
    and `backend` name what its workers load): every frame one task, every image that streams
    (huge) in bands across all workers. A file that fails is its FileDone's error and the batch
    goes on; a scheduler that cannot be used raises cluster.ClusterError."""
    if scheduler is None:
        for source, target in todo:
            yield BatchStep(source.name)
            yield (yield from _file_done(deblur_file(loaded, options, source, target, overwrite), source))
        return
    from .cluster import cluster_client, deblur_files, deblur_in_bands

    huge = [(source, target) for source, target in todo if streams(source)]
    frames = [job for job in todo if job not in huge]
    with cluster_client(scheduler, model, backend) as client:
        if frames:
            yield BatchStep("deblur on the cluster", len(frames))
            yield from deblur_files(client, frames, options, overwrite)
        for source, target in huge:
            yield BatchStep(f"{source.name} in bands")
            yield (yield from _file_done(deblur_in_bands(client, loaded, options, source, target, overwrite),
                                         source))


def _file_done(job, source: Path) -> Generator[TileDone | BlurIdentified, None, FileDone]:
    """Run one file's job; its failure in one sentence (ImageReadError is a ValueError)."""
    try:
        return FileDone(source, result=(yield from job))
    except (ValueError, OSError) as error:
        return FileDone(source, error=str(error))
