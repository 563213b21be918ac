"""The SEM TIFF reader on tagged TIFFs written here with tifffile."""

import numpy as np
import pytest
import tifffile

from napari_midnet.bundled import sample_paths
from napari_midnet.io.reader import get_reader, read_sem_tiff

from .conftest import sem_like

IMAGE = (sem_like((128, 160), databar=20) * 255).astype(np.uint8)


def read_one(path):
    reader = get_reader(str(path))
    assert reader is not None, "the reader should claim this SEM TIFF"
    data, kwargs, kind = reader(str(path))[0]
    assert kind == "image" and np.array_equal(data, IMAGE)
    return kwargs


def test_fei_helios_tags_give_scale_in_nm(tmp_path):
    text = "[System]\r\nSystemType=Helios G4\r\n[Scan]\r\nPixelWidth=2.5e-09\r\nPixelHeight=2.5e-09\r\n"
    tifffile.imwrite(tmp_path / "fei.tif", IMAGE, extratags=[(34682, 2, 0, text, True)])
    kwargs = read_one(tmp_path / "fei.tif")
    assert kwargs["scale"] == pytest.approx((2.5, 2.5))
    sem = kwargs["metadata"]["sem"]
    assert sem["instrument"] == "FEI/Thermo Helios G4" and sem["databar_row"] == 108
    assert sem["instrument_metadata"]["Scan"]["PixelWidth"] == pytest.approx(2.5e-9)


def test_zeiss_cz_sem_tag(tmp_path):
    with tifffile.TiffFile(sample_paths()["SEM sharp"]) as tif:  # a real Zeiss file's CZ_SEM block
        tag = tif.pages[0].tags[34118]
        tif.filehandle.seek(tag.valueoffset)
        raw = tif.filehandle.read(tag.count)
    tifffile.imwrite(tmp_path / "zeiss.tif", IMAGE, extratags=[(34118, 2, len(raw), raw, True)])
    kwargs = read_one(tmp_path / "zeiss.tif")
    assert kwargs["scale"] == pytest.approx((0.543, 0.543))
    assert kwargs["metadata"]["sem"]["instrument"] == "Zeiss (InLens)"


def test_tescan_tag(tmp_path):
    text = "[MAIN]\nDevice=MIRA3\nPixelSizeX=1.2e-08\nPixelSizeY=1.2e-08\n"
    tifffile.imwrite(tmp_path / "tescan.tif", IMAGE, extratags=[(50431, 1, len(text), text.encode(), True)])
    kwargs = read_one(tmp_path / "tescan.tif")
    assert kwargs["scale"] == pytest.approx((12.0, 12.0))
    assert kwargs["metadata"]["sem"]["instrument"] == "TESCAN MIRA3"


def test_jeol_sidecar_in_micrometres(tmp_path):
    tifffile.imwrite(tmp_path / "jeol.tif", IMAGE)
    (tmp_path / "jeol.txt").write_text("$CM_FORMAT JEOL/SEM\n$CM_INSTRUMENT JSM-7800F\n$$SM_MICRON_BAR 100\n"
                                       "$$SM_MICRON_MARKER 1um\n")
    kwargs = read_one(tmp_path / "jeol.tif")
    assert kwargs["scale"] == pytest.approx((10.0, 10.0))
    assert kwargs["units"] == ("nm", "nm")
    assert kwargs["metadata"]["sem"]["instrument"] == "JEOL JSM-7800F"


def test_plain_tiff_is_left_to_napari(tmp_path):
    tifffile.imwrite(tmp_path / "plain.tif", IMAGE)
    assert get_reader(str(tmp_path / "plain.tif")) is None
    assert get_reader(str(tmp_path / "missing.tif")) is None
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    assert get_reader(str(tmp_path / "broken.tif")) is None


def test_bundled_sample_reads_with_its_databar():
    data, kwargs, _ = read_sem_tiff(sample_paths()["SEM blurry"])[0]
    assert data.shape == (768, 1024) and kwargs["metadata"]["sem"]["databar_row"] == 691
