"""npconv installed read-only and run by a user without a home (a container's or a
service's user): the compiled paths work and are exact, from a cache warmed by the
installer (`npconv warmup`), from a private temporary cache, or from none.

Builds a wheel of this checkout, installs it (not editable) into a fresh venv, runs
`npconv warmup` as the installer, makes the venv read-only and runs a script as
`nobody` with HOME=/nonexistent. Needs root (setpriv); skipped otherwise, except in
CI, where it must run (with sudo if not root).
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

pytestmark = pytest.mark.skipif(
    not (AS_ROOT or CI) or (not shutil.which("setpriv") and not shutil.which("su")),
    reason="needs root (to run as nobody) or CI",
)

SCRIPT = r"""
import json, os, sys
import numpy as np
import npconv, npconv.functional as F, npconv.grad as G
from npconv import compute
from npconv.compute import _jit
import reference as R

assert os.path.realpath(npconv.__file__).startswith(os.path.realpath(sys.prefix)), npconv.__file__
dtypes = [np.dtype(d) for d in sys.argv[1].split(",")]
from npconv.compute import planner
chosen = set()
execute, note = planner._execute, planner._note
def spy(name, *a):
    chosen.add(name)
    return execute(name, *a)
planner._execute = spy
planner._note = lambda op, name: (chosen.add(name), note(op, name))
rng = np.random.default_rng(0)
for dtype in dtypes:
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    r = lambda *s: rng.standard_normal(s).astype(dtype)
    x, w = r(2, 6, 10, 10), r(6, 1, 3, 3)
    np.testing.assert_allclose(F.conv2d(x, w, padding=1, groups=6),
                               R.conv(x, w, padding=1, groups=6), **tol)
    np.testing.assert_allclose(G.conv2d_weight(x, w.shape, x, padding=1, groups=6),
                               R.conv_weight(x, x, (3, 3), padding=1, groups=6), **tol)
    if "depthwise" in sys.argv[2:]:
        continue
    y, wt = r(2, 4, 9, 9), r(4, 3, 4, 4)
    with npconv.use_algorithm("col2im"):
        np.testing.assert_allclose(F.conv_transpose2d(y, wt, stride=2, padding=1),
                                   R.conv_transpose(y, wt, stride=2, padding=1), **tol)
    x, w = r(4, 16, 32, 32), r(16, 16, 3, 3)
    with npconv.use_algorithm("winograd"):
        np.testing.assert_allclose(F.conv2d(x, w, padding=1), R.conv(x, w, padding=1), **tol)
    with npconv.use_algorithm("gemm"):
        np.testing.assert_allclose(F.conv2d(x, w, stride=2), R.conv(x, w, stride=2), **tol)
    with npconv.use_algorithm("indirect"):
        np.testing.assert_allclose(F.conv2d(x, w, stride=2), R.conv(x, w, stride=2), **tol)
hits = {d.py_func.__name__: sum(d.stats.cache_hits.values()) for d in _jit.KERNELS}
print(json.dumps(dict(chosen=sorted(chosen), cache=_jit.describe(_jit.directory()), hits=hits)))
"""


def _installer():
    """The environment of the installing user, without anything that would point the venv's
    Python at other packages or caches."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "NPCONV_CACHE_DIR", "NUMBA_CACHE_DIR")
    }


def _run(command, user=None, env=None, timeout=300):
    if user is not None:
        if shutil.which("setpriv"):
            command = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *command]
        else:
            command = ["su", user, "-s", "/bin/sh", "-c", " ".join(command)]
        if not AS_ROOT:
            command = ["sudo", "-n", *command]
    done = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_installer() if env is None else env,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _can_import(python, user):
    """Whether `user` can run `python` and import NumPy and Numba with it."""
    try:
        _run(
            [python, "-c", "import numpy, numba, threadpoolctl"],
            user=user,
            env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
            timeout=120,
        )
    except (AssertionError, OSError):
        return False
    return True


@pytest.fixture(scope="module")
def venv():
    """A read-only venv holding this checkout's wheel, warmed for float64 by its installer."""
    place = pathlib.Path(tempfile.mkdtemp(prefix="npconv-readonly-"))
    place.chmod(0o755)
    try:
        shutil.copytree(
            ROOT,
            place / "source",
            ignore=shutil.ignore_patterns(
                ".git", "__pycache__", "*.egg-info", "build", ".ruff_cache", ".benchmarks"
            ),
        )
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(place / "dist"),
                str(place / "source"),
            ]
        )
        wheel = next((place / "dist").glob("npconv-*.whl"))
        env = place / "venv"
        if _can_import(sys.executable, "nobody"):
            _run([sys.executable, "-m", "venv", "--system-site-packages", str(env)])
        else:
            # this interpreter's packages are private to its owner (a home folder): a venv
            # of the system's Python with the dependencies installed into it instead
            system = shutil.which("python3", path="/usr/bin:/bin")
            assert system is not None, "no interpreter the user nobody can run"
            _run([system, "-m", "venv", str(env)])
            _run(
                [
                    str(env / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "numpy",
                    "numba",
                    "threadpoolctl",
                ],
                timeout=600,
            )
        python = str(env / "bin" / "python")
        _run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)])
        _run([str(env / "bin" / "npconv"), "warmup", "--dtype", "float64"], env=_installer())
        shutil.copy(ROOT / "tests" / "reference.py", env / "reference.py")
        (env / "check.py").write_text(SCRIPT)
        subprocess.run(["chmod", "-R", "a-w", str(env)], check=True)
        yield env
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(place)], check=False)
        shutil.rmtree(place, ignore_errors=True)


def _check(env, dtypes, *only, **environment):
    import json

    base = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONPATH": str(env)}
    out = _run(
        [str(env / "bin" / "python"), str(env / "check.py"), dtypes, *only],
        user="nobody",
        env=dict(base, **environment),
    )
    return json.loads(out.strip().splitlines()[-1])


def test_warmed_read_only_install_runs_every_path_as_a_user_without_a_home(venv):
    """float64 from the installer's cache in the package folders (cache hits, nothing
    compiled), float32 depthwise compiled into the user's private temporary folder."""
    report = _check(venv, "float64")
    assert {"depthwise", "col2im", "winograd", "gemm", "indirect"} <= set(report["chosen"])
    assert report["hits"]["conv_flat"] > 0 and report["hits"]["transform"] > 0
    assert report["hits"]["col2im"] > 0
    report = _check(venv, "float32", "depthwise")
    import pwd

    uid = pwd.getpwnam("nobody").pw_uid
    assert report["cache"] == f"/tmp/npconv-cache-{uid}"


def test_no_cache_folder_still_computes(venv):
    """NPCONV_CACHE_DIR naming a folder that can not be made, or "none": no cache on disk,
    every loop compiled in the process (or read from the package folders' cache)."""
    report = _check(venv, "float32", "depthwise", NPCONV_CACHE_DIR="/nonexistent/cache")
    assert report["cache"] is None
    report = _check(venv, "float64", "depthwise", NPCONV_CACHE_DIR="none")
    assert report["cache"] is None and report["hits"]["conv_flat"] > 0  # the package's cache
