"""Reading images and writing any file atomically (images, weights, checkpoints)."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

FEI_TAGS = (34680, 34682)  # FEI_SFEG, FEI_HELIOS
ZEISS_TAG = 34118  # CZ_SEM
TESCAN_TAG = 50431
INSTRUMENT_TAGS = (*FEI_TAGS, ZEISS_TAG, TESCAN_TAG)  # copied to outputs by write_tiff; read by reader.py
IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)

IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp"}


class ImageReadError(ValueError):
    """An input that cannot be read as an image; the message is one sentence."""


# How each format's files begin (their signatures): the content, not the name, decides how a file
# is read (a TIFF saved as .png still opens), and a file named as an image that is none gets one
# sentence instead of a decoder's advice to install plugins.
SIGNATURES = {
    "TIFF": (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "JPEG": (b"\xff\xd8\xff",),
    "BMP": (b"BM",),
}
FORMAT_OF_SUFFIX = {".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read TIFF (all pages as a stack), PNG, JPEG or BMP without changing dtype."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"input not found: {path}")
    if path.is_dir():
        raise ImageReadError(f"{path} is a folder")
    kind = _format_by_content(path)
    try:
        if kind == "TIFF":
            import tifffile

            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                return series.asarray()
        from skimage import io as skio

        return np.asarray(skio.imread(path))
    except Exception as error:  # image libraries raise many different errors for bad files
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise ImageReadError(f"cannot read {path.name} as an image ({type(error).__name__}: {first_line})") from None


def _format_by_content(path: Path) -> str | None:
    """The format a file's first bytes say; one sentence for a file named as an image that is none."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    actual = next((name for name, starts in SIGNATURES.items() if head.startswith(starts)), None)
    named = FORMAT_OF_SUFFIX.get(path.suffix.lower())
    if actual is None and named is not None:
        raise ImageReadError(f"{path.name} is not a {named} file, nor any image format read here (its first bytes "
                             "say so): perhaps another kind of file renamed; save it again as an image")
    return actual


def plan_outputs(inputs: list[Path], outdir: Path, suffix: str = "") -> list[Path]:
    """`outdir/<stem><suffix>.tif` for each input; refuses (ValueError) two inputs that would
    share an output (instruments reuse file names per session) or an output that is its input."""
    outputs = [outdir / f"{path.stem}{suffix}.tif" for path in inputs]
    first_source: dict[Path, Path] = {}
    for source, target in zip(inputs, outputs):
        key = target.resolve()
        if key == source.resolve():
            raise ValueError(f"{target} would overwrite its input; choose another output folder or --suffix")
        if key in first_source:
            raise ValueError(f"{first_source[key]} and {source} would both be written to {target}; "
                             "deblur them in separate runs or into separate output folders")
        first_source[key] = source
    return outputs


def collect_inputs(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand folders into their image files (sorted); files are kept as given."""
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found.extend(sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(item)
    return found


@dataclass
class TiffLayout:
    """What an output keeps of its input TIFF: instrument tags (raw), pixel size, axes."""

    extratags: list = field(default_factory=list)  # (code, datatype, count, raw bytes, writeonce)
    resolution: tuple | None = None
    resolutionunit: int | None = None
    axes: str | None = None
    imagej: bool = False


def read_tiff_layout(path: str | os.PathLike) -> TiffLayout | None:
    """The first page's instrument tags and resolution and the series' axes; None for non-TIFFs."""
    path = Path(path)
    if path.suffix.lower() not in {".tif", ".tiff"}:
        return None
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page, handle = tif.pages[0], tif.filehandle
        layout = TiffLayout(axes=tif.series[0].axes, imagej=tif.is_imagej)
        for code in INSTRUMENT_TAGS:
            tag = page.tags.get(code)
            if tag is not None:
                handle.seek(tag.valueoffset)
                layout.extratags.append((code, int(tag.dtype), tag.count, handle.read(tag.valuebytecount), True))
        if 282 in page.tags and 283 in page.tags:
            layout.resolution, layout.resolutionunit = page.resolution, int(page.resolutionunit)
    return layout


def check_writable_folder(folder: Path) -> None:
    """Create `folder` if needed and prove a file can be written there, before any compute."""
    if folder.exists() and not folder.is_dir():
        raise OSError(f"the output folder {folder} is an existing file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".napari-midnet-", suffix=".part"):
            pass
    except OSError as error:
        raise OSError(f"cannot write to the output folder {folder}: {error.strerror or error}") from None


def write_tiff(path: str | os.PathLike, image: np.ndarray, overwrite: bool = False,
               layout: TiffLayout | None = None, provenance: dict | None = None) -> None:
    """Write a TIFF through a temp file and rename, so a crash never leaves half an output.

    `layout` carries the input's instrument tags, pixel size and axes (an ImageJ hyperstack
    stays one); `provenance` (model, weights, settings) goes into the image description.
    """
    import tifffile

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (use --overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = layout or TiffLayout()
    photometric = "rgb" if image.ndim == 3 and image.shape[-1] in (3, 4) else "minisblack"
    options = {"photometric": photometric, "bigtiff": image.nbytes > 2**31, "extratags": layout.extratags}
    if layout.resolution is not None:
        options |= {"resolution": layout.resolution, "resolutionunit": layout.resolutionunit}
    midnet = {"midnet": provenance} if provenance else {}
    if layout.imagej and image.dtype in IMAGEJ_DTYPES and photometric == "minisblack":
        options |= {"imagej": True, "metadata": {"axes": layout.axes, "Info": json.dumps(midnet)}}
    else:
        axes = {"axes": layout.axes} if layout.axes and len(layout.axes) == image.ndim else {}
        options["metadata"] = axes | midnet
    try:
        with atomic_path(path) as tmp:
            tifffile.imwrite(tmp, image, **options)
    except OSError as error:  # nothing is left behind: the temp file is gone, `path` untouched
        raise OSError(f"could not write {path} ({_write_failure(error)}); nothing was written") from None


def _write_failure(error: OSError) -> str:
    """Why a write failed, in words: a full disk (or a file-size limit) says so."""
    import errno

    if error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or "requested and" in str(error):
        return "the disk is full, or a file-size limit was reached"
    return error.strerror or str(error)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an unused temp path beside `path` for the caller to write (so the file gets the
    usual permissions); it replaces `path` only if the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # some writers (safetensors) create files as 0600
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@cache
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
