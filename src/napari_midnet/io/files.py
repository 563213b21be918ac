"""Reading images and writing any file atomically (images, weights, checkpoints)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .paths import atomic_path, write_failure

FEI_TAGS = (34680, 34682)  # FEI_SFEG, FEI_HELIOS
ZEISS_TAG = 34118  # CZ_SEM
TESCAN_TAG = 50431
INSTRUMENT_TAGS = (*FEI_TAGS, ZEISS_TAG, TESCAN_TAG)  # copied to outputs by write_tiff; read by reader.py
IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)


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
        raise ImageReadError(_unreadable(path, error)) from None


class TiffPlane:
    """A 2-D TIFF read by region, never whole: an uncompressed contiguous page by file offset
    (os.pread: no memory map, whose pages would count as the process's memory), anything
    else (compressed, tiled, striped) through tifffile's zarr store, which decodes only the
    strips or tiles a region touches. Opened inside the process that reads it (a cluster
    worker opens its own: open stores do not pickle)."""

    def __init__(self, path: str | os.PathLike):
        import tifffile

        self.path = Path(path)
        kind = _format_by_content(self.path)
        if kind != "TIFF":
            raise ImageReadError(f"{self.path.name} is not a TIFF file")
        try:
            self._tif = tifffile.TiffFile(self.path)
            series = self._tif.series[0]
        except Exception as error:  # tifffile raises many kinds for a broken file
            raise ImageReadError(_unreadable(self.path, error)) from None
        if len(series.shape) != 2:
            self._tif.close()
            raise ImageReadError(f"{self.path.name} is not a single 2-D plane (shape {series.shape})")
        page = series.pages[0]
        self.shape, self.ndim = tuple(series.shape), 2
        self.dtype = np.dtype(series.dtype).newbyteorder("=")
        self._offset = page.dataoffsets[0] if page.is_contiguous and len(series.pages) == 1 else None
        self._stored = np.dtype(series.dtype).newbyteorder(self._tif.byteorder)
        self._fd = os.open(self.path, os.O_RDONLY) if self._offset is not None else None
        self._zarr = None
        if self._offset is None:
            import zarr

            self._zarr = zarr.open_array(series.aszarr(), mode="r")

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = (*(key if isinstance(key, tuple) else (key,)), slice(None))[:2]
        try:
            if self._zarr is not None:
                return np.asarray(self._zarr[rows, cols])
            top, bottom, _ = (rows if isinstance(rows, slice) else slice(rows, rows + 1)).indices(self.shape[0])
            row_bytes = self.shape[1] * self._stored.itemsize
            data = os.pread(self._fd, max(bottom - top, 0) * row_bytes, self._offset + top * row_bytes)
            block = np.frombuffer(data, dtype=self._stored).reshape(-1, self.shape[1]).astype(self.dtype)
            return block[0, cols] if not isinstance(rows, slice) else block[::rows.step or 1, cols]
        except (OSError, ValueError, RuntimeError) as error:  # a corrupt strip or tile, a truncated file
            raise ImageReadError(_unreadable(self.path, error)) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tif.close()

    def __enter__(self) -> TiffPlane:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def single_plane_pixels(path: Path) -> int:
    """Pixels of a TIFF that holds one 2-D gray plane (what a streamed deblur takes), else 0."""
    if path.suffix.lower() not in {".tif", ".tiff"} or not path.is_file():
        return 0
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            shape = tif.series[0].shape
    except Exception:  # the in-memory reader says why, in one sentence
        return 0
    return shape[0] * shape[1] if len(shape) == 2 else 0


def _unreadable(path: Path, error: Exception) -> str:
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"cannot read {path.name} as an image ({type(error).__name__}: {first_line})"


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


def write_tiff(path: str | os.PathLike, image: np.ndarray, overwrite: bool = False,
               layout: TiffLayout | None = None, provenance: dict | None = None) -> None:
    """Write a TIFF through a temp file and rename, so a crash never leaves half an output.

    `layout` carries the input's instrument tags, pixel size and axes (an ImageJ hyperstack
    stays one); `provenance` (model, weights, settings) goes into the image description.
    """
    import tifffile

    photometric = "rgb" if image.ndim == 3 and image.shape[-1] in (3, 4) else "minisblack"
    options = _tiff_options(layout, provenance, image.ndim, photometric, image.dtype in IMAGEJ_DTYPES)
    with _atomic_tiff(path, overwrite) as tmp:
        tifffile.imwrite(tmp, image, bigtiff=image.nbytes > 2**31, **options)


TILE_SIDE = 512  # tiles of a streamed output (multiples of 16, as TIFF needs)
PYRAMID_ABOVE = 8192  # px: a streamed output longer than this on a side gets reduced levels ...
PYRAMID_DOWN_TO = 1024  # ... halved until its longer side is at most this


def write_tiff_by_rows(path: str | os.PathLike, shape: tuple[int, int], dtype, rows, overwrite: bool = False,
                       layout: TiffLayout | None = None, provenance: dict | None = None) -> None:
    """Write a 2-D image that `rows(top, bottom)` hands out a band at a time as a tiled TIFF
    (BigTIFF when large), atomically: memory holds one band of tiles, not the image. Above
    PYRAMID_ABOVE px the file carries reduced levels (2x2 means, as SubIFDs) so viewers open
    it fast. ImageJ cannot read tiles, so the record goes into the shaped description."""
    import tifffile

    dtype = np.dtype(dtype)
    levels = pyramid_levels(shape)
    total = sum((shape[0] >> k) * (shape[1] >> k) for k in range(levels + 1)) * dtype.itemsize
    options = _tiff_options(layout, provenance, 2, "minisblack", False)
    with _atomic_tiff(path, overwrite) as tmp, tifffile.TiffWriter(tmp, bigtiff=total > 2**31) as tiff:
        tiff.write(_tiles(rows, shape, dtype, 1), shape=shape, dtype=dtype, tile=(TILE_SIDE, TILE_SIDE),
                   subifds=levels or None, buffersize=2**25, **options)
        for level in range(1, levels + 1):
            factor = 2**level
            reduced = (shape[0] // factor, shape[1] // factor)
            tiff.write(_tiles(rows, reduced, dtype, factor), shape=reduced, dtype=dtype,
                       tile=(TILE_SIDE, TILE_SIDE), subfiletype=1, photometric="minisblack", buffersize=2**25)


def pyramid_levels(shape: tuple[int, int], above: int | None = None) -> int:
    """How many halved levels an image of `shape` gets: none up to `above` px (PYRAMID_ABOVE),
    then down to PYRAMID_DOWN_TO px."""
    longest, levels = max(shape), 0
    if longest <= (PYRAMID_ABOVE if above is None else above):
        return 0
    while longest > PYRAMID_DOWN_TO and min(shape) >> (levels + 1) >= 16:
        longest //= 2
        levels += 1
    return levels


def _tiles(rows, shape: tuple[int, int], dtype, factor: int):
    """The tiles of an image (reduced by `factor`) in the row-major order TIFF stores them,
    edge tiles zero-padded."""
    for top in range(0, shape[0], TILE_SIDE):
        bottom = min(top + TILE_SIDE, shape[0])
        band = rows(top, bottom) if factor == 1 else reduced_rows(rows, top, bottom, shape[1], factor, dtype)
        for left in range(0, shape[1], TILE_SIDE):
            tile = np.zeros((TILE_SIDE, TILE_SIDE), dtype=dtype)
            part = band[:, left:left + TILE_SIDE]
            tile[:part.shape[0], :part.shape[1]] = part
            yield tile


def reduced_rows(rows, top: int, bottom: int, width: int, factor: int, dtype) -> np.ndarray:
    """Rows [top, bottom) of the image reduced by `factor` (means of factor x factor blocks),
    read from the full-size rows about TILE_SIDE at a time."""
    step = max(TILE_SIDE // factor, 1)
    parts = []
    for start in range(top, bottom, step):
        stop = min(start + step, bottom)
        full = rows(start * factor, stop * factor)[:, :width * factor]
        parts.append(full.reshape(stop - start, factor, width, factor).mean(axis=(1, 3), dtype=np.float32))
    reduced = np.concatenate(parts)
    return (np.rint(reduced) if np.issubdtype(dtype, np.integer) else reduced).astype(dtype)


def _tiff_options(layout: TiffLayout | None, provenance: dict | None, ndim: int, photometric: str,
                  imagej_dtype: bool) -> dict:
    """tifffile's write options that keep an input's instrument tags, pixel size and axes and
    put the record into the description (ImageJ's Info for a hyperstack that stays one)."""
    layout = layout or TiffLayout()
    options = {"photometric": photometric, "extratags": layout.extratags}
    if layout.resolution is not None:
        options |= {"resolution": layout.resolution, "resolutionunit": layout.resolutionunit}
    midnet = {"midnet": provenance} if provenance else {}
    if layout.imagej and imagej_dtype and photometric == "minisblack":
        options |= {"imagej": True, "metadata": {"axes": layout.axes, "Info": json.dumps(midnet)}}
    else:
        axes = {"axes": layout.axes} if layout.axes and len(layout.axes) == ndim else {}
        options["metadata"] = axes | midnet
    return options


@contextmanager
def _atomic_tiff(path: str | os.PathLike, overwrite: bool) -> Iterator[Path]:
    """A temp path to write a TIFF to, renamed over `path` on success; a failed write leaves
    nothing and says why in one sentence."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (use --overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            yield tmp
    except OSError as error:  # nothing is left behind: the temp file is gone, `path` untouched
        raise OSError(f"could not write {path} ({write_failure(error)}); nothing was written") from None


