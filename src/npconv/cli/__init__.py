"""The `npconv` command. Each subcommand lives in its own module of this package
and exposes `register(subparsers)`, which adds its parser and sets `func`.

Exit codes: 0 success, 1 a library error (message on stderr), 2 a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

SUBCOMMANDS = ("shape", "solve", "explain", "demo", "bench", "warmup")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="npconv",
        description="PyTorch's convolution layers on NumPy: shapes, parameter solving, "
        "animated explanations, a training demo and benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"npconv {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    options = parser.parse_args(argv)
    if not getattr(options, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return options.func(options) or 0
    except (ValueError, TypeError) as error:
        print(f"npconv {options.command}: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a file that cannot be written: one line, no traceback
        print(
            f"npconv {options.command}: error: {error.strerror or error}: "
            f"{error.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
