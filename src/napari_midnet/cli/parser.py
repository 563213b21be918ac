"""The command line's arguments, help texts (with defaults) and examples."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__
from ..models.config import DEFAULT_MODEL, PRESETS
from ..restoration.backends import BACKENDS, DEFAULT_BACKEND
from ..restoration.device import Device
from ..restoration.tiling import OVERLAP, TILE

DEVICES = [device.value for device in Device]
PAIRS_LAYOUT = """A pairs folder holds blurry/NAME.ext and sharp/NAME.ext (same NAME, any of .tif .png .jpg);
pairs are aligned automatically (a refocused re-acquisition is shifted and slightly scaled)."""
EXAMPLES = {
    "deblur": "example: napari-midnet deblur raw/ -o deblurred --skip-existing\n"
              "         napari-midnet deblur frame.tif -o out --blur 4,2,30   (a known astigmatic blur)",
    "info": "example: napari-midnet info            (version, device, every preset and its weights)\n"
            "         napari-midnet info midnet-s-psf --json   (one model's card)",
    "focus": "example: napari-midnet focus raw/ --json\n"
             "         napari-midnet focus frame.tif --map maps/",
    "train": "example: napari-midnet train --pairs my_pairs --iterations 400 --out tuned.safetensors\n\n"
             + PAIRS_LAYOUT,
    "evaluate": "example: napari-midnet evaluate --pairs my_pairs --wiener\n\n" + PAIRS_LAYOUT,
    "export": "example: napari-midnet export midnet-s --bioimageio midnet-s.zip\n"
              "         napari-midnet export tuned.safetensors --bioimageio tuned.zip\n"
              "         bioimageio test tuned.zip   (bioimageio.core's own test)",
    "bench": "example: napari-midnet bench            (about a minute)\n"
             "         napari-midnet bench --full     (both models, three tiles, an 8192^2 image: 15+ minutes)\n"
             "         napari-midnet bench --scale    (memory and speed as images grow, and on a cluster)",
}


def build_parser() -> argparse.ArgumentParser:
    from ..training.loop import TrainConfig

    parser = argparse.ArgumentParser(prog="napari-midnet", description="Deblur SEM images with MIDNet.")
    parser.add_argument("--version", action="version", version=f"napari-midnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES.get(name),
                                   formatter_class=HelpFormatter)

    deblur = command("deblur", "deblur image files or folders into OUTDIR/<name>.tif (a zarr into OUTDIR/<name>.zarr)")
    deblur.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="image files (TIFF, PNG, JPEG), zarr or OME-Zarr images, or folders of them")
    deblur.add_argument("--sample", action="store_true", help="also deblur the bundled blurry SEM sample")
    deblur.add_argument("-o", "--outdir", required=True, type=Path, help="output folder (created if missing)")
    _add_model_options(deblur)
    deblur.add_argument("--tile", type=int, help=f"tile size in pixels (default: {TILE}, the image's side if smaller)")
    deblur.add_argument("--overlap", type=int, default=OVERLAP, help="pixels shared by neighbouring tiles")
    deblur.add_argument("--strength", type=float, default=1.0,
                        help="0-1: how much of the correction to apply (0 leaves the input)")
    deblur.add_argument("--blur", default="auto", metavar="auto|S|SMAJ,SMIN,ANGLE",
                        help="kernel-aware models: the blur to undo, estimated per region (auto), or a "
                             "defocus sigma in px, or major,minor sigma in px and the major axis' angle in "
                             "degrees (counterclockwise from the rows)")
    deblur.add_argument("--float32", action="store_true", help="write float32 instead of the input dtype")
    existing = deblur.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    existing.add_argument("--skip-existing", action="store_true", help="keep outputs that exist, deblur the rest")
    deblur.add_argument("--include-databar", action="store_true", help="also process the SEM info bar")
    deblur.add_argument("--ensemble", action="store_true",
                        help="average the 8 flips/rotations of each image: about 5x the time, a little more quality")
    deblur.add_argument("--suffix", default="", help="appended to output names, e.g. _deblurred")
    deblur.add_argument("--scheduler", metavar="local[:N]|tcp://HOST:PORT",
                        help="deblur the images as tasks on dask.distributed: a local cluster of N worker "
                             "processes, or a running scheduler (the [cluster] extra)")
    deblur.add_argument("--shard", metavar="K/N", help="only every N-th input from the K-th on (K = 1..N, "
                        "in sorted order): one SLURM array task each (--array=1-N), with --skip-existing to re-run")
    deblur.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKENDS,
                        help="run the network with eager PyTorch, TorchScript or ONNX Runtime (blind MIDNet "
                             "models; onnx needs the [bioimageio] extra)")

    focus = command("focus", "how out of focus each image is: defocus and astigmatism in px, and noise")
    focus.add_argument("inputs", nargs="+", metavar="INPUT", help="image files (TIFF, PNG, JPEG) or folders")
    focus.add_argument("--json", action="store_true", help="print a JSON list instead of sentences")
    focus.add_argument("--map", type=Path, metavar="OUTDIR",
                       help="also write a per-pixel blur map (sigma, px) as OUTDIR/<name>_blur.tif")

    info = command("info", "version, device, presets and which weights ship; or one model's card")
    info.add_argument("model", nargs="?", metavar="MODEL", help="a preset name or weights file: print its card")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of lines")

    export = command("export", "write a model as a bioimage.io package (zip), tested by bioimageio.core")
    export.add_argument("model", metavar="MODEL", help="a preset name, weights file or bioimage.io package")
    export.add_argument("--bioimageio", required=True, type=Path, metavar="OUT.zip", help="the package to write")
    export.add_argument("--overwrite", action="store_true", help="replace OUT.zip if it exists")

    bench = command("bench", "throughput and memory on this machine")
    bench.add_argument("--full", action="store_true", help="the long run (defaults in the example below)")
    bench.add_argument("--presets", nargs="+", help="default: midnet-s (--full: midnet-s midnet)")
    bench.add_argument("--tiles", nargs="+", type=int, help="tile sides, 0 = automatic (default: 0; --full: 0 256 512)")
    bench.add_argument("--size", type=int, help="benchmark image side (default 512, --full 1024)")
    bench.add_argument("--big", type=int, help="side of the peak-memory image, 0 skips it (default 0, --full 8192)")
    bench.add_argument("--device", default=Device.AUTO.value, choices=DEVICES, help="compute device")
    bench.add_argument("--backends", action="store_true",
                       help="also time midnet-s with each backend (torch, torchscript, onnx)")
    bench.add_argument("--scale", action="store_true",
                       help="peak memory and Mpix/s of deblur on 2048x2048 and 2048x16384 TIFFs (--full: also "
                            "16384x16384) and of a folder on a LocalCluster of 1 and 2 workers (the default "
                            "model, or the first of --presets; tens of minutes on a CPU)")

    train = command("train", "train or fine-tune on blurry/sharp pairs and sharp-only images")
    train.add_argument("--pairs", action="append", type=Path, default=[], metavar="DIR",
                       help="a pairs folder (repeatable; layout below)")
    train.add_argument("--sharp-only", action="append", type=Path, default=[], metavar="DIR",
                       help="a folder of sharp images, blurred by the SEM simulator (repeatable)")
    train.add_argument("--preset", help="start from a fresh network of this preset (with --init: its weights "
                       "where they fit; new condition inputs start at zero)")
    train.add_argument("--init", help="start from these weights, a preset name or file (default: the default model)")
    defaults = TrainConfig()  # the one declaration, shared with the Fine-tune panel
    train.add_argument("--iterations", type=int, default=defaults.iterations, help="training steps")
    train.add_argument("--crop", type=int, default=defaults.crop, help="training crop side in pixels")
    train.add_argument("--batch", type=int, default=defaults.batch, help="crops per step")
    train.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate (cosine decay)")
    train.add_argument("--blur-scale", type=float, default=defaults.blur_scale,
                       help="scales the simulator's defocus for --sharp-only images")
    train.add_argument("--real-fraction", type=float, default=defaults.real_fraction,
                       help="share of each batch from real pairs when sharp-only images are mixed in")
    train.add_argument("--val", nargs="+", default=None, metavar="NAME",
                       help="image names held out for validation (default: the last name)")
    train.add_argument("--seed", type=int, default=defaults.seed, help="random seed (crops, blur, init)")
    train.add_argument("--checkpoints", type=Path, help="checkpoint folder (default: the per-user data folder)")
    train.add_argument("--resume", type=Path, metavar="CKPT", help="continue from this checkpoint")
    train.add_argument("--no-align", action="store_true", help="the pairs are aligned already")
    train.add_argument("--max-minutes", type=float, help="stop cleanly (checkpoint, weights) after this long")
    train.add_argument("--device", default=Device.AUTO.value, choices=DEVICES, help="compute device")
    train.add_argument("--out", required=True, type=Path, metavar="FILE.safetensors", help="where to save the model")
    train.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    evaluate = command("evaluate", "PSNR/SSIM of input and output against the sharp images of pairs")
    evaluate.add_argument("--pairs", required=True, type=Path, metavar="DIR", help="a pairs folder (layout below)")
    _add_model_options(evaluate)
    evaluate.add_argument("--no-align", action="store_true", help="the pairs are aligned already")
    evaluate.add_argument("--wiener", action="store_true", help="also score the best Gaussian Wiener filter")
    evaluate.add_argument("--ensemble", action="store_true", help="score deblur --ensemble (8 flips/rotations)")
    evaluate.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    return parser


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's default in its help (where it has a real one), epilogs kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default is not None and action.default is not False  # a 0 default is still a default
        if shown and action.default not in ("", [], argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"a preset ({', '.join(PRESETS)}: `napari-midnet info` says what each is and when "
                             "to pick it) or a weights file")
    parser.add_argument("--device", default=Device.AUTO.value, choices=DEVICES, help="compute device")
