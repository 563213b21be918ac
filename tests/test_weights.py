import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from napari_midnet.models.config import ModelConfig
from napari_midnet.models.loader import load_model
from napari_midnet.models.nets import MIDNet, build_model
from napari_midnet.models.weights import WeightsError, save_weights, tensors_sha256

from .conftest import perturb


def test_round_trip_keeps_tensors_card_and_sha(tmp_path):
    model = perturb(build_model("midnet-s"))
    path = tmp_path / "w.safetensors"
    sha = save_weights(model, path, {"preset": "midnet-s", "trained": True, "training": {"iterations": 5}})
    loaded = load_model(path)
    assert loaded.sha256 == sha == tensors_sha256(model.state_dict())
    assert loaded.card["training"]["iterations"] == 5 and loaded.card["sha256"] == sha
    assert loaded.card["architecture"]["width"] == 16 and "created" in loaded.card
    x = torch.rand(1, 1, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded.model(x), model(x))
    assert not list(tmp_path.glob("*.part"))  # atomic write leaves no temp file


def test_half_precision_weights_load_as_float32(tmp_path):
    model = perturb(build_model("midnet-s"))
    save_weights(model, tmp_path / "h.safetensors", half=True)
    loaded = load_model(tmp_path / "h.safetensors")
    assert next(loaded.model.parameters()).dtype == torch.float32


def test_the_cards_training_crop_sets_the_inference_pooling_window(tmp_path):
    """Weights trained on 64-px crops pool over 192 px, not the 384 px of the 128-px default."""
    model = perturb(build_model("midnet-s"))
    save_weights(model, tmp_path / "c.safetensors", {"training": {"crop": 64}})
    loaded = load_model(tmp_path / "c.safetensors").model
    x = torch.rand(1, 1, 384, 384)
    with torch.inference_mode():
        assert not torch.allclose(loaded(x), model(x))  # model still pools globally (384 px)
        model.set_pool_window(192)
        assert torch.equal(loaded(x), model(x))


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "nope.safetensors")


def test_truncated_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(build_model("midnet-s"), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated"):
        load_model(path)


def test_file_that_is_not_weights(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("these are my notes, not weights " * 10)
    with pytest.raises(WeightsError, match="not a weights file"):
        load_model(path)


def test_weights_of_another_architecture_name_mismatched_keys(tmp_path):
    path = tmp_path / "other.safetensors"
    save_weights(build_model("midnet-s"), path)
    # claim a different architecture in the card: the tensors no longer fit
    from safetensors.torch import load_file, save_file

    card = {"architecture": ModelConfig(width=8).as_dict()}
    save_file(load_file(path), path, metadata={"card": json.dumps(card)})
    with pytest.raises(WeightsError, match=r"another architecture \(\d+ mismatched keys, e.g. .*intro"):
        load_model(path)


def test_legacy_pt_loads_only_tensors(tmp_path):
    model = perturb(build_model("midnet-s"))
    torch.save({"state_dict": model.state_dict()}, tmp_path / "old.pth")
    loaded = load_model(tmp_path / "old.pth")
    assert loaded.sha256 == tensors_sha256(model.state_dict())
    torch.save({"state_dict": {"x": torch.zeros(3)}}, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="another architecture"):
        load_model(tmp_path / "bad.pt")


def test_legacy_pickle_with_code_is_refused(tmp_path):
    torch.save({"model": MIDNet}, tmp_path / "code.pt")  # a class: not loadable with weights_only
    with pytest.raises(WeightsError, match="never unpickles") as refused:
        load_model(tmp_path / "code.pt")
    message = str(refused.value)  # our sentence, not torch's multi-line hint with ANSI codes
    assert "\x1b" not in message and "weights_only" not in message and "\n" not in message


def test_untrained_preset_says_so():
    loaded = load_model("nafnet")
    assert loaded.trained is False


def test_channels_last_model_saves_and_hashes(tmp_path):
    model = perturb(build_model("midnet-s")).to(memory_format=torch.channels_last)
    sha = save_weights(model, tmp_path / "cl.safetensors")
    assert load_model(tmp_path / "cl.safetensors").sha256 == sha


def test_atomic_outputs_get_the_usual_permissions(tmp_path):
    import os

    umask = os.umask(0)
    os.umask(umask)
    save_weights(build_model("midnet-s"), tmp_path / "w.safetensors")
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


def test_shipped_tensors_without_their_card_are_the_same_trained_model(tmp_path):
    from safetensors.torch import save_file

    from napari_midnet.bundled import bundled_weights
    from napari_midnet.models.config import DEFAULT_MODEL
    from napari_midnet.restoration.restore import RestoreOptions, restore

    from .conftest import drain, sem_like

    with safe_open(str(bundled_weights(DEFAULT_MODEL)), framework="pt") as handle:
        save_file({key: handle.get_tensor(key) for key in handle.keys()}, str(tmp_path / "bare.safetensors"))
    bare, shipped = load_model(tmp_path / "bare.safetensors"), load_model(DEFAULT_MODEL)
    assert bare.trained and bare.sha256 == shipped.sha256
    image = sem_like((96, 96))
    options = RestoreOptions(value_range=(0, 1), float32=True)
    outputs = [drain(restore(image, loaded.model, options))[1] for loaded in (bare, shipped)]
    assert np.array_equal(*outputs)


def test_other_weights_without_a_card_are_not_called_untrained(tmp_path, weights):
    from safetensors.torch import save_file

    with safe_open(str(weights), framework="pt") as handle:
        save_file({key: handle.get_tensor(key) for key in handle.keys()}, str(tmp_path / "bare.safetensors"))
    loaded = load_model(tmp_path / "bare.safetensors")
    assert loaded.trained and loaded.card == {}

