"""Widget state kept apart from the widgets: what the user chose, and what is running.

Evented (psygnal): widgets write fields and connect to `<instance>.events.<field>`; workers get
a copy (`dataclasses.replace`) so a change made while a job runs never reaches it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from psygnal import evented

from .config import DEFAULT_MODEL
from .restore import RestoreOptions


@evented
@dataclass
class DeblurSettings(RestoreOptions):
    """The restoration options (one declaration, in restore.py) plus what the dock adds."""

    model: str = DEFAULT_MODEL  # a name in the ModelRegistry
    current_slice_only: bool = False
    show_focus_map: bool = False  # add the blur map a kernel-aware model was given as a layer


class Task(str, Enum):
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


@dataclass
class TrainingEntry:
    """One line of the fine-tune list: a pair of layers, a sharp-only layer, or a pairs folder."""

    kind: str  # "pair", "sharp" or "folder"
    sharp: str = ""  # layer name
    blurry: str = ""  # layer name (pairs)
    folder: str = ""

    @property
    def label(self) -> str:
        if self.kind == "pair":
            return f"pair: {self.blurry} → {self.sharp}"
        if self.kind == "sharp":
            return f"sharp only: {self.sharp} (simulated blur)"
        return f"pairs folder: {self.folder}"


@dataclass
class FinetuneRun:
    """Progress of the current fine-tuning, kept across Stop and Resume."""

    stop: threading.Event = field(default_factory=threading.Event)
    checkpoint: Path | None = None
    losses: list = field(default_factory=list)  # (step, loss)
    psnr: list = field(default_factory=list)  # (step, validation PSNR)
    outcome: object = None  # FinetuneOutcome of the last finished run
    prepared: list | None = None  # the aligned training images, reused by Resume
