"""`napari-midnet` command line: deblur, info, bench, train, evaluate."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import __version__

EXIT_FAILURE = 1


class CliError(Exception):
    """A user error: printed as one line, exit status 1, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="napari-midnet", description="Deblur SEM images with MIDNet.")
    parser.add_argument("--version", action="version", version=f"napari-midnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    deblur = commands.add_parser("deblur", help="deblur image files or folders")
    deblur.add_argument("inputs", nargs="*", metavar="INPUT", help="image files (TIFF, PNG, JPEG) or folders")
    deblur.add_argument("--sample", action="store_true", help="also deblur the bundled blurry SEM sample")
    deblur.add_argument("-o", "--outdir", required=True, type=Path)
    _add_model_options(deblur)
    deblur.add_argument("--tile", type=int, help="tile size in pixels (default: automatic)")
    deblur.add_argument("--overlap", type=int, default=64)
    deblur.add_argument("--float32", action="store_true", help="write float32 instead of the input dtype")
    deblur.add_argument("--overwrite", action="store_true")
    deblur.add_argument("--include-databar", action="store_true", help="also process the SEM info bar")
    deblur.add_argument("--ensemble", action="store_true",
                        help="average the 8 flips/rotations of each image: about 5x the time, a little more quality")
    deblur.add_argument("--strength", type=float, default=1.0,
                        help="0-1: how much of the correction to apply (0 leaves the input, default 1)")
    deblur.add_argument("--suffix", default="", help="appended to output names, e.g. _deblurred")

    info = commands.add_parser("info", help="version, device and presets")
    info.add_argument("--json", action="store_true")

    bench = commands.add_parser("bench", help="throughput and memory on this machine")
    bench.add_argument("--presets", nargs="+", default=["midnet-s", "midnet"])
    bench.add_argument("--tiles", nargs="+", type=int, default=[256, 512])
    bench.add_argument("--size", type=int, default=1024, help="benchmark image side")
    bench.add_argument("--big", type=int, default=8192, help="side of the peak-memory image (0: skip)")
    bench.add_argument("--device", default="auto")

    train = commands.add_parser("train", help="train or fine-tune on blurry/sharp pairs")
    train.add_argument("--pairs", action="append", type=Path, default=[], metavar="DIR")
    train.add_argument("--sharp-only", action="append", type=Path, default=[], metavar="DIR")
    source = train.add_mutually_exclusive_group()
    source.add_argument("--preset", help="start from a fresh network of this preset")
    source.add_argument("--init", help="start from these weights (preset name or file)")
    train.add_argument("--iterations", type=int, default=2000)
    train.add_argument("--crop", type=int, default=128)
    train.add_argument("--batch", type=int, default=8)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--real-fraction", type=float, default=0.25,
                       help="share of each batch from real pairs when sharp-only images are mixed in (default 0.25)")
    train.add_argument("--val", nargs="+", default=None, metavar="NAME", help="image names held out for validation")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--checkpoints", type=Path, help="checkpoint folder (default: per-user data folder)")
    train.add_argument("--resume", type=Path, metavar="CKPT")
    train.add_argument("--no-register", action="store_true")
    train.add_argument("--max-minutes", type=float, help="stop cleanly (checkpoint, weights) after this long")
    train.add_argument("--device", default="auto")
    train.add_argument("--out", required=True, type=Path, metavar="FILE.safetensors")

    evaluate = commands.add_parser("evaluate", help="PSNR/SSIM of input and output on pairs")
    evaluate.add_argument("--pairs", required=True, type=Path, metavar="DIR")
    _add_model_options(evaluate, with_device=True)
    evaluate.add_argument("--no-register", action="store_true")
    evaluate.add_argument("--wiener", action="store_true", help="also score the best Gaussian Wiener filter")
    evaluate.add_argument("--ensemble", action="store_true", help="score deblur --ensemble (8 flips/rotations)")
    evaluate.add_argument("--json", action="store_true")
    return parser


def _add_model_options(parser: argparse.ArgumentParser, with_device: bool = True) -> None:
    from .config import DEFAULT_MODEL

    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"preset name or weights file (default {DEFAULT_MODEL})")
    if with_device:
        parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    from .cli_commands import bench, deblur, info
    from .cli_training import evaluate, train

    commands = {"deblur": deblur, "info": info, "bench": bench, "train": train, "evaluate": evaluate}
    try:
        return commands[args.command](args) or 0
    except CliError as error:
        print(f"napari-midnet: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("napari-midnet: interrupted", file=sys.stderr)
        return 130


def emit_json(data: dict) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def elapsed_since(start: float) -> str:
    return f"{time.monotonic() - start:.1f} s"
