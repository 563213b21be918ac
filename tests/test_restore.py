import numpy as np
import pytest

from napari_midnet.events import TileDone
from napari_midnet.restoration.restore import RestoreOptions, restore

from .conftest import drain, sem_like

OPTS = dict(keep_databar=False)


def run(image, model, **options):
    return drain(restore(image, model, RestoreOptions(**{**OPTS, **options})))


def test_tiled_output_matches_single_tile_without_seams(tiny_model):
    image = (sem_like((160, 208), seed=3) * 255).astype(np.uint8)
    _, whole = run(image, tiny_model, tile=224, float32=True)
    events, tiled = run(image, tiny_model, tile=64, overlap=16, float32=True)
    assert events[-1].tiles > 9
    diff = np.abs(tiled - whole)
    assert diff.mean() < 0.02 * 255 * 0.1
    # no structure along tile borders: the difference there is not larger than elsewhere
    borders = np.zeros(image.shape, bool)
    for start in range(48, 208, 48):
        borders[:, max(start - 2, 0):start + 2] = True
        borders[max(start - 2, 0):start + 2, :] = True
    assert diff[borders].mean() < 2.0 * diff[~borders].mean() + 0.05


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_output_keeps_input_dtype_shape_and_range(tiny_model, dtype):
    base = sem_like((70, 90))
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        image = (base * (info.max // 2) + (info.min // 4)).astype(dtype)
    else:
        image = (base * 3.0 - 1.0).astype(dtype)
    _, out = run(image, tiny_model, tile=64, overlap=8)
    assert out.dtype == image.dtype and out.shape == image.shape
    spread = float(image.max()) - float(image.min())
    assert abs(float(out.mean()) - float(image.mean())) < 0.25 * spread


def test_float32_on_request(tiny_model):
    image = (sem_like((64, 64)) * 60000).astype(np.uint16)
    _, out = run(image, tiny_model, float32=True)
    assert out.dtype == np.float32 and out.max() > 1000  # in the input's range, not [0, 1]


def test_input_is_never_modified(tiny_model):
    image = (sem_like((64, 80)) * 255).astype(np.uint8)
    copy = image.copy()
    run(image, tiny_model)
    assert np.array_equal(image, copy)


def test_stack_is_restored_slice_by_slice_with_progress(tiny_model):
    stack = np.stack([(sem_like((48, 64), seed=s) * 255).astype(np.uint8) for s in range(3)])
    events, out = run(stack, tiny_model, tile=32, overlap=8)
    assert out.shape == stack.shape
    assert all(isinstance(e, TileDone) for e in events)
    assert {e.slice for e in events} == {0, 1, 2} and events[-1].fraction == 1.0
    _, single = run(stack[1], tiny_model, tile=32, overlap=8)
    assert np.array_equal(out[1], single)


def test_gray_rgb_is_restored_once_and_alpha_kept(tiny_model):
    gray = (sem_like((48, 64)) * 255).astype(np.uint8)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 200)])
    events, out = run(rgba, tiny_model)
    assert out.shape == rgba.shape and out.dtype == np.uint8
    assert events[-1].slices == 1
    assert np.array_equal(out[..., 0], out[..., 2]) and np.all(out[..., 3] == 200)


def test_colour_rgb_is_restored_per_channel(tiny_model):
    rgb = np.dstack([(sem_like((48, 64), seed=s) * 255).astype(np.uint8) for s in range(3)])
    events, out = run(rgb, tiny_model)
    assert events[-1].slices == 3 and out.shape == rgb.shape


def test_databar_is_copied_through(tiny_model):
    image = (sem_like((128, 96), databar=16) * 255).astype(np.uint8)
    _, out = drain(restore(image, tiny_model, RestoreOptions()))
    assert np.array_equal(out[-16:], image[-16:])
    assert not np.array_equal(out[:-16], image[:-16])


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.array([[np.nan, 1.0], [1.0, 1.0]] * 20), "NaN or infinite"),
        (np.zeros((20, 20), bool), "dtype bool"),
        (np.zeros(20), "2-D image"),
    ],
)
def test_bad_input_is_a_clear_error(tiny_model, image, message):
    with pytest.raises(ValueError, match=message):
        run(image, tiny_model)


def test_bad_tiling_options(tiny_model):
    with pytest.raises(ValueError, match="overlap"):
        run(np.zeros((64, 64), np.uint8), tiny_model, tile=32, overlap=16)
    with pytest.raises(ValueError, match="device 'cuda' is not available|cuda"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        run(np.zeros((64, 64), np.uint8), tiny_model, device="cuda")


def test_ensemble_is_the_mean_of_the_eight_flips_and_rotations(tiny_model):
    """Each tile is averaged over its eight views (one tile here: the same as the whole image's)."""
    image = (sem_like((70, 90), seed=5) * 255).astype(np.uint8)
    options = dict(tile=96, overlap=8, float32=True)
    events, ensembled = run(image, tiny_model, ensemble=True, **options)
    expected = np.zeros(image.shape, np.float32)
    for k in range(4):
        for flip in (False, True):
            view = np.rot90(image[:, ::-1] if flip else image, k)
            _, restored = run(np.ascontiguousarray(view), tiny_model, **options)
            back = np.rot90(restored, -k)
            expected += back[:, ::-1] if flip else back
    np.testing.assert_allclose(ensembled, expected / 8, atol=1e-3)
    assert events[-1].tiles == 1 and events[-1].fraction == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["midnet-s-psf", "midnet-s"])
def test_dark_bright_and_near_flat_frames_keep_their_tone(preset):
    """Issue 19.17: the shipped models moved a 3-12 noise frame's mean 7.5 -> 10.0, a bright
    one's 247.5 -> 231.2 and every pixel of an all-7 frame with one 8."""
    from napari_midnet.jobs.readouts import compute_readout
    from napari_midnet.models.loader import load_model

    model = load_model(preset).model
    rng = np.random.default_rng(0)
    near_flat = np.full((192, 192), 7, np.uint8)
    near_flat[96, 96] = 8
    for image in (rng.integers(3, 13, (192, 192)).astype(np.uint8), rng.integers(243, 253, (192, 192)).astype(np.uint8),
                  near_flat):
        _, out = drain(restore(image, model, RestoreOptions(device="cpu")))
        assert np.array_equal(out, image)  # no structure: nothing to deblur, left as it was
        assert "no spatial structure" in compute_readout(image, out).notice  # and the note says so, truly
    structured = (sem_like((192, 192)) * 8 + 4).round().astype(np.uint8)  # a real texture in 4..12
    for image in (structured, 255 - structured):
        _, out = drain(restore(image, model, RestoreOptions(device="cpu")))
        assert abs(out.mean() - image.mean()) < 0.05 and not np.array_equal(out, image)
    flat = np.full((64, 64), 7, np.uint8)
    assert "uniform (a single value)" in compute_readout(flat, flat).notice


def test_the_preview_region_is_the_screen_grown_by_the_margin_within_the_plane():
    from napari_midnet.jobs.deblur import preview_region

    assert preview_region(np.array([[100, 200], [299, 499]]), (1000, 1000), 64) == (slice(36, 364), slice(136, 564))
    assert preview_region(np.array([[-50, -50], [2000, 2000]]), (300, 400), 64) == (slice(0, 300), slice(0, 400))
    rows, cols = preview_region(np.array([[500, 990], [501, 999]]), (1000, 1000), 0)  # a sliver: at least 32 px
    assert rows.stop - rows.start >= 32 and cols.stop - cols.start >= 32 and cols.stop == 1000
