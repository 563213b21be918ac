"""`deblur` loses nothing: outputs planned and checked before compute, a batch that survives a
bad file, instrument metadata carried over, one clear sentence for every refusal."""

import json

import numpy as np
import pytest
import tifffile

from napari_midnet.cli import main
from napari_midnet.restoration.tiling import OVERLAP

from .conftest import sem_like

FEI_TEXT = b"[User]\r\nDate=04/17/2023\r\n[EScan]\r\nPixelWidth=1.5e-08\r\n\x00"


def image(shape=(64, 80), seed=0):
    return (sem_like(shape, seed=seed) * 255).astype(np.uint8)


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_two_inputs_with_one_output_name_are_refused_before_compute(tmp_path, weights, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "img.tif", image(seed=len(folder)))
    code, _, err = run(capsys, "deblur", tmp_path / "a" / "img.tif", tmp_path / "b" / "img.tif",
                       "-o", tmp_path / "out", "--model", weights, "--overwrite")
    assert code == 1 and "would both be written to" in err
    assert not (tmp_path / "out" / "img.tif").exists()


def test_output_folder_problems_stop_the_run_before_compute(tmp_path, weights, capsys):
    tifffile.imwrite(tmp_path / "a.tif", image())
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run(capsys, "deblur", tmp_path / "a.tif", "-o", blocker, "--model", weights)
    assert code == 1 and "is an existing file" in err
    code, _, err = run(capsys, "deblur", tmp_path / "a.tif", "-o", blocker / "sub", "--model", weights)
    assert code == 1 and "cannot write to the output folder" in err


def test_existing_outputs_are_refused_up_front_or_skipped(tmp_path, weights, capsys):
    for name in ("a", "b"):
        tifffile.imwrite(tmp_path / f"{name}.tif", image(seed=ord(name)))
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.tif").write_bytes(b"earlier result")
    code, _, err = run(capsys, "deblur", tmp_path / "a.tif", tmp_path / "b.tif", "-o", out, "--model", weights)
    assert code == 1 and "a.tif exists already" in err and not (out / "b.tif").exists()
    code, stdout, _ = run(capsys, "deblur", tmp_path / "a.tif", tmp_path / "b.tif", "-o", out, "--model", weights,
                          "--skip-existing")
    assert code == 0 and "skipped" in stdout
    assert (out / "a.tif").read_bytes() == b"earlier result" and tifffile.imread(out / "b.tif").shape == (64, 80)


@pytest.mark.slow
def test_a_batch_goes_on_past_bad_files_and_exits_1(tmp_path, weights, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "broken.tif").write_text("not an image")
    tifffile.imwrite(inputs / "narrow.tif", image((7, 3000)))
    tifffile.imwrite(inputs / "good.tif", image())
    code, _, err = run(capsys, "deblur", inputs, "-o", tmp_path / "out", "--model", weights)
    assert code == 1
    assert "broken.tif" in err and "7 x 3000" not in err and "3000 x 7 px; MIDNet needs at least 32 x 32" in err
    assert "2 of 3 images failed: broken.tif, narrow.tif" in err
    assert tifffile.imread(tmp_path / "out" / "good.tif").shape == (64, 80)


def test_tiny_and_flat_images_get_one_clear_sentence(tmp_path, weights, capsys):
    tifffile.imwrite(tmp_path / "dot.tif", np.zeros((1, 1), np.uint16))
    flat = np.full((64, 64), 1234, np.uint16)
    tifffile.imwrite(tmp_path / "flat.tif", flat)
    code, _, err = run(capsys, "deblur", tmp_path / "dot.tif", "-o", tmp_path / "out", "--model", weights)
    assert code == 1 and "1 x 1 px; MIDNet needs at least 32 x 32" in err and "tile" not in err
    code, stdout, err = run(capsys, "deblur", tmp_path / "flat.tif", "-o", tmp_path / "out", "--model", weights)
    assert code == 0 and "nan" not in stdout + err and "uniform" in err
    assert np.array_equal(tifffile.imread(tmp_path / "out" / "flat.tif"), flat)


