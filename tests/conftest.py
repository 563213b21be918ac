import sys
from pathlib import Path

import numpy as np
import pytest

# first: importing the package sets OMP_WAIT_POLICY before anything loads torch
from napari_midnet.events import drain as events_drain

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAIRS = SHARED / "midnet-pairs"


def sem_like(shape=(96, 128), seed=0, databar=0) -> np.ndarray:
    """An SEM-like float image in [0, 1]: grains with sharp edges, plus an optional databar."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.random(shape), 2.5)
    grains = (field > np.median(field)).astype(np.float64)
    image = 0.25 + 0.5 * gaussian_filter(grains, 0.7) + 0.1 * gaussian_filter(rng.random(shape), 1)
    if databar:
        image[-databar:] = 0.0
        image[-databar + 4:-4, 10:60:3] = 1.0  # "text"
    return np.clip(image, 0, 1)


def perturb(model, seed=0, scale=0.2):
    """Give the zero-initialised residual scales random values so the net is far from identity."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("beta", "gamma")):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return model.eval()


def drain(generator):
    """Run a progress generator to the end; return (events, result)."""
    events = []
    return events, events_drain(generator, events.append)


@pytest.fixture(autouse=True)
def own_user_data_folder(tmp_path_factory, monkeypatch):
    """Every test, and every command line it starts, gets a fresh per-user data folder: a user's
    own checkpoints and results are never read or written by the suite; and no thread worker
    outlives its test (issue 34.20)."""
    from napari_midnet.io.paths import DATA_FOLDER_VARIABLE

    monkeypatch.setenv(DATA_FOLDER_VARIABLE, str(tmp_path_factory.mktemp("user-data")))
    yield
    if "qtpy" in sys.modules:  # a dock's workers (one may still be importing torch) end with their test
        from qtpy.QtCore import QThreadPool

        QThreadPool.globalInstance().waitForDone(60_000)


@pytest.fixture
def tiny_model():
    import torch

    from napari_midnet.models.config import ModelConfig
    from napari_midnet.models.nets import MIDNet

    torch.manual_seed(0)
    return perturb(MIDNet(ModelConfig(width=8, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1))))


@pytest.fixture
def shared_pairs():
    if not (PAIRS / "blurry").is_dir():
        pytest.skip(f"real SEM pairs not found at {PAIRS} (only CI and developers have ../shared)")
    return PAIRS


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """napari's make_napari_viewer reads item.rep_call at teardown (its own conftest sets it)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def weights(tmp_path):
    """A tiny trained-looking model saved as a weights file, as a user would pass with --model."""
    from napari_midnet.models.config import ModelConfig
    from napari_midnet.models.nets import build_model
    from napari_midnet.models.weights import save_weights

    path = tmp_path / "tiny.safetensors"
    save_weights(perturb(build_model(ModelConfig(width=8, enc_blocks=(1, 1), dec_blocks=(1, 1)))), path,
                 {"trained": True})
    return path


def tiny_base():
    """A tiny real model wrapped as the registry holds models (what fine-tuning starts from)."""
    import torch

    from napari_midnet.models.config import ModelConfig
    from napari_midnet.models.nets import MIDNet
    from napari_midnet.models.weights import LoadedModel

    torch.manual_seed(0)
    config = ModelConfig(width=8, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1))
    return LoadedModel(MIDNet(config).eval(), "tiny", {"preset": "tiny", "trained": True}, "0" * 64)


def blurred_pair(seed, shape=(160, 192), offset=(0.0, 0.0)):
    """A microscope's own blur (sigma 1.5), re-acquired with a small shift, as uint8."""
    from scipy.ndimage import gaussian_filter, shift

    sharp = sem_like(shape, seed=seed)
    blurry = gaussian_filter(sharp, 1.5) + np.random.default_rng(seed).normal(0, 0.01, shape)
    moved = shift(sharp, offset, order=3, mode="reflect")
    return (np.clip(blurry, 0, 1) * 255).astype(np.uint8), (np.clip(moved, 0, 1) * 255).astype(np.uint8)
