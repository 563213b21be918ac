"""Export a model of ours as a bioimage.io package (format 0.5), tested by bioimageio.core."""

from __future__ import annotations

import copy
import inspect
import json
import tempfile
from collections.abc import Generator
from functools import partial
from pathlib import Path

import numpy as np

from .. import __version__
from ..events import ExportStep
from ..imaging import central_crop
from ..io.paths import atomic_path
from ..models.weights import LoadedModel, tensors_sha256
from ..models.zoo.common import WEIGHT_FORMATS, first_error, package_name, quiet, require_extra
from ..restoration.graphs import (
    HALO,
    ONNX_OPSET,
    ExportError,
    check_exportable,
    min_input_side,
    pool_window_px,
    write_onnx,
    write_torchscript,
)
from ..restoration.inference import NON_FINITE_OUTPUT
from ..restoration.restore import RestoreOptions

GREY_LEVELS = 255.0  # 8-bit in and out, the network sees [0, 1] (as in training)
TEST_SIDE = 256  # the test tensor: a central crop of the bundled blurry sample
TAGS = ["electron-microscopy", "sem", "deblurring", "restoration", "2d", "pytorch", "napari"]
CITATIONS = [
    {"text": "Wang J. et al., MIDNet: Deblurring Network for Material Microstructure Images, CMC 79(1), 2024",
     "doi": "10.32604/cmc.2024.046929"},
    {"text": "Chen L. et al., Simple Baselines for Image Restoration (NAFNet), ECCV 2022",
     "url": "https://arxiv.org/abs/2204.04676"},
    {"text": "napari-midnet: deblur SEM images in napari or from the shell",
     "url": "https://pypi.org/project/napari-midnet/"},
]
ARCHITECTURE_FILE = "midnet_architecture.py"
ARCHITECTURE_CALLABLE = "build_midnet"


def export_package(loaded: LoadedModel, out: str | Path, overwrite: bool = False
                   ) -> Generator[ExportStep, None, Path]:
    """Write `loaded` as a bioimage.io model package (zip, format 0.5) with pytorch_state_dict,
    TorchScript and ONNX weights; refuse to write one whose bioimageio.core test fails."""
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise ExportError(f"{out.name}: a bioimage.io package is written as a .zip file")
    if out.exists() and not overwrite:
        raise ExportError(f"{out} exists; pass --overwrite to replace it")
    check_exportable(loaded)
    require_extra(ExportError)
    model = copy.deepcopy(loaded.model).cpu().eval()
    side = min_input_side(model)
    with tempfile.TemporaryDirectory(prefix="midnet-bioimageio-") as folder:
        folder = Path(folder)
        rdf = folder / "rdf.yaml"

        def write_examples() -> None:  # first: a broken model is refused before the slow conversions
            _write_test_tensors(model, folder, side)
            _write_cover(loaded, folder / "cover.png")
            (folder / "README.md").write_text(_documentation(loaded, side))

        def write_weights() -> None:
            exported_sha = _write_state_dict(model, folder / "weights.pt")
            (folder / ARCHITECTURE_FILE).write_text(architecture_source())
            rdf.write_text(json.dumps(_description(loaded, model, side, exported_sha), indent=1))  # JSON is YAML

        def package() -> None:
            from bioimageio.spec import save_bioimageio_package

            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(out) as tmp, quiet():
                save_bioimageio_package(rdf, output_path=tmp.with_suffix(".zip"))
                tmp.with_suffix(".zip").replace(tmp)

        work = [("test tensors and cover", write_examples), ("weights", write_weights),
                ("TorchScript", lambda: write_torchscript(model, folder / "model.ts")),
                ("ONNX", lambda: write_onnx(model, folder / "model.onnx", side))]
        work += [(f"bioimageio.core test ({fmt})", partial(_test_or_refuse, rdf, fmt)) for fmt in WEIGHT_FORMATS]
        work += [("package", package)]
        for done, (stage, run) in enumerate(work):
            yield ExportStep(stage, done, len(work))
            run()
        yield ExportStep("done", len(work), len(work))
    return out


