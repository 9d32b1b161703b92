"""The planner's choice for every pass of every case of the zoo, the suite and the long cases.

Prints one line per case and pass, `name  pass  algorithm[:variant]`, from shape arithmetic
alone (nothing is run or timed), so two trees can be compared with `diff`: a change to a
planner rule or an algorithm's `supports` changes exactly the lines it moves, and only those
cases need timing against their peers.

    PYTHONPATH=src python bench/plans.py > /tmp/after.txt
    git stash; PYTHONPATH=src python bench/plans.py > /tmp/before.txt; git stash pop
    diff /tmp/before.txt /tmp/after.txt
"""

from __future__ import annotations

import argparse
import pathlib

import npconv
from npconv.bench import cases

HERE = pathlib.Path(__file__).parent


def lines(suite):
    """`name pass algorithm` lines of every case of one suite file."""
    for c in cases.load(str(suite)):
        options = dict(stride=c.stride, padding=c.padding, dilation=c.dilation, groups=c.groups)
        if c.op == "conv_transpose":
            options["output_padding"] = c.output_padding
        p = npconv.plan(c.op, c.input_shape, c.weight_shape, "float32", **options)
        passes = [("forward", p.forward)]
        if c.pass_ == "backward":
            passes += [("input_gradient", p.input_gradient), ("weight_gradient", p.weight_gradient)]
        for name, one in passes:
            variant = f":{one.variant}" if one.variant else ""
            yield f"{c.name:20s} {name:16s} {one.algorithm}{variant}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "suites",
        nargs="*",
        default=["zoo.json", "suite.json", "long.json"],
        help="suite files in bench/ (default: zoo, suite and long)",
    )
    options = parser.parse_args(argv)
    for suite in options.suites:
        path = pathlib.Path(suite)
        for line in lines(path if path.exists() else HERE / suite):
            print(f"{path.stem:6s} {line}")


if __name__ == "__main__":
    main()
