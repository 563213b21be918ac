"""Widget state kept apart from the widgets: what the user chose, and what is running."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from .config import DEFAULT_MODEL


@dataclass
class DeblurSettings:
    model: str = DEFAULT_MODEL  # a name in the ModelRegistry
    device: str = "auto"
    tile: int | None = None  # None: automatic
    overlap: int = 64
    current_slice_only: bool = False
    keep_databar: bool = True
    ensemble: bool = False  # average the 8 flips/rotations (8 network passes)
    strength: float = 1.0  # 0: input unchanged .. 1: the network's full correction


@dataclass
class RunStatus:
    """What the dock is doing; widgets enable/disable themselves from it."""

    task: str | None = None  # "deblur", "finetune" or None

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
