"""Print, from pyproject.toml, what .ci/run's minimum-versions run installs.

    python .ci/minimum.py constraints   each dependency pinned to its declared minimum's
                                        release series: numpy>=1.23 -> numpy==1.23.*
    python .ci/minimum.py tests         the test extra without the packages that run
                                        leaves out (torch, and the dask extra's packages)

Derived, not written out, so that raising a minimum in pyproject.toml moves CI with it.
"""

import pathlib
import re
import sys

import tomllib

LEFT_OUT = ("torch", "dask", "distributed", "zarr")  # their tests: needs_torch, needs_dask


def main(what):
    project = tomllib.loads(
        (pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    )["project"]
    if what == "constraints":
        for requirement in project["dependencies"]:
            found = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", requirement)
            if found is None:
                sys.exit(f"minimum.py: {requirement!r} is not of the form name>=version")
            print(f"{found[1]}=={found[2]}.*")
    elif what == "tests":
        for requirement in project["optional-dependencies"]["test"]:
            name = re.match(r"[A-Za-z0-9_.-]+", requirement)[0]
            if name not in LEFT_OUT:
                print(requirement)
    else:
        sys.exit(f"minimum.py: expected 'constraints' or 'tests', got {what!r}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
