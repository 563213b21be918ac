"""SEM TIFF reader for napari: pixel size, instrument metadata and databar rows.

Claims only TIFFs that carry SEM metadata (FEI/Thermo, Zeiss, TESCAN tags, or a JEOL sidecar
`.txt`); returns None for any other TIFF so napari's own reader takes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import FEI_TAGS, TESCAN_TAG, ZEISS_TAG

UNIT_TO_NM = {"pm": 1e-3, "nm": 1.0, "um": 1e3, "µm": 1e3, "μm": 1e3, "mm": 1e6, "m": 1e9}


@dataclass
class SemInfo:
    instrument: str
    pixel_size_nm: float | None
    metadata: dict = field(default_factory=dict)


def get_reader(path):
    """npe2 reader hook: a reader function for SEM TIFFs, None otherwise."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    path = Path(path)
    if path.suffix.lower() not in {".tif", ".tiff"} or not path.is_file():
        return None
    try:
        info = read_sem_info(path)
    except Exception:  # a TIFF tifffile cannot parse: let napari's reader report it
        return None
    return None if info is None else read_sem_tiff


def read_sem_info(path: str | Path) -> SemInfo | None:
    """Instrument and pixel size from a TIFF's SEM tags or JEOL sidecar; None if not SEM."""
    import tifffile

    path = Path(path)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        tags = page.tags
        if any(code in tags for code in FEI_TAGS):
            return _fei_info(tif.fei_metadata or {})
        if ZEISS_TAG in tags:
            return _zeiss_info(tif.sem_metadata or {})
        if TESCAN_TAG in tags:
            return _tescan_info(tags[TESCAN_TAG].value)
    sidecar = path.with_suffix(".txt")
    if sidecar.is_file():
        return _jeol_info(sidecar.read_text(errors="replace"))
    return None


def _fei_info(metadata: dict) -> SemInfo:
    scan = metadata.get("Scan", {}) or metadata.get("EScan", {})
    width = scan.get("PixelWidth")
    system = metadata.get("System", {})
    name = system.get("SystemType") or system.get("Type") or "FEI/Thermo"
    return SemInfo(f"FEI/Thermo {name}".strip(), float(width) * 1e9 if width else None, metadata)


def _zeiss_info(metadata: dict) -> SemInfo:
    size = metadata.get("ap_image_pixel_size") or metadata.get("ap_pixel_size")
    pixel_nm = None
    if isinstance(size, tuple) and len(size) >= 3:
        pixel_nm = float(size[1]) * UNIT_TO_NM.get(str(size[2]).strip(), float("nan"))
    detector = metadata.get("dp_detector_channel")
    name = "Zeiss" + (f" ({detector[1]})" if isinstance(detector, tuple) and len(detector) > 1 else "")
    printable = {k: v for k, v in metadata.items() if k}  # tifffile's '' key holds raw numbers
    return SemInfo(name, pixel_nm if pixel_nm == pixel_nm else None, printable)


def _tescan_info(value) -> SemInfo:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    values = dict(re.findall(r"^\s*([\w.]+)\s*=\s*(.*?)\s*$", text, flags=re.M))
    size = values.get("PixelSizeX")
    return SemInfo(f"TESCAN {values.get('Device', '')}".strip(), float(size) * 1e9 if size else None, values)


def _jeol_info(text: str) -> SemInfo | None:
    """JEOL sidecar: `$$SM_MICRON_BAR <px>` and `$$SM_MICRON_MARKER <length><unit>`."""
    values = dict(re.findall(r"^\s*\$+(\w+)\s+(.*?)\s*$", text, flags=re.M))
    if not any(key.startswith(("CM_", "SM_")) for key in values):
        return None
    pixel_nm = None
    bar, marker = values.get("SM_MICRON_BAR"), values.get("SM_MICRON_MARKER")
    match = re.fullmatch(r"([\d.]+)\s*([a-zµμ]+)", marker or "", flags=re.I)
    if bar and match and float(bar) > 0:
        pixel_nm = float(match.group(1)) * UNIT_TO_NM.get(match.group(2).lower(), float("nan")) / float(bar)
    return SemInfo(f"JEOL {values.get('CM_INSTRUMENT', '')}".strip(),
                   pixel_nm if pixel_nm == pixel_nm else None, values)


def read_sem_tiff(path) -> list[tuple]:
    """napari ReaderFunction: one image layer with scale in nm and metadata['sem']."""
    import tifffile

    from .databar import detect_databar

    path = Path(path[0] if isinstance(path, list) else path)
    info = read_sem_info(path)
    data = tifffile.imread(path)
    plane = data if data.ndim == 2 else None
    bar = detect_databar(plane) if plane is not None else None
    sem = {
        "instrument": info.instrument if info else "unknown",
        "pixel_size_nm": info.pixel_size_nm if info else None,
        "databar_row": bar,
        "source": str(path),
        "instrument_metadata": _plain(info.metadata) if info else {},
    }
    kwargs = {"name": path.stem, "metadata": {"sem": sem}}
    if info and info.pixel_size_nm:
        leading = data.ndim - 2
        kwargs["scale"] = (1.0,) * leading + (info.pixel_size_nm,) * 2
        kwargs["units"] = ("pixel",) * leading + ("nm", "nm")
    return [(data, kwargs, "image")]


def _plain(value):
    """Metadata made of plain types (tuples and numpy scalars become lists and numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
