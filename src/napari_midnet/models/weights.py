"""Weights files: `.safetensors` with a JSON model card in the metadata; legacy `.pt/.pth`."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ..bundled import bundled_weights
from ..io.paths import atomic_path
from .config import PRESETS, ModelConfig, pool_window

FORMAT = "napari-midnet/1"
PACKAGE_DESCRIPTIONS = ("rdf.yaml", "bioimageio.yaml")  # what names a bioimage.io package's description


def is_bioimageio_package(path: str | os.PathLike) -> bool:
    """A bioimage.io package: a .zip, its rdf.yaml / bioimageio.yaml, or a folder holding one."""
    path = Path(path)
    if path.is_dir():
        return any((path / name).is_file() for name in PACKAGE_DESCRIPTIONS)
    return path.suffix.lower() == ".zip" or path.name.endswith(PACKAGE_DESCRIPTIONS)


class RestoringModel(Protocol):
    """What every model offers the tiler, the trainer and the faces: our networks (`models.nets`,
    and the TorchScript/ONNX runners of them) take tiles through `__call__`, sides padded to a
    multiple of `stride`; a foreign bioimage.io model takes whole planes (`restore_plane`)."""

    config: ModelConfig
    restores_whole_planes: bool


class WeightsError(ValueError):
    """A weights file that cannot be used; the message is one sentence meant for the user."""


@dataclass
class LoadedModel:
    model: RestoringModel
    name: str
    card: dict = field(default_factory=dict)
    sha256: str = ""

    @property
    def trained(self) -> bool:
        """False only where the card says so (a preset without shipped weights): a weights file
        without a card was trained by someone, we just cannot say how."""
        return bool(self.card.get("trained", True))


def require_trainable(loaded: LoadedModel) -> None:
    """A foreign bioimage.io model runs through its own pipeline only: one sentence."""
    if loaded.model.restores_whole_planes:
        raise WeightsError(f"{loaded.name} is a foreign bioimage.io model; napari-midnet fine-tunes its own networks")


def tensors_sha256(state: dict) -> str:
    """Hash of names, dtypes, shapes and bytes: identifies weights independent of the metadata."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = _plain_strides(state[name])
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _plain_strides(tensor):
    """A CPU copy in standard row-major strides (channels_last 1x1 kernels keep odd strides
    even after .contiguous())."""
    import torch

    return tensor.detach().cpu().clone(memory_format=torch.contiguous_format)


def save_weights(model, path: str | os.PathLike, card: dict | None = None,
                 half: bool = False) -> str:
    """Write weights atomically with the model card; returns the tensors' sha256."""
    import torch
    from safetensors.torch import save_file

    dtype = torch.float16 if half else torch.float32
    state = {k: _plain_strides(v.to(dtype)) for k, v in model.state_dict().items()}
    sha = tensors_sha256(state)
    full_card = {
        "format": FORMAT,
        "architecture": model.config.as_dict(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **(card or {}),
        "sha256": sha,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"card": json.dumps(full_card)})
    return sha


def fresh_model(preset: str, seed: int = 0, name: str | None = None) -> LoadedModel:
    """A newly initialised network of a preset (untrained); the same weights for the same seed."""
    import torch

    from .nets import build_model

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(preset).eval()
    return LoadedModel(model, name or preset, {"preset": preset, "trained": False}, tensors_sha256(model.state_dict()))


def warm_start(fresh: LoadedModel, init: LoadedModel) -> LoadedModel:
    """`fresh`'s network with `init`'s weights copied in: same-shaped tensors whole, a wider input
    convolution on its first input planes (the extra planes, e.g. a blur condition, start at
    zero so the network begins as `init` did). Other shapes differ: one sentence."""
    import torch

    require_trainable(init)
    target, source = fresh.model.state_dict(), init.model.state_dict()
    mismatched = _mismatches(target, source)
    merged = {}
    for key, tensor in target.items():
        given = source.get(key)
        if given is not None and given.shape == tensor.shape:
            merged[key] = given
        elif given is not None and given.shape[0] == tensor.shape[0] and given.shape[2:] == tensor.shape[2:] \
                and given.ndim == 4 and given.shape[1] < tensor.shape[1]:
            widened = torch.zeros_like(tensor)
            widened[:, :given.shape[1]] = given
            merged[key] = widened
        else:
            raise WeightsError(f"{init.name} does not fit {fresh.name} ({len(mismatched)} mismatched keys, "
                               f"e.g. {'; '.join(mismatched[:2])})")
    fresh.model.load_state_dict(merged)
    card = fresh.card | {"trained": True, "warm_start": {"name": init.name, "sha256": init.sha256}}
    return LoadedModel(fresh.model, f"{fresh.name} from {init.name}", card, tensors_sha256(fresh.model.state_dict()))


