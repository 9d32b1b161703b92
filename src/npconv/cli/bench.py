"""`npconv bench`: time npconv against torch, onnxruntime and jax on the benchmark suite."""

from __future__ import annotations


def register(subparsers):
    from .. import bench

    parser = subparsers.add_parser(
        "bench",
        help="time npconv against torch, onnxruntime and jax",
        description=bench.__doc__.split("\n\n")[0].replace("\n", " "),
    )
    bench.add_arguments(parser)
    parser.set_defaults(func=bench.run)