def test_outputs_keep_instrument_tags_pixel_size_axes_and_record_provenance(tmp_path, weights, capsys):
    tifffile.imwrite(tmp_path / "fei.tif", image((64, 64)), resolution=(56.0, 56.0), resolutionunit=2,
                     extratags=[(34682, 2, len(FEI_TEXT), FEI_TEXT, True)])
    stack = np.stack([image((48, 48), seed=s) for s in range(6)]).reshape(2, 3, 48, 48).astype(np.uint16)
    tifffile.imwrite(tmp_path / "hyper.tif", stack, imagej=True, metadata={"axes": "TZYX"})
    code, _, err = run(capsys, "deblur", tmp_path / "fei.tif", tmp_path / "hyper.tif", "-o", tmp_path / "out",
                       "--model", weights, "--strength", "0.8")
    assert code == 0, err
    with tifffile.TiffFile(tmp_path / "out" / "fei.tif") as tif:
        page = tif.pages[0]
        assert page.tags[34682].value["User"]["Date"] == "04/17/2023"
        assert page.resolution == (56.0, 56.0) and int(page.resolutionunit) == 2
        provenance = json.loads(page.description)["midnet"]
        assert provenance["weights_sha256"] and provenance["strength"] == 0.8 and provenance["source"] == "fei.tif"
        assert provenance["tile"] == 64 and provenance["device"] == "cpu"  # what ran, not "auto"
    with tifffile.TiffFile(tmp_path / "out" / "hyper.tif") as tif:
        assert tif.series[0].axes == "TZYX" and tif.series[0].shape == (2, 3, 48, 48)
        assert json.loads(tif.imagej_metadata["Info"])["midnet"]["model"] == "tiny"


def test_devices_are_checked_by_the_parser(capsys):
    for command in (["train", "--out", "m.safetensors"], ["bench"]):
        with pytest.raises(SystemExit) as stop:
            main([*command, "--device", "banana"])
        assert stop.value.code == 2 and "invalid choice: 'banana'" in capsys.readouterr().err


def test_help_gives_defaults_examples_and_the_pairs_layout(capsys):
    for command, expected in (("deblur", f"(default: {OVERLAP})"), ("train", "blurry/NAME.ext"), ("bench", "--full")):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert expected in text and "example:" in text and "(default: None)" not in text


@pytest.mark.slow
def test_default_bench_is_quick_and_says_what_it_measured(capsys):
    code, stdout, _ = run(capsys, "bench")
    assert code == 0 and "512x512" in stdout and "midnet-s" in stdout and "8192" not in stdout


def pairs_folder(tmp_path):
    """One small blurry/sharp pair in the pairs-folder layout."""
    pairs = tmp_path / "pairs"
    for kind in ("blurry", "sharp"):
        (pairs / kind).mkdir(parents=True)
        tifffile.imwrite(pairs / kind / "a.tif", image((96, 96)))
    return pairs


def test_train_refuses_what_it_cannot_do_before_any_work(tmp_path, capsys):
    """An existing --out, zero iterations, a missing --resume, a suffix with a path, a tile of 0."""
    pairs = pairs_folder(tmp_path)
    existing = tmp_path / "model.safetensors"
    existing.write_bytes(b"keep me")
    base = ["train", "--pairs", pairs]
    code, _, err = run(capsys, *base, "--out", existing)
    assert code == 1 and "exists already; use --overwrite" in err and existing.read_bytes() == b"keep me"
    code, _, err = run(capsys, *base, "--iterations", 0, "--out", tmp_path / "new.safetensors")
    assert code == 1 and "--iterations must be at least 1" in err
    code, _, err = run(capsys, *base, "--resume", tmp_path / "gone.pt", "--out", tmp_path / "new.safetensors")
    assert code == 1 and "checkpoint not found" in err
    code, _, err = run(capsys, *base, "--out", "/proc/napari-midnet-test/m.safetensors")  # issue 34.14
    assert code == 1 and "cannot write to the output folder" in err and "training" not in err
    tifffile.imwrite(tmp_path / "in.tif", image())
    code, _, err = run(capsys, "deblur", tmp_path / "in.tif", "-o", tmp_path / "out", "--suffix", "/../../evil")
    assert code == 1 and "cannot hold a path separator" in err and not (tmp_path / "evil.tif").exists()
    code, _, err = run(capsys, "deblur", tmp_path / "in.tif", "-o", tmp_path / "out", "--tile", 0)
    assert code == 1 and "--tile must be at least 16" in err
    code, _, err = run(capsys, "deblur", tmp_path / "in.tif", "-o", tmp_path / "out", "--tile", 64, "--overlap", 40)
    assert code == 1 and "--overlap must be below 32" in err
    twice = [tmp_path / "in.tif", tmp_path / "in.tif"]
    code, _, err = run(capsys, "deblur", *twice, "-o", tmp_path / "out", "--overlap", 300)
    assert code == 1 and err.count("--overlap must be below 192") == 1  # issue 34.16: once, before the model loads
    code, _, err = run(capsys, "deblur", tmp_path / "in.tif", "-o", tmp_path / "out", "--blur", "nan")
    assert code == 1 and "--blur must be" in err


