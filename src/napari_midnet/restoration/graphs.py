"""The network as a graph for other runtimes (TorchScript, ONNX): what bioimage.io packages carry
and what the backends run."""

from __future__ import annotations

import warnings
from pathlib import Path

from ..models.config import export_refusal
from ..models.weights import LoadedModel
from ..models.zoo.common import quiet
from .restore import RestoreOptions

ONNX_OPSET = 18
HALO = RestoreOptions().overlap  # the tiler's overlap: what a block needs on each side


class ExportError(ValueError):
    """A model that cannot be exported, or a package that failed its own test; one sentence."""


def check_exportable(loaded: LoadedModel) -> None:
    """One sentence for models a bioimage.io consumer could not run as we do."""
    refusal = export_refusal(loaded.name, loaded.model.config, loaded.trained)
    if refusal:
        raise ExportError(refusal)


def pool_window_px(model) -> int | None:
    """Channel attention's pooling window in full-resolution pixels (None: global pooling)."""
    from ..models.nets.blocks import ChannelPool

    pools = [module for module in model.modules() if isinstance(module, ChannelPool)]
    return None if not pools or pools[0].window is None else pools[0].window * pools[0].downscale


def min_input_side(model) -> int:
    """The smallest side (a multiple of the stride) at which every local pooling window fits
    inside its feature map, so one exported graph (TorchScript or ONNX) covers all valid sizes,
    and which leaves at least one output pixel inside the halo."""
    from ..models.nets.blocks import ChannelPool

    side = model.stride * -(-(2 * HALO + 1) // model.stride)
    for module in model.modules():
        if isinstance(module, ChannelPool) and module.window is not None:
            while side // module.downscale <= module.window:
                side += model.stride
    return side


def write_torchscript(model, path: Path) -> None:
    """Scripted, not traced: the network branches on the input size (padding, pooling)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated; bioimage.io still reads it
        torch.jit.script(model).save(str(path))


def write_onnx(model, path: Path, min_side: int) -> None:
    """Dynamic batch, height and width. Exported from a trace at one valid size: on the sizes the
    package declares (multiples of the stride from `min_side` on) the network takes the same
    branches everywhere (no padding, every pooling window inside its map), and the sizes flow
    through the graph; 20x faster here than the torch.export route, with the same outputs."""
    import torch

    stride = model.stride
    example = torch.rand(1, 1, min_side + stride, min_side + 2 * stride)
    axes = {0: "batch", 2: "rows", 3: "cols"}
    with quiet(), torch.inference_mode():
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=ONNX_OPSET,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": axes, "output": axes})
