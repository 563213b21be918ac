"""Inference backends besides eager PyTorch: TorchScript and ONNX Runtime, for the blind MIDNet
models that bioimage.io export takes. The tiler calls a backend exactly as it calls the network
(N x 1 x H x W tensor in, the same out), so tiling, blending and the record stay one path."""

from __future__ import annotations

import copy
import tempfile
from enum import StrEnum
from pathlib import Path

import numpy as np

from ..models.weights import LoadedModel, WeightsError


class Backend(StrEnum):
    """What runs the network: eager PyTorch, or a graph of it."""

    TORCH = "torch"
    TORCHSCRIPT = "torchscript"
    ONNX = "onnx"


BACKENDS = tuple(backend.value for backend in Backend)  # the choices, as words
DEFAULT_BACKEND = Backend.TORCH.value


def for_backend(loaded: LoadedModel, backend: str) -> LoadedModel:
    """`loaded` running on `backend`: from its bioimage.io package's own file where it came from
    one, else converted now (a few seconds)."""
    if backend == DEFAULT_BACKEND:
        return loaded
    if backend not in BACKENDS:
        raise WeightsError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    from ..models.zoo.load import packaged_file
    from .graphs import ExportError, check_exportable, min_input_side, write_onnx, write_torchscript

    try:
        check_exportable(loaded)
    except ExportError as error:
        raise WeightsError(f"{backend} backend: {error}") from None
    model = copy.deepcopy(loaded.model).cpu().eval()
    with tempfile.TemporaryDirectory(prefix="midnet-backend-") as folder:
        path = Path(folder) / ("model.onnx" if backend == Backend.ONNX else "model.ts")
        if not packaged_file(loaded, backend, path):
            if backend == Backend.ONNX:
                write_onnx(model, path, min_input_side(model))
            else:
                write_torchscript(model, path)
        if backend == Backend.ONNX:
            pooled = copy.deepcopy(model)
            pooled.set_pool_window(None)  # every tile within the window pools globally, as eager torch does
            write_onnx(pooled, Path(folder) / "model-global-pool.onnx", 2 * model.stride)
            runner = OnnxRunner(path, Path(folder) / "model-global-pool.onnx", model)
        else:
            runner = ScriptedRunner(path, model)
    return LoadedModel(runner, loaded.name, loaded.card | {"backend": backend}, loaded.sha256)


def _require_onnxruntime() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise WeightsError("the onnx backend needs onnxruntime: pip install 'napari-midnet[bioimageio]'") from None


class ScriptedRunner:
    """A TorchScript module with the network's config and stride (what the tiler reads)."""

    restores_whole_planes = False

    def __init__(self, path: Path, model):
        import torch

        self.module = torch.jit.load(str(path), map_location="cpu").eval()
        self.config, self.stride = model.config, model.stride

    def __call__(self, inputs):
        import torch

        with torch.inference_mode():
            return self.module(inputs)


class OnnxRunner:
    """ONNX Runtime on the CPU, with two graphs, as eager torch has two branches: channel
    attention pooled over the whole tile (tiles within the pooling window, the default tile
    among them) and over a local window (larger tiles). The local graph takes multiples of the
    stride from its minimum side on (where every window fits), so tiles between the window and
    that side are mirror-padded to it: close to eager torch there, identical elsewhere."""

    restores_whole_planes = False

    def __init__(self, local_path: Path, global_path: Path, model):
        _require_onnxruntime()
        import onnxruntime as ort

        from .graphs import min_input_side, pool_window_px

        self.local = ort.InferenceSession(str(local_path), providers=["CPUExecutionProvider"])
        self.pooled = ort.InferenceSession(str(global_path), providers=["CPUExecutionProvider"])
        self.config, self.stride, self.min_side = model.config, model.stride, min_input_side(model)
        self.window = pool_window_px(model)

    def __call__(self, inputs):
        import torch

        array = inputs.detach().float().cpu().contiguous().numpy()
        height, width = array.shape[-2:]
        pooled = self.window is None or max(height, width) <= self.window
        session = self.pooled if pooled else self.local
        minimum = self.stride if pooled else self.min_side
        pads = [(0, 0), (0, 0)] + [(0, max(minimum, self.stride * -(-side // self.stride)) - side)
                                   for side in (height, width)]
        mode = "reflect" if all(pad < side for (_, pad), side in zip(pads[2:], (height, width))) else "symmetric"
        padded = np.pad(array, pads, mode=mode) if any(pad for _, pad in pads) else array
        output = session.run(None, {session.get_inputs()[0].name: padded})[0]
        return torch.from_numpy(np.ascontiguousarray(output[..., :height, :width]))