def load_weights_file(path: Path) -> LoadedModel:
    """A `.safetensors` (with its card) or legacy `.pt/.pth` weights file as a loaded model."""
    if not path.exists():
        presets = ", ".join(PRESETS)
        raise WeightsError(f"weights file not found: {path} (or use a preset name: {presets})")
    if path.is_dir():
        raise WeightsError(f"{path} is a folder, not a weights file")
    if path.suffix.lower() in {".pt", ".pth"}:
        return _load_legacy(path)
    _check_safetensors_header(path)
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise WeightsError(f"{path.name} is truncated or corrupt ({error})") from None
    try:
        card = json.loads(metadata.get("card", "{}"))
    except json.JSONDecodeError:
        card = {}
    sha = tensors_sha256(state)
    card = card or _shipped_card(sha)  # the shipped tensors re-saved without their card: same model
    config = _config_from_card(card, state, path)
    model = _model_with_state(config, state, path)
    training = card.get("training")
    if isinstance(training, dict) and isinstance(training.get("crop"), int):
        model.set_pool_window(pool_window(training["crop"]))
    return LoadedModel(model, path.stem, card, sha)


def _shipped_card(sha: str) -> dict:
    """The card of the shipped weights with these tensors, or {} (read from the file headers)."""
    from safetensors import safe_open

    for preset in PRESETS:
        shipped = bundled_weights(preset)
        if shipped is not None:
            with safe_open(str(shipped), framework="pt") as handle:
                card = json.loads((handle.metadata() or {}).get("card", "{}"))
            if card.get("sha256") == sha:
                return card
    return {}


def _check_safetensors_header(path: Path) -> None:
    """Tell 'not a weights file at all' apart from 'a weights file cut short'."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9:
        raise WeightsError(f"{path.name} is not a weights file (only {size} bytes)")
    (header_len,) = struct.unpack("<Q", head[:8])
    if head[8:9] != b"{" or header_len > 100_000_000:
        raise WeightsError(f"{path.name} is not a weights file (expected .safetensors, .pt or .pth)")
    if header_len + 8 > size:
        raise WeightsError(f"{path.name} is truncated ({size} bytes, header alone needs {header_len + 8})")


def _load_legacy(path: Path) -> LoadedModel:
    import torch

    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": not the user's business
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for bad pickles
        if "unsupported global" in str(error).lower():  # a class or function to import: code
            raise WeightsError(f"{path.name} holds Python objects besides tensors, which napari-midnet never "
                               "unpickles (it could run code); save its state_dict or a .safetensors file") from None
        raise WeightsError(f"{path.name} cannot be read as PyTorch weights ({type(error).__name__})") from None
    for key in ("state_dict", "model", "params"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path.name} holds no state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    config = _config_from_card({}, state, path)
    model = _model_with_state(config, state, path)
    return LoadedModel(model, path.stem, {"trained": True, "source": "legacy"}, tensors_sha256(state))


def _config_from_card(card: dict, state: dict, path: Path) -> ModelConfig:
    if "architecture" in card:
        try:
            return ModelConfig.from_dict(card["architecture"])
        except (TypeError, ValueError) as error:
            raise WeightsError(f"{path.name} has an invalid model card ({error})") from None
    from .nets import config_from_state

    return config_from_state(state) or PRESETS["midnet"].config  # not ours: the shape check names what is wrong


def _mismatches(expected: dict, state: dict) -> list[str]:
    missing = [f"missing {k}" for k in expected if k not in state]
    unexpected = [f"unexpected {k}" for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    return shapes + missing + unexpected


def _model_with_state(config: ModelConfig, state: dict, path: Path):
    from .nets import build_model

    model = build_model(config)
    problems = _mismatches(model.state_dict(), state)
    if problems:
        shown = "; ".join(problems[:3])
        raise WeightsError(
            f"{path.name} holds weights of another architecture ({len(problems)} mismatched keys, e.g. {shown})"
        )
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()
