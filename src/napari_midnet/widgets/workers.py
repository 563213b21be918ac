"""Every background worker the dock starts goes through here, so closing stops them all."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from napari.qt.threading import GeneratorWorker, create_worker
from qtpy.QtCore import QThreadPool


class ClosingGeneratorWorker(GeneratorWorker):
    """Closes its generator in the worker thread when it ends, aborted ones included.

    superqt only stops resuming an aborted generator, so the job's own clean-up (training
    writes a resumable checkpoint on GeneratorExit) would never run. napari aborts every
    worker when it quits, before any plugin hears of it.
    """

    def work(self):
        try:
            return super().work()
        finally:
            self._gen.close()


class WorkerTracker:
    def __init__(self):
        self._workers: set = set()
        self._stoppers: dict = {}
        self.closed = False  # the dock is closing: its jobs end quietly

    def _forget(self, worker) -> None:
        self._workers.discard(worker)
        self._stoppers.pop(worker, None)

    def run(self, function: Callable, *args, on_error: Callable, on_return: Callable | None = None,
            on_yield: Callable | None = None, on_finish: Callable | None = None,
            on_stop: Callable | None = None):
        """Start `function(*args)` (a plain function or a generator) in a thread worker.

        `on_error` is required: errors must reach the user as a notification, never re-raise.
        `on_stop` replaces the default quit on shutdown for jobs that must end their own way
        (training writes a checkpoint before it returns).
        """
        connect = {"errored": on_error}
        for signal, slot in (("returned", on_return), ("yielded", on_yield), ("finished", on_finish)):
            if slot is not None:
                connect[signal] = slot
        worker_class = {"_worker_class": ClosingGeneratorWorker} if inspect.isgeneratorfunction(function) else {}
        worker = create_worker(function, *args, _connect=connect, _start_thread=False, **worker_class)
        self._stoppers[worker] = on_stop or worker.quit
        self._workers.add(worker)
        worker.finished.connect(lambda: self._forget(worker))
        worker.start()
        return worker

    def stop_all(self, wait_ms: int = 0) -> None:
        """Ask every worker to quit at its next tile or step. Returns at once: a job ends in the
        background (training still writes its checkpoint), so closing the dock never freezes
        napari. Only quitting the application waits (`wait_ms`), so the process outlives them."""
        self.closed = True
        for worker in list(self._workers):
            self._stoppers.get(worker, worker.quit)()
        if wait_ms:
            QThreadPool.globalInstance().waitForDone(wait_ms)
