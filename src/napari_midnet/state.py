"""Widget state kept apart from the widgets: what the user chose, and what is running."""

from __future__ import annotations

from dataclasses import dataclass

from .weights import DEFAULT_MODEL


@dataclass
class DeblurSettings:
    model: str = DEFAULT_MODEL  # a name in the ModelRegistry
    device: str = "auto"
    tile: int | None = None  # None: automatic
    overlap: int = 32
    current_slice_only: bool = False
    keep_databar: bool = True


@dataclass
class RunStatus:
    """What the dock is doing; widgets enable/disable themselves from it."""

    task: str | None = None  # "deblur", "finetune" or None
    message: str = ""

    @property
    def busy(self) -> bool:
        return self.task is not None
