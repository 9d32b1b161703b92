"""Shared fixtures: a seeded generator and random arrays of any supported dtype.

This directory is put on sys.path so test files can `import reference` (the
loop oracle) under pytest's importlib import mode.
"""

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))


@pytest.fixture
def rng():
    """A fresh generator with a fixed seed, so every test is reproducible."""
    return np.random.default_rng(0)


def random_array(rng, shape, dtype=np.float64):
    """Standard normal entries in `dtype`; complex dtypes get a random imaginary part too."""
    dtype = np.dtype(dtype)
    a = rng.standard_normal(shape)
    if dtype.kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


@pytest.fixture
def make(rng):
    """make(shape, dtype=float64): a random array drawn from the test's `rng`."""
    return lambda shape, dtype=np.float64: random_array(rng, shape, dtype)


def pytest_addoption(parser):
    parser.addoption(
        "--require-passed",
        type=int,
        default=None,
        metavar="N",
        help="fail the session if any test was skipped or fewer than N tests passed "
        "(.ci/run checks each of its runs so: nothing missing is skipped away)",
    )


def _shortfall(config):
    """(passed, problems) of a --require-passed session: the skipped tests, too few passed."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter else {}
    passed = sum(1 for r in stats.get("passed", []) if r.when == "call")
    skipped = sorted({r.nodeid for r in stats.get("skipped", [])})
    floor = config.getoption("--require-passed")
    problems = []
    if skipped:
        problems.append(f"{len(skipped)} skipped, and none may be: " + ", ".join(skipped[:20]))
    if passed < floor:
        problems.append(f"{passed} tests passed, fewer than the {floor} required")
    return passed, problems


def pytest_sessionfinish(session, exitstatus):
    if session.config.getoption("--require-passed") is not None and session.exitstatus == 0:
        if _shortfall(session.config)[1]:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.getoption("--require-passed") is None:
        return
    passed, problems = _shortfall(config)
    for problem in problems:
        terminalreporter.write_line("--require-passed: " + problem, red=True)
    terminalreporter.write_line(f"--require-passed: {passed} tests passed")
