import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage import io
from skimage.transform import AffineTransform, warp

from napari_midnet.training.registration import RegistrationError, register_pair, warp_to

from .conftest import sem_like


def synthetic_pair(matrix, seed=0, shape=(384, 448)):
    """A blurry frame and a sharp frame re-acquired under the known affine blurry -> sharp."""
    rng = np.random.default_rng(seed)
    big = sem_like((shape[0] + 80, shape[1] + 80), seed=seed)
    blurry = gaussian_filter(big[:shape[0], :shape[1]], 2) + rng.normal(0, 0.02, shape)
    inverse = AffineTransform(matrix=np.linalg.inv(matrix))
    sharp = warp(big, AffineTransform(matrix=matrix).inverse, output_shape=shape, order=3)
    del inverse
    return blurry.astype(np.float32), sharp.astype(np.float32)


@pytest.mark.parametrize(("dx", "dy", "sx"), [(12.3, -7.6, 0.985), (-20.0, 4.4, 1.0), (3.7, 15.2, 1.012)])
def test_known_affine_is_recovered_within_a_fifth_of_a_pixel(dx, dy, sx):
    truth = np.array([[sx, 0.0, dx], [0.0, 1.0, dy], [0, 0, 1]])
    # the sharp frame samples the big image at truth^-1(p) for p in its grid: blurry -> sharp = truth^-1
    blurry, sharp = synthetic_pair(np.linalg.inv(truth), seed=int(abs(dx)))
    found = register_pair(blurry, sharp)
    grid = np.array([[x, y] for y in range(60, 340, 40) for x in range(60, 400, 40)], float)
    error = np.linalg.norm(found.transform()(grid) - AffineTransform(matrix=np.linalg.inv(truth))(grid), axis=1)
    assert np.median(error) < 0.2 and error.max() < 0.5, found.describe()


def test_unrelated_images_do_not_align():
    a = sem_like((256, 256), seed=1).astype(np.float32)
    b = sem_like((256, 256), seed=2).astype(np.float32)
    with pytest.raises(RegistrationError, match="does not align|no consistent|too few"):
        register_pair(a, b)


def test_wildly_different_sizes_are_refused():
    with pytest.raises(RegistrationError, match="sizes differ too much"):
        register_pair(np.zeros((200, 200)), np.zeros((400, 400)))


@pytest.mark.shared
@pytest.mark.slow
def test_real_pairs_align_and_an_independent_check_agrees(shared_pairs):
    """Independent check: after warping, phase correlation on 256-px tiles (not the 192-px
    tiles the fit used) must find a median residual shift under 0.5 px."""
    from skimage.registration import phase_cross_correlation

    for index in range(1, 7):
        blurry = io.imread(shared_pairs / "blurry" / f"frame{index}.png")[:960].astype(np.float32) / 255
        sharp = io.imread(shared_pairs / "sharp" / f"frame{index}.png")[:960].astype(np.float32) / 255
        found = register_pair(blurry, sharp)
        aligned = gaussian_filter(warp_to(sharp, found, blurry.shape), 1.5)
        shifts = []
        for y in range(64, 960 - 320, 256):
            for x in range(64, 1280 - 320, 256):
                shift, _, _ = phase_cross_correlation(blurry[y:y + 256, x:x + 256], aligned[y:y + 256, x:x + 256],
                                                      upsample_factor=20, normalization=None)
                shifts.append(np.hypot(*shift))
        assert np.median(shifts) < 0.5, (index, found.describe(), np.round(shifts, 2))
