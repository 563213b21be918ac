"""Typed progress events yielded by the long-running generators (restore, train); the ones
that advance a progress bar carry `done` and `total`."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def tap(generator: Generator, on_event: Callable[[object], object]) -> Generator:
    """Pass a job generator's events on, showing each to `on_event` first; return its result.
    Closing the tap closes the job (a cancelled worker stops the restoration too)."""
    try:
        while True:
            try:
                event = next(generator)
            except StopIteration as stop:
                return stop.value
            on_event(event)
            yield event
    finally:
        generator.close()


def drain(generator: Generator, on_event: Callable[[object], None] | None = None):
    """Run a job generator to the end (handing each event to `on_event`); return its result."""
    while True:
        try:
            event = next(generator)
        except StopIteration as stop:
            return stop.value
        if on_event is not None:
            on_event(event)


class StopRequested(Exception):  # noqa: N818 (control flow, not an error)
    """Raised inside long steps (a pair's registration) that check a `should_stop` between their
    small parts, so a Stop is answered within a second."""


def never() -> bool:
    """The `should_stop` of work nobody stops."""
    return False


@dataclass(frozen=True)
class TileDone:
    """One tile of one slice restored."""

    tile: int
    tiles: int
    slice: int
    slices: int

    @property
    def done(self) -> int:
        return self.slice * self.tiles + self.tile

    @property
    def total(self) -> int:
        return self.slices * self.tiles

    @property
    def fraction(self) -> float:
        return self.done / self.total


@dataclass(frozen=True)
class TrainStep:
    step: int
    iterations: int
    loss: float
    lr: float

    @property
    def done(self) -> int:
        return self.step

    @property
    def total(self) -> int:
        return self.iterations


@dataclass(frozen=True)
class Validated:
    step: int
    psnr: float
    ssim: float


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: Path


@dataclass(frozen=True)
class ImageNote:
    """Something the training job found out about one of its images, in words."""

    name: str
    description: str


@dataclass(frozen=True)
class PairAligned(ImageNote):
    """A training pair was aligned (or, with ok False, would not align well)."""

    residual: float
    ok: bool


class SpotFitted(ImageNote):
    """A real pair's defocus spot was fitted (the condition of kernel-aware training)."""

    def sentence(self) -> str:
        """Worded apart from an estimate of one image: this spot is fitted against the sharp one."""
        return f"blur of {self.name} fitted against its sharp image: {self.description}"


@dataclass(frozen=True)
class BlurIdentified:
    """The blur a kernel-aware model was given for one plane: estimated (with its focus map,
    a blur.FocusMap) or set by the user."""

    slice: int
    estimate: Any  # blur.BlurEstimate
    given: bool
    focus_map: Any = None


@dataclass(frozen=True)
class ExportStep:
    """A stage of a bioimage.io export started (`stage` names it; 'done' at the end)."""

    stage: str
    done: int
    total: int


@dataclass(frozen=True)
class BatchStep:
    """A part of a batch begins: one file restored here (its TileDone follow; total 0), or the
    frames sent to a cluster (one FileDone each; total: how many)."""

    label: str
    total: int = 0


@dataclass(frozen=True)
class FileDone:
    """One image of a batch ended: its jobs.deblur.FileDeblurred, or the error's sentence."""

    source: Path
    result: Any = None
    error: str = ""
