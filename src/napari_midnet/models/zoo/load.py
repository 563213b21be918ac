"""Import a bioimage.io package: ours as the native network (pixel-identical through our tiler),
a foreign 2-D single-channel restorer through bioimageio.core's own pipeline, the rest refused."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ...imaging import size_text
from ..config import Architecture, ModelConfig
from ..weights import PACKAGE_DESCRIPTIONS, LoadedModel, WeightsError, tensors_sha256
from .common import WEIGHT_FORMATS, first_error, package_name, quiet, read_bytes, require_extra, short


def load_package(path: str | Path) -> LoadedModel:
    """A bioimage.io package as a LoadedModel: ours as the native network, a foreign 2-D
    single-channel restorer as a ZooModel; anything else one sentence."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"bioimage.io package not found: {path}")
    require_extra(WeightsError)
    from bioimageio.spec import load_model_description
    from bioimageio.spec.model.v0_5 import ModelDescr

    source = next((path / name for name in PACKAGE_DESCRIPTIONS if (path / name).is_file()), path)
    try:
        with quiet():
            descr = load_model_description(source)
    except Exception as error:  # a zip that is not one, unreadable yaml: many types
        raise WeightsError(f"{path.name} is not a readable bioimage.io package ({short(error)})") from None
    if not isinstance(descr, ModelDescr):
        summary = getattr(descr, "validation_summary", None)
        why = first_error(summary) if summary is not None else f"format {getattr(descr, 'format_version', '?')}"
        raise WeightsError(f"{path.name} is not a valid bioimage.io model (format 0.5) package: {why}")
    ours = (descr.config.model_extra or {}).get("napari_midnet")
    if isinstance(ours, dict):
        return _load_ours(descr, ours, path)
    return LoadedModel(ZooModel(descr), package_name(str(descr.name)),
                       {"trained": True, "source": "bioimage.io", "package": str(path)}, _weights_sha(descr))


def _load_ours(descr, ours: dict, path: Path) -> LoadedModel:
    import torch

    from ..nets import build_model

    entry = descr.weights.pytorch_state_dict
    if entry is None:
        raise WeightsError(f"{path.name} has no pytorch_state_dict weights")
    kwargs = dict(entry.architecture.kwargs)
    window = kwargs.pop("pool_window", None)
    try:
        state = torch.load(io.BytesIO(read_bytes(entry.source)), map_location="cpu", weights_only=True)
        model = build_model(ModelConfig.from_dict(kwargs))
        model.load_state_dict(state)
    except Exception as error:  # torch and the config raise many types for bad files
        raise WeightsError(f"{path.name}: its weights do not load ({short(error)})") from None
    if tensors_sha256(state) != ours.get("exported_sha256"):
        raise WeightsError(f"{path.name}: its weights are not the ones its model card describes (sha256 differs)")
    model.set_pool_window(window)
    card = dict(ours.get("card") or {}) | {"bioimageio_package": str(path)}
    return LoadedModel(model.eval(), str(ours.get("name") or path.stem), card, str(ours.get("weights_sha256", "")))


def packaged_file(loaded: LoadedModel, weight_format: str, path: Path) -> bool:
    """Write the `weight_format` weights of the package `loaded` came from to `path`; False
    when it came from no package or the package has none of that format."""
    package = loaded.card.get("bioimageio_package")
    if not package:
        return False
    from bioimageio.spec import load_model_description

    with quiet():
        descr = load_model_description(package)
    entry = getattr(descr.weights, weight_format, None)
    if entry is None:
        return False
    path.write_bytes(read_bytes(entry.source))
    return True


