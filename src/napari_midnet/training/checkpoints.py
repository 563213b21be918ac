"""Training checkpoints: written atomically, never an earlier step over a later one (the loop
decides), read back only as tensors (weights_only: a checkpoint never runs code)."""

from __future__ import annotations

import warnings
from pathlib import Path

from ..events import Validated
from ..io.paths import atomic_path, user_data_folder

CHECKPOINT_NAME = "checkpoint.pt"  # in the checkpoint folder: the one a run writes and Resume reads


def default_checkpoint_dir() -> Path:
    """In the per-user data folder (never the working directory)."""
    return user_data_folder() / "checkpoints"


def save_checkpoint(path: Path, model, optimizer, scheduler, rng, step: int, config: dict, scores: dict) -> None:
    """The whole training state, written atomically: resuming continues as if never stopped.
    `config`: the run's TrainConfig as a dict; `scores`: the base model's, kept across resumes."""
    import torch

    state = {
        "model": model.state_dict(),
        "architecture": model.config.as_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": rng.bit_generator.state,
        "config": config,
        "scores": scores,
    }
    try:
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
    except OSError as error:  # disk full, folder removed or read-only: say where and why
        raise OSError(f"cannot write the checkpoint {path}: {error.strerror or error}") from None


def stored_step(path: Path) -> int | None:
    """The step of the checkpoint at `path` (None: none there, or unreadable); memory-mapped,
    so only the step is read."""
    import torch

    if not path.is_file():
        return None
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["step"])
    except Exception:  # any unreadable file: nothing to protect
        return None


def read_checkpoint(path: Path) -> dict:
    """A training checkpoint's state, or one sentence (ValueError, FileNotFoundError) why it is
    none: the command line asks this before any work."""
    import torch

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch's pickle notes are not the user's business
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for bad or hostile pickles
        if "unsupported global" in str(error).lower():  # a class or function to import: code
            raise ValueError(f"{path.name} holds Python objects besides tensors, which napari-midnet never "
                             "unpickles (it could run code); it is no checkpoint of napari-midnet") from None
        raise ValueError(f"{path.name} is no readable checkpoint (truncated, or another kind of file)") from None
    if not isinstance(state, dict) or not {"model", "optimizer", "step"} <= set(state):
        raise ValueError(f"{path.name} is a PyTorch file but no napari-midnet training checkpoint")
    return state


def load_checkpoint(path: Path, model, optimizer, scheduler, rng) -> tuple[int, dict]:
    """Restores the training state; returns the step and the stored base-model scores."""
    import torch

    state = read_checkpoint(path)
    if state.get("architecture") != model.config.as_dict():
        raise ValueError(f"{path.name} was written for another architecture than the model being trained")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    rng.bit_generator.state = state["numpy_rng"]
    scores = {key: Validated(**value) for key, value in state.get("scores", {}).items()}
    return int(state["step"]), scores