def test_weights_that_cannot_be_written_after_training_name_the_checkpoint(tmp_path, capsys, monkeypatch):
    """Issue 34.14: the write is the last step; when it fails, one sentence and the way back."""
    from safetensors import SafetensorError

    from napari_midnet.models import weights

    def full_disk(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(No space left on device)")

    monkeypatch.setattr(weights, "save_weights", full_disk)
    code, _, err = run(capsys, "train", "--pairs", pairs_folder(tmp_path), "--preset", "midnet-s", "--iterations", 1,
                       "--crop", 48, "--batch", 1, "--no-align", "--checkpoints", tmp_path / "ck",
                       "--out", tmp_path / "m.safetensors")
    checkpoint = tmp_path / "ck" / "checkpoint.pt"
    assert code == 1 and "cannot write" in err and "No space left on device" in err
    assert f"--resume {checkpoint}" in err and checkpoint.is_file()


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b"PK\x03\x04truncated"])
def test_a_bad_resume_file_is_one_sentence(tmp_path, capsys, content):
    import torch

    pairs = pairs_folder(tmp_path)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    code, _, err = run(capsys, "train", "--pairs", pairs, "--resume", bad, "--no-align", "--iterations", 1,
                       "--crop", 32, "--batch", 1, "--checkpoints", tmp_path, "--out", tmp_path / "m.safetensors")
    assert code == 1 and "bad.pt is no readable checkpoint" in err and err.count("\n") == 1  # before any work
    torch.save({"weights": torch.zeros(2)}, bad)
    code, _, err = run(capsys, "train", "--pairs", pairs, "--resume", bad, "--no-align", "--iterations", 1,
                       "--crop", 32, "--batch", 1, "--checkpoints", tmp_path, "--out", tmp_path / "m.safetensors")
    assert code == 1 and "no napari-midnet training checkpoint" in err


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("true",))


def test_a_resume_file_carrying_code_is_refused_unrun(tmp_path, capsys):
    import torch

    pairs = pairs_folder(tmp_path)
    hostile = tmp_path / "hostile.pt"
    torch.save({"model": _RunsCode()}, hostile)
    code, _, err = run(capsys, "train", "--pairs", pairs, "--resume", hostile, "--no-align", "--iterations", 1,
                       "--crop", 32, "--batch", 1, "--checkpoints", tmp_path, "--out", tmp_path / "m.safetensors")
    assert code == 1 and "never unpickles (it could run code)" in err and "weights_only" not in err


def test_an_old_pickle_protocol_file_gets_our_sentence_and_no_torch_warning(tmp_path, capsys):
    import torch

    from napari_midnet.models.config import ModelConfig
    from napari_midnet.models.nets import build_model

    model = build_model(ModelConfig(width=8, enc_blocks=(1, 1), dec_blocks=(1, 1)))
    legacy = tmp_path / "old.pth"
    torch.save(model.state_dict(), legacy, pickle_protocol=4, _use_new_zipfile_serialization=False)
    tifffile.imwrite(tmp_path / "in.tif", image())
    code, _, err = run(capsys, "deblur", tmp_path / "in.tif", "-o", tmp_path / "out", "--model", legacy)
    assert code == 1 and "old.pth cannot be read as PyTorch weights" in err
    assert "Warning" not in err and "protocol" not in err and err.count("\n") == 1


