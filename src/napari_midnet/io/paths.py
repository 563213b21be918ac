"""Where files go: inputs collected, outputs named and checked before any work, atomic writes,
the per-user data folder, and what a failed write says."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp"}
DATA_FOLDER_VARIABLE = "NAPARI_MIDNET_DATA"


def plan_outputs(inputs: list[Path], outdir: Path, suffix: str = "", extension: str | None = None) -> list[Path]:
    """`outdir/<stem><suffix>.tif` for each input (`.zarr` for a zarr, or `extension` for all);
    refuses (ValueError) two inputs that would share an output (instruments reuse file names per
    session) or an output that is its input."""
    outputs = [outdir / f"{path.stem}{suffix}{extension or ('.zarr' if is_zarr_folder(path) else '.tif')}"
               for path in inputs]
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
    """Expand folders into their image files and zarr images (sorted); files and zarr images
    are kept as given."""
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir() and not is_zarr_folder(item):
            found.extend(sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES or is_zarr_folder(p)))
        else:
            found.append(item)
    return found


def is_zarr_folder(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" and path.is_dir()


def user_data_folder() -> Path:
    """napari-midnet's per-user data folder (checkpoints, streamed results); NAPARI_MIDNET_DATA
    moves it (the tests use a fresh one each, never the user's)."""
    if os.environ.get(DATA_FOLDER_VARIABLE):
        return Path(os.environ[DATA_FOLDER_VARIABLE])
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "napari-midnet"


@contextmanager
def removed_if_left_empty(folder: Path) -> Iterator[None]:
    """A folder the block creates is removed again if the block leaves it empty (a run that
    failed before writing anything leaves no trace)."""
    created = [] if folder.exists() else [folder, *(p for p in folder.parents if not p.exists())]
    try:
        yield
    finally:
        for made in created:  # the folder, then the parents made for it, while they stay empty
            if not made.is_dir() or any(made.iterdir()):
                break
            made.rmdir()


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


def write_failure(error: OSError) -> str:
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
