"""The network on a batch of tiles: an eval-mode copy on the device, channels-last, and the
optional flip/rotation ensemble with the blur condition turned like the pixels."""

from __future__ import annotations

import threading
import weakref

import numpy as np

from .device import autocast, reuse_freed_memory

NON_FINITE_OUTPUT = ("the model's output holds NaN or infinite values: its weights are broken (e.g. a "
                     "fine-tuning that diverged); use other weights")


def forward_tiles(model, inputs: np.ndarray, device: str, ensemble: bool, conditioned: bool) -> np.ndarray:
    """The network on a batch of tiles ((B, C, h, w) -> (B, h, w)); with `ensemble`, the mean
    over the eight flips and rotations of each tile (Lim et al. 2017), a kernel-aware
    (`conditioned`) network's spot planes turned with it (a transpose negates the astigmatism's
    cos part, one mirror its sin part)."""
    import torch

    views = DIHEDRAL if ensemble else DIHEDRAL[:1]
    total = None
    with torch.inference_mode(), autocast(device):
        batch = torch.from_numpy(inputs).to(device)
        for transposed, flip_rows, flip_cols in views:
            view = turn(batch, transposed, flip_rows, flip_cols)
            if conditioned and transposed:
                view[:, SPOT_COS] = -view[:, SPOT_COS]
            if conditioned and flip_rows != flip_cols:
                view[:, SPOT_SIN] = -view[:, SPOT_SIN]
            output = model(view.contiguous(memory_format=torch.channels_last)).float()
            back = turn_back(output, transposed, flip_rows, flip_cols)
            total = back if total is None else total + back
        restored = (total / len(views)).cpu().numpy()[:, 0]
    if not np.isfinite(restored).all():
        raise ValueError(NON_FINITE_OUTPUT)
    return restored


def turn(batch, transposed: bool, flip_rows: bool, flip_cols: bool):
    view = batch.transpose(-1, -2) if transposed else batch
    dims = [d for d, flip in ((-2, flip_rows), (-1, flip_cols)) if flip]
    return view.flip(dims) if dims else view.clone() if transposed else view


def turn_back(batch, transposed: bool, flip_rows: bool, flip_cols: bool):
    dims = [d for d, flip in ((-2, flip_rows), (-1, flip_cols)) if flip]
    view = batch.flip(dims) if dims else batch
    return view.transpose(-1, -2) if transposed else view


# The eight flips and rotations of a tile: (transposed, rows flipped, columns flipped)
DIHEDRAL = tuple((t, r, c) for t in (False, True) for r in (False, True) for c in (False, True))
SPOT_COS, SPOT_SIN = 2, 3  # input channels of the astigmatism's (sxx - syy) and 2 sxy parts (condition.encode_spot)


def for_inference(model, device: str):
    """An eval-mode, channels-last copy on `device`: the caller's model (shared by the dock's
    registry, perhaps being fine-tuned) keeps its device, memory format and mode. The copy is
    kept while the model is unchanged (it cost 0.13 s, 3 % of a 1024^2 deblur). A TorchScript
    or ONNX runner (backends.py) is used as it is."""
    import copy

    import torch

    reuse_freed_memory()
    if not isinstance(model, torch.nn.Module):
        return model
    key = (device, _state_key(model))
    with _COPIES_LOCK:
        kept = _COPIES.get(model)
        if kept is None or kept[0] != key:
            kept = key, copy.deepcopy(model).to(device=device, memory_format=torch.channels_last).eval()
            _COPIES[model] = kept
        return kept[1]


_COPIES = weakref.WeakKeyDictionary()  # model -> (its _state_key and device, the inference copy)
_COPIES_LOCK = threading.Lock()  # the dock's preview and deblur workers may ask at once


def _state_key(model) -> tuple:
    """What changes when the network does: a tensor replaced or changed in place (an optimizer
    step, load_state_dict bump its version) or a pooling window set."""
    tensors = tuple((tensor.data_ptr(), tensor._version) for tensor in model.state_dict(keep_vars=True).values())
    return tensors, tuple(getattr(module, "window", None) for module in model.modules())
