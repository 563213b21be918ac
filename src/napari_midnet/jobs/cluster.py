"""Images on a dask.distributed cluster: one task per image of a folder, and a huge image (one
that `deblur_file` streams) cut into bands of tile rows, one task each. The model is loaded once
per worker (a WorkerPlugin); outputs are written atomically, so a cancelled or failed task leaves
no partial file, and a task whose worker died is retried elsewhere.

A huge image: the client plans it (value range, info bar, focus map: small and picklable), each
band task opens the input itself and blends every tile of the global grid that reaches its band
into a shared float scratch file beside the output; the client then sets the tone from the
bands' sums and writes the output from the scratch: the single-process path's pixels.

`local` or `local:N` starts a LocalCluster of N single-threaded worker processes on this
machine; `tcp://HOST:PORT` uses a running scheduler (dask-jobqueue on SLURM, dask-cuda GPU
workers), whose workers must see the same file system. dask.distributed is the optional extra
`napari-midnet[cluster]`, imported only here.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ..events import BlurIdentified, FileDone, TileDone, drain, tap
from ..restoration.device import pick_device
from ..restoration.restore import RestoredPlane, RestoreOptions, band_bounds, finished_plane, plan_plane, restore_band
from ..restoration.tiling import Scratch
from .deblur import JobRun, deblur_file, file_deblurred, open_plane, write_restored

PLUGIN_NAME = "napari-midnet-model"
TASK_RETRIES = 2  # a task whose worker died runs again elsewhere, this many times
BAND_TILE_ROWS = 8  # tile rows per band task of a huge image (the halo re-runs one tile row: 1/8 more work)
CONNECT_TIMEOUT_S = 10
DASK_LOGGING = "DASK_LOGGING__DISTRIBUTED"  # dask's config key logging.distributed, as an environment variable


class ClusterError(ValueError):
    """A scheduler that cannot be used; one sentence."""


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
        if spec.startswith("tcp://"):
            probe_scheduler(spec)
        try:
            return Client(spec, timeout=f"{CONNECT_TIMEOUT_S}s"), None
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"cannot reach the scheduler at {spec} ({type(error).__name__}); is it running, "
                               "and reachable from here?") from None
    with quiet_children():
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


@contextmanager
def quiet_children() -> Iterator[None]:
    """Worker processes started inside ignore Ctrl-C and log only errors. A terminal's Ctrl-C
    reaches the whole process group: each worker printed its own traceback, and the cancelled
    tasks and the workers killed on the way out two warnings each, while the client alone needs
    it (it cancels the tasks, closes the cluster and says "interrupted"). An ignored SIGINT is
    the one handler a new process keeps; a Ctrl-C in the seconds the workers start is ignored."""
    logging.getLogger("distributed").setLevel(logging.ERROR)  # the nannies, in this process (until closed)
    saved = os.environ.get(DASK_LOGGING)
    os.environ[DASK_LOGGING] = "error"  # read by each worker process as distributed is imported
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        yield
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
        if saved is None:
            os.environ.pop(DASK_LOGGING, None)
        else:
            os.environ[DASK_LOGGING] = saved


HANDSHAKE_WAIT_S = 3  # a dask scheduler greets a new connection at once


def probe_scheduler(spec: str) -> None:
    """One sentence unless a dask scheduler answers at a tcp:// address: distributed's own client
    hangs on a silent listener and, on an HTTP server (a dashboard's port), reads its reply as a
    message length and tries to allocate exabytes."""
    import socket

    host, _, port = spec.removeprefix("tcp://").rpartition(":")
    address = (host.strip("[]"), int(port)) if port.isdigit() else None
    if address is None:
        raise ClusterError(f"--scheduler {spec}: give the scheduler's port, e.g. tcp://HOST:8786")
    try:
        with socket.create_connection(address, timeout=CONNECT_TIMEOUT_S) as probe:
            probe.settimeout(HANDSHAKE_WAIT_S)
            try:
                greeting = probe.recv(16)
            except TimeoutError:  # silent: ask as a web browser would, to name what listens there
                probe.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
                try:
                    greeting = probe.recv(16) or b"(silent)"
                except TimeoutError:
                    greeting = b"(silent)"
    except OSError as error:
        raise ClusterError(f"cannot reach the scheduler at {spec} ({type(error).__name__}); is it running, "
                           "and reachable from here?") from None
    if greeting.startswith(b"HTTP"):
        raise ClusterError(f"{spec} is a web server (a dask dashboard, usually port 8787?), not a dask scheduler "
                           "(usually port 8786)")
    if greeting == b"(silent)" or len(greeting) < 8 or int.from_bytes(greeting[:8], "little") > 2**32:
        raise ClusterError(f"{spec} does not answer as a dask scheduler (nothing a scheduler sends came within "
                           f"{HANDSHAKE_WAIT_S} s); is it the scheduler's address and port (usually 8786)?")


def _model_plugin(model: str, backend: str):
    from distributed import WorkerPlugin

    class ModelOnWorker(WorkerPlugin):
        """Loads the model once when a worker starts (one torch thread: workers share the cores)."""

        def setup(self, worker):
            import torch

            from ..models.loader import load_model
            from ..restoration.backends import for_backend

            torch.set_num_threads(1)
            worker.midnet_model = for_backend(load_model(model), backend)

    return ModelOnWorker()


def _deblur_on_worker(source: Path, target: Path, options: RestoreOptions, overwrite: bool):
    from distributed import get_worker

    return drain(deblur_file(get_worker().midnet_model, options, source, target, overwrite))


INTERRUPTED = threading.Event()  # a Ctrl-C during a cluster run, kept (interrupt_latch)


@contextmanager
def interrupt_latch() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as always, and is also kept: distributed runs finalizers
    and callbacks in this thread, and an interrupt raised inside one of them can be lost there (a
    run went on to its end and exited 0). The task loops raise a kept one at the next finished
    task. Nothing changes off the main thread, or where Ctrl-C is ignored (a background job)."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is signal.SIG_IGN:
        yield
        return

    def keep(signum, frame):
        INTERRUPTED.set()
        raise KeyboardInterrupt

    INTERRUPTED.clear()
    signal.signal(signal.SIGINT, keep)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def raise_if_interrupted() -> None:
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


class InterruptRace(logging.Filter):
    """Drops the one record of distributed's Ctrl-C race: its `sync` cancels, on KeyboardInterrupt,
    a future it may not have made yet, and tornado logs the NameError of that callback with a
    traceback ("cannot access free variable 'future'"), between our line and "interrupted"."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, NameError) and "'future'" in str(error))


@contextmanager
def cluster_client(scheduler: str, model: str, backend: str) -> Iterator:
    """A Client whose workers hold the model (a LocalCluster it started is closed after, and
    distributed's logging in this process is as it was before)."""
    logger = logging.getLogger("distributed")
    level = logger.level
    client, cluster = connect(scheduler)
    race, callbacks = InterruptRace(), logging.getLogger("tornado.application")
    callbacks.addFilter(race)
    try:
        client.register_plugin(_model_plugin(model, backend), name=PLUGIN_NAME)
        with interrupt_latch():
            yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        logger.setLevel(level)
        callbacks.removeFilter(race)


def deblur_files(client, jobs: list[tuple[Path, Path]], options: RestoreOptions, overwrite: bool
                 ) -> Generator[FileDone, None, None]:
    """Run every (source, target) as one task; yield each as it ends (in any order). Closing
    the generator (Ctrl-C) cancels what has not finished."""
    from distributed import KilledWorker, as_completed

    futures = {client.submit(_deblur_on_worker, source, target, options, overwrite, retries=TASK_RETRIES,
                             pure=False): source for source, target in jobs}
    try:
        for future in as_completed(futures):
            raise_if_interrupted()
            source = futures[future]
            try:
                yield FileDone(source, result=future.result())
            except (ValueError, OSError) as error:  # the task's own sentence (ImageReadError is a ValueError)
                yield FileDone(source, error=str(error))
            except KilledWorker:
                yield FileDone(source, error=_died())
    finally:
        client.cancel(list(futures))


def deblur_in_bands(client, loaded, options: RestoreOptions, source: Path, target: Path, overwrite: bool
                    ) -> Generator[TileDone | BlurIdentified, None, object]:
    """One huge image as band tasks (module docstring); yields TileDone per finished band and
    returns its deblur.FileDeblurred. Ctrl-C cancels the bands and leaves no output or scratch."""
    from distributed import KilledWorker, as_completed

    run, futures = JobRun(loaded, options), {}
    scratch_path = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.scratch"
    try:
        with open_plane(source) as plane:
            plan = yield from tap(plan_plane(plane, loaded.model, options), run.blur_log.note)
            run.options = plan.options  # as resolved for this plane
            bands = band_bounds(plan, plane.shape[1], BAND_TILE_ROWS) if plan.structured else []
            if bands:
                with open(scratch_path, "wb") as scratch:
                    scratch.truncate(plan.rows * plane.shape[1] * 4)
                futures = {client.submit(_band_on_worker, source, plan, band, scratch_path, options.device,
                                         retries=TASK_RETRIES, pure=False): band for band in bands}
                sums = {}
                for future in as_completed(futures):
                    raise_if_interrupted()
                    try:
                        sums[futures[future]] = future.result()
                    except KilledWorker:
                        raise OSError(_died()) from None
                    yield TileDone(len(sums), len(bands), 0, 1)
                restored = finished_plane(plane, plan, Scratch((plan.rows, plane.shape[1]), None, scratch_path),
                                          sum(sums[band] for band in bands))
            else:  # nothing to deblur: it passes through
                restored = RestoredPlane(plane, plan.dtype, rows=0)
            before, after = write_restored(source, target, plane, restored, run.provenance(bands=len(bands)),
                                           overwrite)
    finally:
        client.cancel(list(futures))
        scratch_path.unlink(missing_ok=True)
    return file_deblurred(source, target, before, after, run)


def _band_on_worker(source: Path, plan, band: tuple[int, int], scratch_path: Path, device: str) -> float:
    from distributed import get_worker

    plan = replace(plan, options=replace(plan.options, device=pick_device(device)))  # this worker's device
    with open_plane(source) as plane:
        scratch = Scratch((plan.rows, plane.shape[1]), None, scratch_path)
        try:
            return drain(restore_band(plane, get_worker().midnet_model.model, plan, band, scratch))
        finally:
            scratch.close()


def _died() -> str:
    return f"its worker died {TASK_RETRIES + 1} times (out of memory?)"
