"""`napari-midnet` command line: deblur, export, focus, info, bench, train, evaluate.

One module per group of commands; they share `common` and never import each other.
"""

from __future__ import annotations

import sys

from .common import EXIT_FAILURE, EXIT_INTERRUPTED, CliError
from .parser import build_parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command as typed, for model cards
    from .deblur import deblur, export, focus
    from .info import bench, info
    from .train import evaluate, train

    commands = {"deblur": deblur, "export": export, "focus": focus, "info": info, "bench": bench, "train": train,
                "evaluate": evaluate}
    try:
        return commands[args.command](args) or 0
    except CliError as error:
        print(f"napari-midnet: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("napari-midnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