@pytest.mark.parametrize("compression", ["lzw", "deflate"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_compressed_tiffs_are_read(tmp_path, weights, capsys, compression, dtype):
    scale = 255 if dtype == np.uint8 else 65535
    data = (sem_like((64, 80)) * scale).astype(dtype)
    tifffile.imwrite(tmp_path / "packed.tif", data, compression=compression)
    code, _, err = run(capsys, "deblur", tmp_path / "packed.tif", "-o", tmp_path / "out", "--model", weights)
    assert code == 0, err
    assert tifffile.imread(tmp_path / "out" / "packed.tif").dtype == dtype


def test_an_output_folder_named_like_a_file_is_refused(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "in.tif", image())
    code, _, err = run(capsys, "deblur", tmp_path / "in.tif", "-o", tmp_path / "result.tif")
    assert code == 1 and "looks like an image file name" in err and not (tmp_path / "result.tif").exists()


def test_a_text_file_named_png_gets_one_true_sentence_and_a_tiff_named_png_opens(tmp_path, weights, capsys):
    """Issue 19.20: it got imageio's advice to pip install plugins."""
    (tmp_path / "notes.png").write_text("hello, not an image")
    tifffile.imwrite(tmp_path / "frame.png", image())  # a TIFF under another name: read by its content
    code, _, err = run(capsys, "deblur", tmp_path / "notes.png", tmp_path / "frame.png", "-o", tmp_path / "out",
                       "--model", weights)
    assert code == 1 and "notes.png is not a PNG file" in err and "pip install" not in err
    assert tifffile.imread(tmp_path / "out" / "frame.tif").shape == (64, 80)


def test_shards_split_a_folder_deterministically_and_cover_it_once(tmp_path, weights, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(5):
        tifffile.imwrite(inputs / f"f{index}.tif", image(seed=index))
    written = []
    for shard in ("1/2", "2/2"):
        code, out, err = run(capsys, "deblur", inputs, "-o", tmp_path / "out", "--model", weights, "--shard", shard,
                             "--skip-existing")
        assert code == 0, err
        written.append(sorted(line.split()[0] for line in out.splitlines() if "->" in line))
    assert written == [["f0.tif", "f2.tif", "f4.tif"], ["f1.tif", "f3.tif"]]
    for bad, words in (("3/2", "between 1 and N"), ("x", "K/N")):
        code, _, err = run(capsys, "deblur", inputs, "-o", tmp_path / "o2", "--model", weights, "--shard", bad)
        assert code == 1 and words in err
    code, _, err = run(capsys, "deblur", inputs, "-o", tmp_path / "o3", "--model", weights, "--shard", "8/10")
    assert code == 0 and "shard 8/10 has no image (5 inputs in 10 shards)" in err  # issue 34.19: said


def test_a_kernel_aware_model_on_another_backend_names_the_way_that_works(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "a.tif", image())
    code, _, err = run(capsys, "deblur", tmp_path / "a.tif", "-o", tmp_path / "out", "--backend", "onnx")
    assert code == 1 and "--backend torch" in err and "--model midnet-s" in err


@pytest.mark.slow
def test_a_disk_that_fills_mid_write_fails_that_image_only_and_leaves_no_partial_file(tmp_path, weights):
    """Issue 18.8: simulated with a file-size limit (writes past it fail as on a full disk)."""
    import subprocess
    import sys

    inputs = tmp_path / "in"
    inputs.mkdir()
    tifffile.imwrite(inputs / "big.tif", image((1024, 1024)))  # 2 MB of uint16 out: over the limit
    tifffile.imwrite(inputs / "small.tif", image((64, 80)))
    for streamed, out in ((False, tmp_path / "out"), (True, tmp_path / "streamed")):  # issue 34.19: one wording
        code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
                "resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000)); "
                "import napari_midnet.jobs.deblur as d, napari_midnet.restoration.tiling as t; "
                + ("d.STREAM_ABOVE = t.LARGE_PLANE = 0; " if streamed else "")  # streamed, the scratch on disk
                +
                "from napari_midnet.cli import main; sys.exit(main(sys.argv[1:]))")
        done = subprocess.run([sys.executable, "-c", code, "deblur", str(inputs), "-o", str(out),
                               "--model", str(weights)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "big.tif: could not write" in done.stderr and "the disk is full" in done.stderr, done.stderr
        assert "1 of 2 images failed: big.tif" in done.stderr
        assert sorted(path.name for path in out.iterdir()) == ["small.tif"]  # no partial big.tif, no scratch


def test_a_corrupt_tile_in_a_tiled_tiff_is_one_sentence_and_the_batch_goes_on(tmp_path, weights, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    tifffile.imwrite(inputs / "tiled.tif", image((512, 512)), tile=(256, 256), compression="zlib")
    with tifffile.TiffFile(inputs / "tiled.tif") as tif:
        offset = tif.pages[0].dataoffsets[2] + 10
    data = bytearray((inputs / "tiled.tif").read_bytes())
    data[offset:offset + 200] = b"\0" * 200  # the third tile's compressed bytes
    (inputs / "tiled.tif").write_bytes(bytes(data))
    tifffile.imwrite(inputs / "good.tif", image())
    code, _, err = run(capsys, "deblur", inputs, "-o", tmp_path / "out", "--model", weights)
    assert code == 1 and "cannot read tiled.tif as an image" in err and "1 of 2 images failed: tiled.tif" in err
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["good.tif"]


def test_a_blur_given_by_hand_is_never_reported_as_estimated(tmp_path, capsys):
    """Issue 34.19: --blur 0 said "the input already looks in focus (estimated blur 0.0 px)"."""
    code, _, err = run(capsys, "deblur", "--sample", "-o", tmp_path, "--blur", "0")
    assert code == 0 and "blur given: in focus" in err and "estimated blur 0.0" not in err


def test_an_early_failure_leaves_no_empty_output_folder(tmp_path, capsys):
    """Issue 34.19."""
    tifffile.imwrite(tmp_path / "a.tif", image())
    code, _, err = run(capsys, "deblur", tmp_path / "a.tif", "-o", tmp_path / "new" / "out", "--model", "nonesuch")
    assert code == 1 and not (tmp_path / "new").exists()
