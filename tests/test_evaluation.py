import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_midnet.evaluation import evaluate_pairs
from napari_midnet.pairs import make_pair

from .conftest import drain, sem_like


def test_databar_text_cannot_change_the_scores(tiny_model):
    """Evaluation restores the image as `deblur` does: the info bar never reaches the network."""
    sharp = sem_like((160, 128), seed=4, databar=24)
    reports = []
    for text_columns in (slice(10, 60, 3), slice(40, 120, 5)):
        sharp[-20:-4] = 0.0
        sharp[-20:-4, text_columns] = 1.0
        blurry = gaussian_filter(sharp, 1.5)
        blurry[-24:] = sharp[-24:]
        pair = make_pair("f", (blurry * 255).astype(np.uint8), (sharp * 255).astype(np.uint8), register=False)
        assert not pair.mask[-24:].any()
        _, report = drain(evaluate_pairs(tiny_model, [pair]))
        reports.append(report["images"]["f"])
    for kind in ("input", "output"):
        assert reports[1][kind] == pytest.approx(reports[0][kind], rel=1e-6)
    assert reports[0]["output"] != reports[0]["input"]


@pytest.mark.shared
@pytest.mark.slow
def test_shipped_default_meets_its_target_on_the_held_out_real_frame(shared_pairs):
    """The README's promise for the shipped weights: frame 6 (never trained on) gains at least
    4 dB PSNR over the blurry input and reaches SSIM 0.90, restored as `deblur` restores."""
    from napari_midnet.pairs import load_pair_folder
    from napari_midnet.weights import load_model

    pairs = load_pair_folder(shared_pairs, names=["frame6"])
    _, report = drain(evaluate_pairs(load_model("midnet-s").model, pairs))
    scores = report["images"]["frame6"]
    assert scores["output"]["psnr"] - scores["input"]["psnr"] >= 4.0
    assert scores["output"]["ssim"] >= 0.90
