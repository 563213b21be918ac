"""A folder of images on a dask.distributed cluster: one task per image, the model loaded once
per worker (a WorkerPlugin), outputs written atomically by the task, so a cancelled or failed
task leaves no partial file and a task whose worker died is retried elsewhere.

`local` or `local:N` starts a LocalCluster of N single-threaded worker processes on this
machine; `tcp://HOST:PORT` uses a running scheduler (dask-jobqueue on SLURM, dask-cuda GPU
workers), whose workers must see the same file system. dask.distributed is the optional extra
`napari-midnet[cluster]`, imported only here.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from .restore import RestoreOptions

PLUGIN_NAME = "napari-midnet-model"
TASK_RETRIES = 2  # a task whose worker died runs again elsewhere, this many times
CONNECT_TIMEOUT_S = 10


class ClusterError(ValueError):
    """A scheduler that cannot be used; one sentence."""


@dataclass(frozen=True)
class FileDone:
    """One image's task ended: its FileDeblurred, or the error's sentence."""

    source: Path
    result: object = None  # deblur.FileDeblurred
    error: str = ""


def local_workers(spec: str) -> int | None:
    """N of 'local[:N]' (default: the machine's cores), None for a scheduler address."""
    if spec == "local":
        return max(os.cpu_count() or 1, 1)
    if spec.startswith("local:"):
        try:
            count = int(spec.removeprefix("local:"))
        except ValueError:
            count = 0
        if count < 1:
            raise ClusterError(f"--scheduler {spec}: local:N needs a number of workers of 1 or more")
        return count
    if not spec.startswith(("tcp://", "tls://", "ucx://")):
        raise ClusterError(f"--scheduler takes local, local:N or tcp://HOST:PORT, not {spec!r}")
    return None


def connect(spec: str):
    """A distributed Client for the scheduler spec (and the LocalCluster it started, or None)."""
    workers = local_workers(spec)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("--scheduler needs dask.distributed: pip install 'napari-midnet[cluster]'") from None
    if workers is None:
        try:
            return Client(spec, timeout=f"{CONNECT_TIMEOUT_S}s"), None
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"cannot reach the scheduler at {spec} ({type(error).__name__}); is it running, "
                               "and reachable from here?") from None
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # inherited by the worker processes
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def _model_plugin(model: str, backend: str):
    from distributed import WorkerPlugin

    class ModelOnWorker(WorkerPlugin):
        """Loads the model once when a worker starts (one torch thread: workers share the cores)."""

        def setup(self, worker):
            import torch

            from .backends import for_backend
            from .weights import load_model

            torch.set_num_threads(1)
            worker.midnet_model = for_backend(load_model(model), backend)

    return ModelOnWorker()


def _deblur_on_worker(source: Path, target: Path, options: RestoreOptions, overwrite: bool):
    from distributed import get_worker

    from .deblur import deblur_file
    from .events import drain

    return drain(deblur_file(source, target, get_worker().midnet_model, options, overwrite))


def deblur_files(jobs: list[tuple[Path, Path]], model: str, backend: str, options: RestoreOptions,
                 overwrite: bool, scheduler: str) -> Generator[FileDone, None, None]:
    """Run every (source, target) as one task; yield each as it ends (in any order). Closing
    the generator (Ctrl-C) cancels what has not finished."""
    client, cluster = connect(scheduler)
    try:
        client.register_plugin(_model_plugin(model, backend), name=PLUGIN_NAME)
        futures = {client.submit(_deblur_on_worker, source, target, options, overwrite, retries=TASK_RETRIES,
                                 pure=False): source for source, target in jobs}
        from distributed import KilledWorker, as_completed

        try:
            for future in as_completed(futures):
                source = futures[future]
                try:
                    yield FileDone(source, result=future.result())
                except (ValueError, OSError) as error:  # the task's own sentence (ImageReadError is a ValueError)
                    yield FileDone(source, error=str(error))
                except KilledWorker:
                    yield FileDone(source, error=f"its worker died {TASK_RETRIES + 1} times (out of memory?)")
        finally:
            client.cancel(list(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
