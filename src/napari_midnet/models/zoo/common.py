"""What the bioimage.io export and import share: the weight formats, the optional extra, quiet calls."""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager

WEIGHT_FORMATS = ("pytorch_state_dict", "torchscript", "onnx")
INSTALL_HINT = "pip install 'napari-midnet[bioimageio]'"


def require_extra(error: type[Exception]) -> None:
    try:
        import bioimageio.core  # noqa: F401
        import onnx  # noqa: F401
    except ImportError:
        raise error(f"bioimage.io packages need the optional extra: {INSTALL_HINT}") from None


@contextmanager
def quiet():
    """bioimageio's loguru messages and known warnings stay out of the user's terminal."""
    from loguru import logger

    logger.disable("bioimageio")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.enable("bioimageio")


def read_bytes(source) -> bytes:
    from bioimageio.spec.utils import get_reader

    return get_reader(source).read()


def package_name(name: str) -> str:
    """bioimage.io names: 5-128 letters, digits and _+- ()."""
    cleaned = re.sub(r"[^A-Za-z0-9_+\- ()]", "-", f"napari-midnet {name}")
    return cleaned[:128]


def first_error(summary) -> str:
    for detail in summary.details:
        for error in detail.errors:
            return f"{detail.name}: {short(error.msg)}"
    return "no details"


def short(error) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
