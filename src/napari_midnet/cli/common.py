"""What the commands share: one-line user errors, JSON output, the terminal progress bar,
loading a model with its warnings."""

from __future__ import annotations

import json
import shlex
import sys
import time

from ..events import drain
from ..progress import Eta, clock

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # Ctrl-C, in every command (128 + SIGINT, as shells report it)


class CliError(Exception):
    """A user error: printed as one line, exit status 1, no traceback."""


def emit_json(data: dict) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def command_line(args) -> str:
    """The command as typed, for model cards."""
    return "napari-midnet " + " ".join(shlex.quote(str(a)) for a in args.argv)


def check_device(requested: str) -> None:
    """An explicit device that this machine lacks stops the run before any work."""
    from ..restoration.device import pick_device

    try:
        pick_device(requested)
    except ValueError as error:
        raise CliError(str(error)) from None


def load_model_or_fail(spec: str):
    from ..models.loader import load_model
    from ..models.weights import WeightsError

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


def with_backend(loaded, backend: str):
    """The model on another backend (TorchScript, ONNX), or one sentence why not."""
    from ..models.weights import WeightsError
    from ..restoration.backends import DEFAULT_BACKEND, Backend, for_backend

    if backend == DEFAULT_BACKEND:
        return loaded
    if loaded.model.config.kernel_aware:  # the graph cannot compute the blur it takes as input
        raise CliError(f"{loaded.name} is kernel-aware and runs on --backend torch only; for {backend}, "
                       "choose a blind model (--model midnet-s)")
    if backend == Backend.ONNX and not loaded.card.get("bioimageio_package"):
        print(f"napari-midnet: converting {loaded.name} to ONNX (a few seconds)…", file=sys.stderr)
    try:
        return for_backend(loaded, backend)
    except WeightsError as error:
        raise CliError(str(error)) from None


def run_with_bar(generator, label: str, note=lambda event: ""):
    """Drive a progress generator, drawing a bar; returns the generator's result."""
    bar: list[ProgressBar] = []

    def draw(event) -> None:
        text = note(event)  # every event, so notes can remember e.g. the last validation
        if hasattr(event, "total"):
            if not bar:
                bar.append(ProgressBar(label, event.total))
            bar[0].update(event.done, text)

    try:
        return drain(generator, draw)
    finally:
        if bar:
            bar[0].close()


class ProgressBar:
    def __init__(self, label: str, total: int, stream=None, width: int = 28):
        self.label, self.total, self.width = label, max(total, 1), width
        self.stream = stream or sys.stderr
        self.eta = Eta()
        self.interactive = self.stream.isatty()
        self._last_draw = 0.0

    def update(self, done: int, note: str = "") -> None:
        eta = self.eta.remaining(done, self.total)
        now = time.monotonic()
        if now - self._last_draw < (0.1 if self.interactive else 10.0) and done < self.total:
            return
        self._last_draw = now
        filled = int(min(done / self.total, 1.0) * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"{self.label} [{bar}] {done}/{self.total} {note} ETA {clock(eta)}"
        self.stream.write(("\r" + line + "\x1b[K") if self.interactive else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