def architecture_source() -> str:
    """One self-contained Python file with the network, made from this package's own source
    (bioimage.io runs the file alone, so it cannot import napari_midnet)."""
    from ..models import config
    from ..models.nets import blocks, midnet

    parts = [config.Architecture, config.ModelConfig, blocks.Restorer, blocks.LayerNorm2d, blocks.SimpleGate,
             blocks.ChannelPool, blocks.box_mean, blocks._sums_where_box_fits, blocks.pad_to_multiple, midnet.NAFBlock,
             midnet.AttentionGate, midnet.UngatedSkip, midnet.MIDNet]
    header = (f'"""MIDNet (Wang et al., CMC 2024) as napari-midnet {__version__} builds it, copied from its source '
              'for bioimage.io."""\n\nfrom __future__ import annotations\n\nfrom dataclasses import asdict, dataclass\n'
              'from enum import StrEnum\n'
              "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
              f"DEFAULT_POOL_WINDOW = {config.DEFAULT_POOL_WINDOW}\n")
    factory = (f"def {ARCHITECTURE_CALLABLE}(pool_window: int | None = None, **architecture) -> MIDNet:\n"
               '    """The network of a napari-midnet model card\'s `architecture`, pooling as it ran."""\n'
               "    model = MIDNet(ModelConfig.from_dict(architecture))\n"
               "    model.set_pool_window(pool_window)\n    return model\n")
    return "\n\n".join([header] + [inspect.getsource(part) for part in parts] + [factory])


def _write_state_dict(model, path: Path) -> str:
    """A plain torch.save state dict (what bioimage.io's loader reads); returns its tensors' sha256."""
    import torch

    state = {key: value.detach().clone() for key, value in model.state_dict().items()}
    torch.save(state, str(path))
    return tensors_sha256(state)


def _test_input(side: int) -> np.ndarray:
    from ..bundled import sample_paths
    from ..io.files import read_image

    return central_crop(read_image(sample_paths()["SEM blurry"]), side).astype(np.float32)[None, None]


def _write_test_tensors(model, folder: Path, min_side: int) -> None:
    import torch

    side = max(min_side, TEST_SIDE)
    raw = _test_input(side)
    with torch.inference_mode():
        output = model(torch.from_numpy(raw / GREY_LEVELS)).numpy() * GREY_LEVELS
    if not np.isfinite(output).all():
        raise ExportError(NON_FINITE_OUTPUT + "; nothing was written")
    np.save(folder / "test_input.npy", raw)
    np.save(folder / "test_output.npy", output.astype(np.float32))


def _write_cover(loaded: LoadedModel, path: Path) -> None:
    """Before | after on the bundled sample, through napari-midnet's own tiler (2:1)."""
    import imageio.v3 as iio

    from ..bundled import sample_paths
    from ..events import drain
    from ..io.files import read_image
    from ..restoration.restore import restore

    before = np.ascontiguousarray(central_crop(read_image(sample_paths()["SEM blurry"]), 384))
    after = drain(restore(before, loaded.model, RestoreOptions(device="cpu", keep_databar=False)))
    iio.imwrite(path, np.concatenate([before, after], axis=1).astype(np.uint8))


def _axes(side: int, stride: int, output: bool) -> list[dict]:
    if output:
        space = [{"type": "space", "id": axis, "halo": HALO, "size": {"tensor_id": "input", "axis_id": axis}}
                 for axis in ("y", "x")]
    else:
        space = [{"type": "space", "id": axis, "size": {"min": side, "step": stride}} for axis in ("y", "x")]
    return [{"type": "batch"}, {"type": "channel", "channel_names": ["intensity"]}] + space


