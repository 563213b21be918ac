"""Issue 18: one deblur job for any image size: planes read by region, statistics band by band,
results written by row bands (tiled, pyramidal TIFF; OME-Zarr), pixels as in memory."""

import numpy as np
import pytest
import tifffile
from scipy.ndimage import convolve

from napari_midnet.blur import noise
from napari_midnet.cli import main
from napari_midnet.io import files
from napari_midnet.jobs import deblur
from napari_midnet.metrics import STRUCTURE_CROP
from napari_midnet.restoration import restore, tiling
from napari_midnet.restoration.restore import RestoreOptions

from .conftest import drain, sem_like

FEI_TEXT = b"[User]\r\nDate=04/17/2023\r\n[EScan]\r\nPixelWidth=1.5e-08\r\n\x00"


def u8(shape, seed=0):
    return (sem_like(shape, seed=seed) * 255).astype(np.uint8)


class Watched:
    """An array-like that records the largest region read from it (as a lazy store is read)."""

    def __init__(self, array):
        self.array, self.shape, self.dtype, self.ndim, self.largest = array, array.shape, array.dtype, 2, 0

    def __getitem__(self, key):
        out = np.asarray(self.array[key])
        self.largest = max(self.largest, out.shape[0])
        return out


@pytest.mark.parametrize("discrete", [False, True])
def test_the_noise_read_in_bands_is_the_whole_plane_median_exactly(discrete):
    rng = np.random.default_rng(3)
    for shape in [(3, 3), (4, 9), (1100, 301)]:
        image = rng.random(shape).astype(np.float32)
        if discrete:  # 8-bit data: a few hundred distinct values, many ties at the median
            image = (np.round(image * 255) / 255).astype(np.float32)
        response = convolve(image.astype(np.float64), noise._LAPLACIAN, mode="reflect")[1:-1, 1:-1]
        assert noise.noise_std(image) == np.median(np.abs(response)) / 0.6745 / np.sqrt(20.0)


def test_the_blend_buffer_does_not_grow_with_the_image_height():
    short, tall = (tiling.band_capacity(tiling.TileGrid((rows, 700), 128, 32).positions, 128, 4)
                   for rows in (600, 60_000))
    assert short == tall <= 2 * 128


def test_a_lazy_plane_reads_bands_only_and_gives_the_in_memory_pixels(monkeypatch):
    """A kernel-aware model (focus map, noise, tone all taken band by band); the scratch on disk."""
    from napari_midnet.models.loader import load_model

    image = u8((1300, 160), seed=4)
    model = load_model("midnet-s-psf").model
    options = RestoreOptions(tile=96, overlap=16, device="cpu")
    _, expected = drain(restore.restore(image, model, options))
    monkeypatch.setattr(tiling, "LARGE_PLANE", 0)
    watched = Watched(image)
    events, streamed = drain(restore.restore(watched, model, options))
    assert np.array_equal(streamed, expected)
    assert watched.largest <= STRUCTURE_CROP < image.shape[0]  # never the whole plane
    assert sum(1 for event in events if type(event).__name__ == "BlurIdentified") == 1


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("layout", [{}, {"compression": "zlib", "rowsperstrip": 16},
                                    {"compression": "zlib", "tile": (64, 64)}])
def test_a_streamed_tiff_is_the_in_memory_result_tiled_with_levels_and_metadata(tmp_path, weights, capsys,
                                                                                monkeypatch, layout):
    source = tmp_path / "in" / "frame.tif"
    source.parent.mkdir()
    tifffile.imwrite(source, u8((400, 256)), resolution=(1e5, 1e5), resolutionunit=3,
                     extratags=[(34682, 2, len(FEI_TEXT), FEI_TEXT, True)], **layout)
    assert run(capsys, "deblur", source, "-o", tmp_path / "memory", "--model", weights)[0] == 0
    monkeypatch.setattr(deblur, "STREAM_ABOVE", 0)
    monkeypatch.setattr(files, "PYRAMID_ABOVE", 300)
    monkeypatch.setattr(files, "PYRAMID_DOWN_TO", 100)
    monkeypatch.setattr(files, "TILE_SIDE", 64)
    assert run(capsys, "deblur", source, "-o", tmp_path / "streamed", "--model", weights)[0] == 0
    with tifffile.TiffFile(tmp_path / "streamed" / "frame.tif") as tif:
        page = tif.pages[0]
        assert page.is_tiled and (page.tilelength, page.tilewidth) == (64, 64)
        assert np.array_equal(page.asarray(), tifffile.imread(tmp_path / "memory" / "frame.tif"))
        levels = [level.asarray() for level in tif.series[0].levels]
        assert [level.shape for level in levels] == [(400, 256), (200, 128), (100, 64)]
        assert levels[1][0, 0] == np.rint(levels[0][:2, :2].mean())  # a 2x2 mean
        assert 34682 in page.tags and page.resolution == (1e5, 1e5)
        assert tif.shaped_metadata[0]["midnet"]["streamed"] is True


def _ome_zarr(path, array):
    import zarr

    group = zarr.open_group(path, mode="w")
    chunks = (1,) * (array.ndim - 2) + (128, 128)
    group.create_array("0", shape=array.shape, chunks=chunks, dtype=array.dtype)[:] = array
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": [{"name": "y"}, {"name": "x"}],
                                                           "datasets": [{"path": "0"}]}]}


def test_a_zarr_gives_an_ome_zarr_and_three_channels_are_one_sentence(tmp_path, weights, capsys):
    import zarr

    from napari_midnet.models.loader import load_model

    inputs = tmp_path / "in"
    inputs.mkdir()
    image = u8((300, 260), seed=2)
    _ome_zarr(inputs / "plane.zarr", image)
    _ome_zarr(inputs / "rgb.zarr", np.stack([image] * 3))
    code, _, err = run(capsys, "deblur", inputs, "-o", tmp_path / "out", "--model", weights, "--tile", "128",
                       "--overlap", "32")
    assert code == 1 and "rgb.zarr holds an array of shape (3, 300, 260)" in err and "colour channels" in err
    assert "1 of 2 images failed: rgb.zarr" in err
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["plane.zarr"]  # nothing partial
    out = zarr.open_group(tmp_path / "out" / "plane.zarr", mode="r")
    _, expected = drain(restore.restore(image, load_model(str(weights)).model, RestoreOptions(tile=128, overlap=32)))
    assert np.array_equal(out["0"][:], expected)
    assert out.attrs["ome"]["multiscales"][0]["datasets"][0]["path"] == "0"
    assert out.attrs["midnet"]["streamed"] is True and out.attrs["midnet"]["source"] == "plane.zarr"
