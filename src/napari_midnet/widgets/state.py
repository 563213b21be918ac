"""Widget state kept apart from the widgets: what the user chose, and what is running.

Evented (psygnal): widgets write fields and connect to `<instance>.events.<field>`; workers get
a copy (`dataclasses.replace`) so a change made while a job runs never reaches it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from psygnal import evented

from ..events import CheckpointSaved, PairAligned, TrainStep, Validated
from ..models.config import DEFAULT_MODEL
from ..restoration.restore import RestoreOptions


@evented
@dataclass
class DeblurSettings(RestoreOptions):
    """The restoration options (one declaration, in restore.py) plus what the dock adds."""

    model: str = DEFAULT_MODEL  # a name in the ModelRegistry
    current_slice_only: bool = False
    show_focus_map: bool = False  # add the blur map a kernel-aware model was given as a layer


class Task(StrEnum):
    """The dock's long jobs, one at a time; the value is how messages name it."""

    DEBLUR = "deblurring"
    FINETUNE = "fine-tuning"
    EXPORT = "the bioimage.io export"


@evented
@dataclass
class RunStatus:
    """What the dock is doing; widgets enable/disable themselves from `events.task`."""

    task: Task | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None


class EntryKind(StrEnum):
    PAIR = "pair"
    SHARP = "sharp only"
    FOLDER = "pairs folder"


@dataclass
class TrainingEntry:
    """One line of the fine-tune list: a pair of layers, a sharp-only layer, or a pairs folder."""

    kind: EntryKind
    sharp: str = ""  # layer name
    blurry: str = ""  # layer name (pairs)
    folder: str = ""

    @property
    def name(self) -> str:
        """The image's name in training (and the Validation choice): the blurry layer of a pair."""
        return self.blurry if self.kind is EntryKind.PAIR else self.sharp

    @property
    def label(self) -> str:
        if self.kind is EntryKind.PAIR:
            return f"pair: {self.blurry} → {self.sharp}"
        if self.kind is EntryKind.SHARP:
            return f"sharp only: {self.sharp} (simulated blur)"
        return f"pairs folder: {self.folder}"


class FinetuneState(StrEnum):
    IDLE = "idle"
    PREPARING = "preparing the images"
    TRAINING = "training"
    STOPPED = "stopped"  # with a checkpoint to resume from, or before training began
    FINISHED = "finished"
    FAILED = "failed"


@evented
@dataclass
class FinetuneRun:
    """A fine-tuning run as data, kept across Stop and Resume: the job's events become fields
    (`record`), and the progress bar, plot and messages follow `events.<field>`."""

    state: FinetuneState = FinetuneState.IDLE
    step: int = 0
    iterations: int = 0
    loss: float | None = None
    losses: tuple = ()  # (step, loss)
    psnr: tuple = ()  # (step, validation PSNR)
    alignment: tuple = ()  # one line per aligned pair
    checkpoint: Path | None = None
    prepared: list | None = None  # the aligned training images, reused by Resume
    outcome: object = None  # FinetuneOutcome of the last finished run
    stop: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """A new run (not a Resume): forget the last one's progress, keep the connections."""
        self.state, self.step, self.loss = FinetuneState.IDLE, 0, None
        self.losses, self.psnr, self.alignment = (), (), ()
        self.checkpoint, self.prepared, self.outcome = None, None, None
        self.stop.clear()

    def record(self, event) -> None:
        """One event of finetune_job. A resumed run repeats its starting validation: kept once."""
        if isinstance(event, PairAligned):
            self.alignment = (*self.alignment, f"{event.name}: {event.description}")
        elif isinstance(event, TrainStep):
            if self.losses and event.step <= self.losses[-1][0]:
                return
            self.state, self.iterations = FinetuneState.TRAINING, event.iterations
            self.losses = (*self.losses, (event.step, event.loss))
            self.loss, self.step = event.loss, event.step
        elif isinstance(event, Validated):
            if not self.psnr or event.step > self.psnr[-1][0]:
                self.psnr = (*self.psnr, (event.step, event.psnr))
        elif isinstance(event, CheckpointSaved):
            self.checkpoint = event.path
