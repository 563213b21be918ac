"""bioimage.io packages: export tested by bioimageio.core, re-import pixel-identical, the
TorchScript and ONNX backends, foreign models and broken packages."""

import gc
import json
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from napari_midnet.bundled import sample_paths
from napari_midnet.events import drain
from napari_midnet.io.files import read_image
from napari_midnet.models.loader import load_model
from napari_midnet.models.weights import WeightsError
from napari_midnet.restoration.restore import RestoreOptions, restore
from napari_midnet.restoration.tiling import OVERLAP

from .conftest import blurred_pair, tiny_base

pytest.importorskip("bioimageio.core", reason="the [bioimageio] extra is not installed")

# bioimageio.core leaves files to the garbage collector (ResourceWarning from __del__)
# and torch.jit (TorchScript) says it is deprecated when bioimageio.core loads a package's .ts
pytestmark = [pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning",
                                         "ignore:`torch.jit:DeprecationWarning")]


@pytest.fixture(scope="module", autouse=True)
def _collect_bioimageio_leftovers():
    """Collect the files bioimageio.core left open while this module's filters still hold
    (at session end, pytest would report them as errors)."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()
CPU = RestoreOptions(device="cpu")


def _export(loaded, out: Path) -> tuple[list, Path]:
    from napari_midnet.jobs.export import export_package

    events = []
    return events, drain(export_package(loaded, out), events.append)


@pytest.fixture(scope="module")
def midnet_s_package(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo") / "midnet-s.zip"
    events, written = _export(load_model("midnet-s"), out)
    assert written == out and events[-1].stage == "done"
    return out


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A tiny model fine-tuned for a few steps by the real fine-tuning job, and its package."""
    from napari_midnet.training.finetune import FinetuneRequest, FinetuneSettings, finetune_job
    from napari_midnet.training.pairs import TrainingSource

    folder = tmp_path_factory.mktemp("tuned")
    blurry, sharp = blurred_pair(0, shape=(256, 192))
    settings = FinetuneSettings(iterations=3, lr=2e-3, crop=48, batch=2, checkpoint_dir=str(folder), align=False)
    outcome = drain(finetune_job(FinetuneRequest(tiny_base(), settings, [TrainingSource("only", sharp, blurry)])))
    _, package = _export(outcome.loaded, folder / "tuned.zip")
    return outcome.loaded, package


def _sample():
    return read_image(sample_paths()["SEM blurry"])


@pytest.mark.slow
def test_an_exported_midnet_s_passed_bioimageio_core_for_every_weight_format(midnet_s_package):
    """export_package runs bioimageio.core's test_model per weight format before it writes."""
    from napari_midnet.models.zoo.common import WEIGHT_FORMATS

    assert WEIGHT_FORMATS == ("pytorch_state_dict", "torchscript", "onnx")
    with zipfile.ZipFile(midnet_s_package) as package:
        names = set(package.namelist())
        rdf = package.read("rdf.yaml").decode()
    assert {"weights.pt", "model.ts", "model.onnx", "cover.png", "README.md", "test_input.npy"} <= names
    for word in ("electron-microscopy", "deblurring", "sem", "10.32604/cmc.2024.046929", "napari_midnet",
                 "scale_linear", f"halo: {OVERLAP}"):
        assert word in rdf, word