class ZooModel:
    """A foreign bioimage.io model: whole planes through bioimageio.core's prediction pipeline
    (its own pre/post-processing and blocking). The tiler hands it planes, not tiles."""

    restores_whole_planes = True
    config = ModelConfig(architecture=Architecture.BIOIMAGEIO)  # blind: no condition planes

    def __init__(self, descr):
        self.descr = descr
        self.name = str(descr.name)
        self.input, self.output = _check_foreign(descr)
        self._pipeline = None

    def restore_plane(self, plane: np.ndarray) -> np.ndarray:
        from bioimageio.core import create_prediction_pipeline, predict

        if self._pipeline is None:
            with quiet():
                self._pipeline = create_prediction_pipeline(self.descr)
        axes = [str(axis.id) for axis in self.input.axes]
        padded, crop = _pad_to_valid(plane.astype(np.float32), self.input)
        array = padded.reshape([padded.shape[0] if a == "y" else padded.shape[1] if a == "x" else 1 for a in axes])
        with quiet():
            sample = predict(model=self._pipeline, inputs={self.input.id: array})
        result = sample.members[self.output.id].data
        order = [str(axis) for axis in result.dims]
        values = np.asarray(result.transpose(*[d for d in order if d not in ("y", "x")], "y", "x"))
        return values.reshape(values.shape[-2:])[crop].astype(np.float32)


def _check_foreign(descr):
    """The single input and output of a 2-D one-channel image-to-image model, or one sentence."""
    name = descr.name
    if len(descr.inputs) != 1 or len(descr.outputs) != 1:
        raise WeightsError(f"{name} has {len(descr.inputs)} inputs and {len(descr.outputs)} outputs; napari-midnet "
                           "runs models of one image in, one image out")
    tensors = (descr.inputs[0], descr.outputs[0])
    for role, tensor in zip(("input", "output"), tensors):
        kinds = {str(axis.id): axis.type for axis in tensor.axes}
        spatial = [axis for axis, kind in kinds.items() if kind == "space"]
        if spatial != ["y", "x"] and sorted(spatial) != ["x", "y"]:
            raise WeightsError(f"{name} is a {len(spatial)}-D model (its {role} axes are {', '.join(kinds)}); "
                               "napari-midnet restores 2-D images")
        channels = [axis for axis in tensor.axes if axis.type == "channel"]
        count = len(channels[0].channel_names) if channels else 1
        if count != 1:
            raise WeightsError(f"{name} has {count} {role} channels; napari-midnet restores "
                               "single-channel (grayscale) images")
        if any(kinds[axis] not in ("batch", "channel", "space") for axis in kinds):
            raise WeightsError(f"{name} has a {role} axis napari-midnet cannot feed ({', '.join(kinds)})")
    label_ops = {"binarize", "sigmoid", "softmax"}
    ends = {getattr(op, "id", "") for op in tensors[1].postprocessing}
    tags = {str(tag).lower() for tag in descr.tags}
    if ends & label_ops or tags & {"segmentation", "instance-segmentation", "semantic-segmentation"}:
        raise WeightsError(f"{name} is a segmentation model (its output is labels or probabilities, not an "
                           "image); napari-midnet runs image restoration models")
    return tensors


def _pad_to_valid(plane: np.ndarray, tensor) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Mirror-pad the plane bottom/right to the input's nearest valid size (min + n * step)."""
    sizes = {str(axis.id): axis.size for axis in tensor.axes if axis.type == "space"}
    target = []
    for axis, length in zip(("y", "x"), plane.shape):
        size = sizes[axis]
        if isinstance(size, int):
            target.append(size)
        else:
            step = size.step or 1
            target.append(size.min + max(0, -(-(length - size.min) // step)) * step)
    if any(want < have for want, have in zip(target, plane.shape)):
        raise WeightsError(f"the image ({size_text(plane.shape)}) is larger than the fixed input size "
                           f"{size_text(target)} of this bioimage.io model")
    padded = np.pad(plane, [(0, want - have) for want, have in zip(target, plane.shape)], mode="symmetric")
    return padded, (slice(0, plane.shape[0]), slice(0, plane.shape[1]))


def _weights_sha(descr) -> str:
    for fmt in WEIGHT_FORMATS:
        entry = getattr(descr.weights, fmt, None)
        if entry is not None and entry.sha256 is not None:
            return str(entry.sha256)
    return ""