def _description(loaded: LoadedModel, model, side: int, exported_sha: str) -> dict:
    import torch

    from ..models.nets import count_parameters

    version = torch.__version__.split("+")[0]
    kwargs = model.config.as_dict() | {"pool_window": pool_window_px(model)}
    scale = [{"id": "scale_linear", "kwargs": {"gain": 1 / GREY_LEVELS, "offset": 0.0}}]
    unscale = [{"id": "scale_linear", "kwargs": {"gain": GREY_LEVELS, "offset": 0.0}}]
    card = {key: value for key, value in loaded.card.items() if key != "sha256"}
    return {
        "format_version": "0.5.12",  # what bioimageio.core 0.11 validates
        "type": "model",
        "name": package_name(loaded.name),
        "description": f"Deblurs grayscale SEM images: {loaded.name}, a MIDNet (NAFNet U-Net with soft attention "
                       f"gates) trained by napari-midnet {__version__}. Input and output in 8-bit grey levels.",
        "authors": [{"name": "napari-midnet developers"}],
        "cite": CITATIONS,
        "license": "MIT",
        "tags": TAGS,
        "covers": [{"source": "cover.png"}],
        "documentation": {"source": "README.md"},
        "version": __version__,
        "inputs": [{"id": "input", "axes": _axes(side, model.stride, False),
                    "test_tensor": {"source": "test_input.npy"},
                    "description": "SEM image, grey levels 0..255", "preprocessing": scale}],
        "outputs": [{"id": "output", "axes": _axes(side, model.stride, True),
                     "test_tensor": {"source": "test_output.npy"},
                     "description": "deblurred image, grey levels 0..255", "postprocessing": unscale}],
        "weights": {
            "pytorch_state_dict": {"source": "weights.pt", "pytorch_version": version,
                                   "architecture": {"source": ARCHITECTURE_FILE, "callable": ARCHITECTURE_CALLABLE,
                                                    "kwargs": kwargs}},
            "torchscript": {"source": "model.ts", "pytorch_version": version, "parent": "pytorch_state_dict"},
            "onnx": {"source": "model.onnx", "opset_version": ONNX_OPSET, "parent": "pytorch_state_dict"},
        },
        "config": {
            "bioimageio": {
                "reproducibility_tolerance": [{"relative_tolerance": 1e-3, "absolute_tolerance": 1e-2,
                                               "mismatched_elements_per_million": 100}],
                "modality": "electron microscopy", "task": "deblurring",
                "model_parameter_count": count_parameters(model),
            },
            "napari_midnet": {"card": card, "weights_sha256": loaded.sha256, "exported_sha256": exported_sha,
                              "name": loaded.name, "halo": HALO, "min_side": side},
        },
    }


def _documentation(loaded: LoadedModel, side: int) -> str:
    checks = loaded.card.get("checks")
    validation = json.dumps(checks, indent=1) if checks else "No validation numbers were recorded for these weights."
    return (f"# {loaded.name}: SEM deblurring (MIDNet)\n\n"
            f"Exported by napari-midnet {__version__}. Grayscale SEM image in, the deblurred image out, both in "
            "8-bit grey levels (0..255): scale 16-bit data to that range first, or use napari-midnet, which "
            "normalises any dtype itself.\n\n"
            f"Blocks: at least {side} px a side in steps of 16, halo {HALO} px per side (the tiler's overlap).\n\n"
            "## Use\n\n```\nnapari-midnet deblur image.tif --model this.zip -o out\n"
            "bioimageio predict this.zip --inputs image.npy\n```\n\n"
            f"# Validation\n\nAs measured by napari-midnet when the weights were made:\n\n```\n{validation}\n```\n")


def _test_or_refuse(rdf: Path, weight_format: str) -> None:
    from bioimageio.core import test_model

    with quiet():
        summary = test_model(rdf, weight_format=weight_format)
    if summary.status != "passed":
        raise ExportError(f"the package's own bioimageio.core test failed for {weight_format}: "
                          f"{first_error(summary)}; nothing was written")
