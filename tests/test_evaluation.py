import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_midnet.bundled import sample_paths
from napari_midnet.io.files import read_image
from napari_midnet.jobs.evaluation import evaluate_pairs, harm
from napari_midnet.models.config import DEFAULT_MODEL
from napari_midnet.models.loader import load_model
from napari_midnet.training.pairs import load_pair_folder, load_sharp_folder, make_pair

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
        pair = make_pair("f", (blurry * 255).astype(np.uint8), (sharp * 255).astype(np.uint8), align=False)
        assert not pair.mask[-24:].any()
        _, report = drain(evaluate_pairs(tiny_model, [pair]))
        reports.append(report["images"]["f"])
    for kind in ("input", "output"):
        assert reports[1][kind] == pytest.approx(reports[0][kind], rel=1e-6)
    assert reports[0]["output"] != reports[0]["input"]


@pytest.mark.shared
@pytest.mark.slow
def test_shipped_default_improves_both_held_out_real_frames(shared_pairs):
    """The README's promise: JEOL frames 4 and 6 (never trained on) gain at least 3 dB PSNR and
    reach SSIM 0.82, restored as `deblur` restores them."""
    pairs = load_pair_folder(shared_pairs, names=["frame4", "frame6"])
    _, report = drain(evaluate_pairs(load_model(DEFAULT_MODEL).model, pairs))
    for name, scores in report["images"].items():
        assert scores["output"]["psnr"] - scores["input"]["psnr"] >= 3.0, name
        assert scores["output"]["ssim"] >= 0.82, name


@pytest.mark.shared
@pytest.mark.slow
def test_shipped_default_leaves_an_already_sharp_frame_alone(shared_pairs):
    """Do no harm: the sharp frame 6 fed as input comes back at 32 dB PSNR or more against itself."""
    sharp = [image for image in load_sharp_folder(shared_pairs / "sharp") if image.name == "frame6"]
    _, result = drain(harm(load_model(DEFAULT_MODEL).model, sharp[0]))
    assert result["output"]["psnr"] >= 32.0


@pytest.mark.slow
def test_shipped_default_improves_the_bundled_zeiss_sample():
    """Another microscope than the real pairs': the sample pair gains PSNR (measured 25.83 -> 30.43
    dB) and SSIM (0.40 -> 0.87), and its contrast stays near the sharp frame's (measured x1.13;
    the blind model's x1.27 came from sharpening a blur it had guessed too large)."""
    paths = sample_paths()
    pair = make_pair("zeiss", read_image(paths["SEM blurry"]), read_image(paths["SEM sharp"]), align=False)
    _, report = drain(evaluate_pairs(load_model(DEFAULT_MODEL).model, [pair]))
    scores = report["images"]["zeiss"]
    assert scores["output"]["psnr"] >= scores["input"]["psnr"] + 4.0
    assert scores["output"]["ssim"] >= scores["input"]["ssim"] + 0.4
    assert 0.9 <= scores["output"]["contrast"] <= 1.18


@pytest.mark.slow
def test_the_default_keeps_the_tone_of_a_sharp_frame():
    """Tone fidelity: the sharp Zeiss frame fed as input keeps its contrast (measured x1.03) and
    comes back near itself (measured 39.0 dB)."""
    from napari_midnet.training.pairs import make_sharp_only

    image = make_sharp_only("zeiss-sharp", read_image(sample_paths()["SEM sharp"]))
    _, result = drain(harm(load_model(DEFAULT_MODEL).model, image))
    assert 0.97 <= result["output"]["contrast"] <= 1.06
    assert result["output"]["psnr"] >= 36.0
