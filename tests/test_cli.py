"""The CLI end to end, in a subprocess like a user's shell, on real TIFFs on disk."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from .conftest import sem_like


def cli(*args, cwd=None):
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.run([sys.executable, "-m", "napari_midnet", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def test_info_json_lists_presets_with_parameters():
    done = cli("info", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["device"] == "cpu" or data["device"] in ("cuda", "mps")
    assert set(data["presets"]) == {"midnet", "midnet-s", "midnet-s-psf", "midnet-hqs", "nafnet", "srn", "mrn",
                                    "mstsgm", "meddeblur"}
    assert data["presets"]["midnet-s-psf"]["kernel_aware"] and not data["presets"]["midnet-s"]["kernel_aware"]
    assert 17.0e6 <= data["presets"]["midnet"]["parameters"] <= 17.5e6
    assert isinstance(data["presets"]["midnet-s"]["weights"], bool)


def test_info_prints_one_models_card(weights):
    done = cli("info", weights, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["trained"] and not data["kernel_aware"] and data["card"]["trained"] is True
    assert len(data["sha256"]) == 64 and data["architecture"]["width"] == 8
    done = cli("info", "midnet-s")
    assert done.returncode == 0 and done.stdout.startswith("midnet-s: trained, blind, sha256 ")


@pytest.mark.slow
def test_deblur_folder_and_multipage_tiff(tmp_path, weights):
    inputs = tmp_path / "in"
    inputs.mkdir()
    single = (sem_like((96, 112)) * 65535).astype(np.uint16)
    stack = np.stack([(sem_like((64, 80), seed=s) * 255).astype(np.uint8) for s in range(3)])
    tifffile.imwrite(inputs / "a.tif", single)
    tifffile.imwrite(inputs / "b.tiff", stack, photometric="minisblack")
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    out = tmp_path / "out"
    done = cli("deblur", inputs, "-o", out, "--model", weights, "--tile", "64", "--overlap", "8")
    assert done.returncode == 0, done.stderr
    assert "sharpness" in done.stdout and "->" in done.stdout
    a, b = tifffile.imread(out / "a.tif"), tifffile.imread(out / "b.tif")
    assert a.dtype == np.uint16 and a.shape == single.shape
    assert b.dtype == np.uint8 and b.shape == stack.shape
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before  # inputs untouched
    assert not list(out.glob("*.part"))

    again = cli("deblur", inputs / "a.tif", "-o", out, "--model", weights)
    assert again.returncode == 1 and "exists" in again.stderr and "Traceback" not in again.stderr
    forced = cli("deblur", inputs / "a.tif", "-o", out, "--model", weights, "--overwrite", "--float32",
                 "--suffix", "_deblurred", "--ensemble")
    assert forced.returncode == 0 and tifffile.imread(out / "a_deblurred.tif").dtype == np.float32


def corrupt_tiff(folder):
    (folder / "bad.tif").write_text("not an image")
    return folder / "bad.tif"


@pytest.mark.parametrize(
    ("setup", "message"),
    [(lambda folder: folder / "missing.tif", "input not found"), (corrupt_tiff, "bad.tif is not a TIFF file")],
)
def test_deblur_bad_inputs_exit_1_with_one_line(tmp_path, weights, setup, message):
    done = cli("deblur", setup(tmp_path), "-o", tmp_path / "out", "--model", weights)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr


def test_bad_weights_exit_1_with_one_line(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.zeros((32, 32), np.uint8))
    (tmp_path / "w.safetensors").write_bytes(b"\x00" * 50)
    done = cli("deblur", tmp_path / "a.tif", "-o", tmp_path / "out", "--model", tmp_path / "w.safetensors")
    assert done.returncode == 1 and "not a weights file" in done.stderr and "Traceback" not in done.stderr


def test_untrained_model_is_announced(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", (sem_like((48, 48)) * 255).astype(np.uint8))
    done = cli("deblur", tmp_path / "a.tif", "-o", tmp_path / "out", "--model", "nafnet")
    assert done.returncode == 0, done.stderr
    assert "UNTRAINED" in done.stderr


@pytest.mark.slow
def test_train_and_evaluate_on_a_pairs_folder(tmp_path):
    from scipy.ndimage import gaussian_filter
    from skimage import io

    for kind in ("blurry", "sharp"):
        (tmp_path / "pairs" / kind).mkdir(parents=True)
    for index in range(2):
        sharp = sem_like((192, 224), seed=index)
        blurry = gaussian_filter(sharp, 1.5)
        io.imsave(tmp_path / "pairs" / "sharp" / f"f{index}.png", (sharp * 255).astype(np.uint8))
        io.imsave(tmp_path / "pairs" / "blurry" / f"f{index}.png", (blurry * 255).astype(np.uint8))
    out = tmp_path / "model.safetensors"
    done = cli("train", "--pairs", tmp_path / "pairs", "--preset", "midnet-s", "--iterations", "4", "--crop", "48",
               "--batch", "2", "--checkpoints", tmp_path / "ck", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "registered f0" in done.stderr and "validation PSNR" in done.stderr
    from napari_midnet.models.loader import load_model

    card = load_model(out).card
    assert card["training"]["iterations"] == 4 and card["training"]["validation"] == ["f1"]
    assert "napari-midnet train --pairs" in card["training"]["command"]
    report = cli("evaluate", "--pairs", tmp_path / "pairs", "--model", out, "--json", "--wiener")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert set(data["images"]) == {"f0", "f1"}
    assert {"psnr", "ssim"} <= set(data["mean"]["input"]) and {"psnr", "ssim"} <= set(data["mean"]["output"])
    wiener = data["images"]["f0"]["wiener"]
    assert wiener["psnr"] >= data["images"]["f0"]["input"]["psnr"] and wiener["sigma"] > 0  # blur 1.5 is invertible
    table = cli("evaluate", "--pairs", tmp_path / "pairs", "--model", out)
    assert table.returncode == 0 and table.stdout.splitlines()[-1].startswith("mean")


def test_train_refuses_missing_pair_folders(tmp_path):
    done = cli("train", "--pairs", tmp_path, "--out", tmp_path / "m.safetensors")
    assert done.returncode == 1 and "blurry/ and sharp/" in done.stderr
