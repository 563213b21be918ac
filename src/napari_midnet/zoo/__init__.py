"""BioImage Model Zoo (bioimage.io) packages: export ours, and import ours or a foreign 2-D restorer.

A package of ours restores exactly as the native model (the same network through the same
tiler, rebuilt from its `pytorch_state_dict` and the model card in `config.napari_midnet`). A
foreign single-channel 2-D restoration model runs through bioimageio.core's own pipeline, with
its own pre- and post-processing. bioimageio.core, onnx and onnxruntime are the optional extra
`napari-midnet[bioimageio]`, imported only inside the functions that need them.
"""

from .common import WEIGHT_FORMATS
from .export import ExportError, check_exportable, export_package, min_input_side, write_onnx, write_torchscript
from .load import ZooModel, load_package, packaged_file

__all__ = ["WEIGHT_FORMATS", "ExportError", "ZooModel", "check_exportable", "export_package", "load_package",
           "min_input_side", "packaged_file", "write_onnx", "write_torchscript"]