@pytest.mark.slow
def test_a_fine_tuned_model_exports_and_bioimageio_test_passes_on_the_command_line(tuned):
    loaded, package = tuned
    done = subprocess.run([str(Path(sys.executable).with_name("bioimageio")), "test", str(package)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "passed" in done.stdout
    card = json.loads(json.dumps(load_model(package).card))
    assert card["training"]["iterations"] == 3  # the fine-tuning card travels in config.napari_midnet


@pytest.mark.slow
def test_a_package_of_ours_restores_pixel_identically_from_the_zip_and_the_folder(midnet_s_package, tmp_path):
    image = _sample()[:300, :520]  # two tiles across, one down: the seams are compared too
    native = drain(restore(image, load_model("midnet-s").model, CPU))
    folder = tmp_path / "unpacked"
    shutil.unpack_archive(midnet_s_package, folder)
    for source in (midnet_s_package, folder, folder / "rdf.yaml"):
        loaded = load_model(source)
        assert loaded.name == "midnet-s" and loaded.sha256 == load_model("midnet-s").sha256
        assert np.array_equal(drain(restore(image, loaded.model, CPU)), native), source


@pytest.mark.slow
def test_the_cli_deblurs_with_a_package_as_with_the_preset(midnet_s_package, tmp_path):
    import tifffile

    from napari_midnet.cli import main

    for name, model in (("preset", "midnet-s"), ("package", str(midnet_s_package))):
        assert main(["deblur", "--sample", "-o", str(tmp_path / name), "--model", model]) == 0
    preset, package = (tifffile.imread(tmp_path / name / "sem_blurry.tif") for name in ("preset", "package"))
    assert np.array_equal(preset, package)


@pytest.mark.slow
def test_torchscript_and_onnx_agree_with_eager_torch_at_odd_sizes(tuned):
    import torch

    from napari_midnet.restoration.backends import for_backend

    loaded, package = tuned
    eager = load_model(package)
    generator = torch.Generator().manual_seed(0)
    for backend in ("torchscript", "onnx"):
        runner = for_backend(eager, backend).model
        # tiles the tiler sends (up to 384 px: pooled globally), sizes the package declares
        # (>= 400), and a strip wider than the pooling window but below the declared minimum,
        # which ONNX sees mirror-padded (close, not identical)
        for shape, tolerance in (((1, 1, 211, 233), 1e-3), ((1, 1, 300, 145), 1e-3), ((1, 1, 416, 432), 1e-3),
                                 ((2, 1, 133, 390), 1e-3 if backend == "torchscript" else 0.03)):
            inputs = torch.rand(shape, generator=generator)
            with torch.inference_mode():
                expected = eager.model(inputs)
            assert float((runner(inputs) - expected).abs().max()) < tolerance, (backend, shape)


@pytest.mark.slow
def test_the_backends_restore_like_eager_torch_through_the_tiler(tuned):
    from napari_midnet.restoration.backends import for_backend

    loaded, package = tuned
    image = _sample()[:300, :400]
    native = drain(restore(image, loaded.model, CPU)).astype(int)
    # TorchScript converted now from the model in memory, ONNX read from the package
    for source, backend in ((loaded, "torchscript"), (load_model(package), "onnx")):
        other = drain(restore(image, for_backend(source, backend).model, CPU))
        assert np.abs(other - native).max() <= 1, backend


@pytest.mark.slow
def test_onnx_restores_like_torch_at_the_default_tile_and_odd_ones():
    """Issue 34.12: a trained model (midnet-s) on ONNX differed by up to 50 grey levels at the
    default tile, which the graph (traced with local pooling) saw mirror-padded to its minimum."""
    from napari_midnet.restoration.backends import for_backend

    loaded = load_model("midnet-s")
    onnx = for_backend(loaded, "onnx").model
    image = _sample()[:560, :720]
    for tile in (None, 200, 450):  # the default (384), one within the pooling window, one beyond it
        options = RestoreOptions(device="cpu", tile=tile, overlap=32)
        native = drain(restore(image, loaded.model, options)).astype(int)
        assert np.abs(drain(restore(image, onnx, options)) - native).max() <= 1, tile


def test_kernel_aware_and_seed_models_are_refused_with_one_sentence(tmp_path):
    from napari_midnet.jobs.export import ExportError, export_package

    for preset, words in (("midnet-s-psf", "kernel-aware"), ("srn", "MIDNet family")):
        with pytest.raises(ExportError, match=words):
            drain(export_package(load_model(preset), tmp_path / "x.zip"))
    with pytest.raises(ExportError, match=r"\.zip"):
        drain(export_package(load_model("midnet-s"), tmp_path / "x.tar"))
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_broken_packages_get_one_sentence(midnet_s_package, tmp_path):
    folder = tmp_path / "unpacked"
    shutil.unpack_archive(midnet_s_package, folder)
    missing = tmp_path / "missing"
    shutil.copytree(folder, missing)
    (missing / "weights.pt").unlink()
    wrong_sha = tmp_path / "wrong-sha"
    shutil.copytree(folder, wrong_sha)
    weights = wrong_sha / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # same size, other bytes: the sha256 disagrees
    not_zip = tmp_path / "garbage.zip"
    not_zip.write_bytes(b"no zip at all")
    for source in (missing, wrong_sha, not_zip):
        with pytest.raises(WeightsError) as error:
            load_model(source)
        message = str(error.value)
        assert "\n" not in message and "Traceback" not in message, message


def _foreign_package(folder: Path, axes: list[dict], shape: tuple, out_channels=1, postprocessing=(), tags=()):
    """A minimal foreign bioimage.io model: one 3x3 convolution, written as another tool would."""
    import torch

    folder.mkdir(parents=True)
    (folder / "net.py").write_text(
        "import torch\n\n\nclass Net(torch.nn.Module):\n"
        "    def __init__(self, channels_in=1, channels_out=1, dims=2):\n"
        "        super().__init__()\n"
        "        conv = torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d\n"
        "        self.conv = conv(channels_in, channels_out, 3, padding=1)\n\n"
        "    def forward(self, x):\n        return self.conv(x)\n")
    namespace = {}
    exec((folder / "net.py").read_text(), namespace)
    channels_in = next((len(a["channel_names"]) for a in axes if a["type"] == "channel"), 1)
    dims = sum(a["type"] == "space" for a in axes)
    torch.manual_seed(0)
    net = namespace["Net"](channels_in, out_channels, dims).eval()
    with torch.no_grad():
        net.conv.weight.fill_(1.0 / net.conv.weight[0].numel())
        net.conv.bias.zero_()
    torch.save(net.state_dict(), folder / "weights.pt")
    test_input = np.random.default_rng(0).random(shape).astype(np.float32) * 200
    np.save(folder / "in.npy", test_input)
    normalised = (test_input - test_input.min()) / (test_input.max() - test_input.min())
    with torch.no_grad():
        np.save(folder / "out.npy", net(torch.from_numpy(normalised)).numpy())
    out_axes = [dict(a, channel_names=[f"c{i}" for i in range(out_channels)]) if a["type"] == "channel" else
                a if a["type"] != "space" else {"type": "space", "id": a["id"],
                                                "size": {"tensor_id": "raw", "axis_id": a["id"]}} for a in axes]
    rdf = {"format_version": "0.5.12", "type": "model", "name": "foreign smoother", "description": "a test model",
           "authors": [{"name": "someone"}], "cite": [{"text": "none", "url": "https://example.org"}],
           "license": "MIT", "tags": list(tags), "documentation": {"source": "README.md"},
           "inputs": [{"id": "raw", "axes": axes, "test_tensor": {"source": "in.npy"},
                       "preprocessing": [{"id": "scale_range", "kwargs": {"min_percentile": 0.0,
                                                                        "max_percentile": 100.0}}]}],
           "outputs": [{"id": "smooth", "axes": out_axes, "test_tensor": {"source": "out.npy"},
                        "postprocessing": list(postprocessing)}],
           "weights": {"pytorch_state_dict": {"source": "weights.pt", "pytorch_version": "2.0",
                                              "architecture": {"source": "net.py", "callable": "Net",
                                                               "kwargs": {"channels_in": channels_in,
                                                                          "channels_out": out_channels,
                                                                          "dims": dims}}}}}
    (folder / "README.md").write_text("# foreign\n")
    (folder / "rdf.yaml").write_text(json.dumps(rdf))
    return folder


def _space(*ids, minimum=16):
    return [{"type": "space", "id": axis, "size": {"min": minimum, "step": 8}} for axis in ids]


@pytest.mark.slow
def test_a_foreign_2d_restorer_runs_through_bioimageio_cores_own_pipeline(tmp_path):
    from scipy.ndimage import uniform_filter

    from napari_midnet.models.weights import require_trainable

    axes = [{"type": "batch"}, {"type": "channel", "channel_names": ["gray"]}] + _space("y", "x")
    folder = _foreign_package(tmp_path / "foreign", axes, (1, 1, 32, 40))
    loaded = load_model(folder)
    image = _sample()[100:160, 200:270]  # 70 x 60: padded to the model's valid size and cropped back
    result = drain(restore(image, loaded.model, CPU))
    normalised = (image - image.min()) / float(image.max() - image.min())  # its own scale_range
    expected = uniform_filter(normalised.astype(np.float64), 3, mode="constant")
    assert result.dtype == np.float32 and result.shape == image.shape
    assert np.abs(result - expected)[1:-1, 1:-1].max() < 1e-4  # the padded border differs, as it should
    with pytest.raises(WeightsError, match="foreign bioimage.io model"):
        require_trainable(loaded)


@pytest.mark.slow
@pytest.mark.parametrize("kind, words", [("3d", "3-D model"), ("rgb", "3 input channels"),
                                         ("segmentation", "segmentation model")])
def test_foreign_models_napari_midnet_cannot_run_get_one_sentence(tmp_path, kind, words):
    batch, gray = {"type": "batch"}, {"type": "channel", "channel_names": ["gray"]}
    if kind == "3d":
        folder = _foreign_package(tmp_path / kind, [batch, gray] + _space("z", "y", "x", minimum=8), (1, 1, 8, 16, 16))
    elif kind == "rgb":
        rgb = {"type": "channel", "channel_names": ["r", "g", "b"]}
        folder = _foreign_package(tmp_path / kind, [batch, rgb] + _space("y", "x"), (1, 3, 16, 16))
    else:
        folder = _foreign_package(tmp_path / kind, [batch, gray] + _space("y", "x"), (1, 1, 16, 16),
                                  postprocessing=[{"id": "sigmoid"}], tags=["segmentation"])
    with pytest.raises(WeightsError, match=words) as error:
        load_model(folder)
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_a_diverged_model_is_not_exported(tmp_path):
    """NaN weights (a fine-tuning that diverged): refused in a sentence, no file; deblurring
    with them says the same instead of writing zeros."""
    import torch

    from napari_midnet.restoration.graphs import ExportError

    broken = tiny_base()
    with torch.no_grad():
        broken.model.ending.bias.fill_(float("nan"))
    with pytest.raises(ExportError, match="NaN or infinite"):
        _export(broken, tmp_path / "broken.zip")
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="NaN or infinite"):
        drain(restore(_sample()[:64, :64], broken.model, CPU))


@pytest.mark.slow
@pytest.mark.gui
def test_the_dock_exports_the_chosen_model_and_loads_the_package_back(make_napari_viewer, qtbot, tuned, tmp_path):
    loaded, _ = tuned
    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget("napari-midnet", "MIDNet Deblur")
    try:
        dock.deblur.select_model("midnet-s-psf")  # issue 34.6: refused with the reason, before any dialog
        assert not dock.export.export_button.isEnabled() and "kernel-aware" in dock.export.export_button.toolTip()
        assert dock.export.message.text().startswith("Not exportable")
        dock.deblur.select_model(dock.registry.add_loaded(loaded, "tuned"))
        assert dock.export.export_button.isEnabled() and dock.export.message.text() == ""
        out = tmp_path / "tuned.zip"
        dock.export.export(out)
        assert not dock.deblur.deblur_button.isEnabled() and dock.export.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: not dock.status.busy, timeout=300_000)
        assert out.is_file() and "bioimageio.core test passed" in dock.export.message.text()
        dock.deblur.load_weights(str(out))
        qtbot.waitUntil(lambda: dock.settings.model == "tuned.zip", timeout=60_000)
        viewer.add_image(_sample()[:256, :256], name="raw")
        dock.deblur.layer_combo.setCurrentText("raw")
        dock.deblur.start()
        qtbot.waitUntil(lambda: "raw deblurred" in viewer.layers, timeout=60_000)
        expected = drain(restore(_sample()[:256, :256], loaded.model, CPU))
        assert np.array_equal(viewer.layers["raw deblurred"].data, expected)
    finally:
        dock.shutdown()


def test_the_export_command_says_why_it_refuses(tmp_path, capsys):
    from napari_midnet.cli import main

    assert main(["export", "midnet-s-psf", "--bioimageio", str(tmp_path / "a.zip")]) == 1
    assert "kernel-aware" in capsys.readouterr().err
    (tmp_path / "b.zip").write_bytes(b"mine")
    assert main(["export", "midnet-s", "--bioimageio", str(tmp_path / "b.zip")]) == 1
    assert "--overwrite" in capsys.readouterr().err and (tmp_path / "b.zip").read_bytes() == b"mine"
    assert main(["export", "midnet", "--bioimageio", str(tmp_path / "c.zip")]) == 1  # issue 34.17
    assert "untrained" in capsys.readouterr().err and not (tmp_path / "c.zip").exists()
