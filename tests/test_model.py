import pytest
import torch

from napari_midnet.models.config import PRESETS, ModelConfig
from napari_midnet.models.nets import MIDNet, build_model, count_parameters
from napari_midnet.models.nets.midnet import AttentionGate

from .conftest import perturb


def test_paper_preset_has_paper_size():
    assert 17.0e6 <= count_parameters(build_model("midnet")) <= 17.5e6


def test_gates_are_the_only_difference_to_nafnet():
    gated, plain = build_model("midnet"), build_model("nafnet")
    gate_params = sum(p.numel() for g in gated.gates for p in g.parameters())
    assert gate_params > 0
    assert count_parameters(gated) - count_parameters(plain) == gate_params


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_runs_a_real_forward_on_odd_sizes(preset):
    model = build_model(preset).eval()
    x = torch.rand(1, 1 + model.config.condition_planes, 37, 45)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (1, 1, 37, 45) and torch.isfinite(y).all()


def test_fresh_network_is_close_to_identity_through_the_global_residual():
    model = build_model("midnet-s").eval()
    torch.nn.init.zeros_(model.ending.weight)
    torch.nn.init.zeros_(model.ending.bias)
    x = torch.rand(2, 1, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(model(x), x)


def test_attention_gate_scales_skip_by_a_sigmoid_map():
    gate = AttentionGate(4)
    skip, g = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    out = gate(skip, g)
    alpha = out / skip
    assert out.shape == skip.shape
    assert torch.all((alpha > 0) & (alpha < 1))
    assert torch.allclose(alpha, alpha[:, :1].expand_as(alpha), atol=1e-5)  # one alpha for all channels


def test_tiny_images_are_padded_not_rejected():
    model = MIDNet(ModelConfig(width=4, enc_blocks=(1, 1, 1, 1), middle_blocks=1, dec_blocks=(1, 1, 1, 1)))
    assert model(torch.rand(1, 1, 5, 7)).shape == (1, 1, 5, 7)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown preset 'big'"):
        build_model("big")


def test_channel_attention_pools_globally_in_training_and_locally_on_large_inputs():
    model = perturb(build_model("midnet-s"))
    x = torch.rand(1, 1, 64, 64)
    model.train()
    with torch.no_grad():
        trained_view = model(x)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(x), trained_view, atol=1e-6)  # 64 px < window: identical
        big = torch.rand(1, 1, 416, 416)
        local = model(big)
        model.set_pool_window(None)
        assert not torch.allclose(local, model(big))  # 416 px > window (384): local statistics


def test_box_mean_equals_a_brute_force_window_mean():
    from napari_midnet.models.nets.blocks import box_mean

    x = torch.rand(1, 2, 20, 24)
    expected = torch.empty_like(x)
    for i in range(20):
        for j in range(24):
            top, left = min(max(i - 3, 0), 20 - 6), min(max(j - 3, 0), 24 - 6)
            expected[..., i, j] = x[..., top:top + 6, left:left + 6].mean((2, 3))
    assert torch.allclose(box_mean(x, 6), expected, atol=1e-5)


def test_napari_start_up_and_opening_the_dock_do_not_import_torch_or_bioimageio():
    import subprocess
    import sys

    code = ("import sys, napari_midnet, napari_midnet.io.reader, napari_midnet.io.sample_data, "
            "napari_midnet.widgets.dock, napari_midnet.cli.parser; "
            "print(sorted(m for m in ('torch', 'bioimageio', 'onnx', 'onnxruntime') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_image_primitives_are_a_leaf_and_pairs_do_not_need_the_tiler():
    """Issue 18.7: small primitives in one leaf module; pairs.py imported value_range from the tiler."""
    import ast
    from pathlib import Path

    import napari_midnet

    package = Path(napari_midnet.__file__).parent

    def imported(module: str) -> set[str]:
        tree = ast.parse((package / module).read_text())
        return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}

    assert imported("imaging.py") == set()
    pairs = imported("training/pairs.py")
    assert "restoration.restore" not in pairs and "imaging" in pairs
    assert "reader" not in imported("io/files.py")  # the SEM tag codes live beside the TIFF writer


def test_the_suite_never_touches_the_users_own_data_folder(tmp_path_factory):
    from napari_midnet.io.paths import user_data_folder
    from napari_midnet.training.checkpoints import default_checkpoint_dir

    base = tmp_path_factory.getbasetemp()
    assert base in user_data_folder().parents and base in default_checkpoint_dir().parents
