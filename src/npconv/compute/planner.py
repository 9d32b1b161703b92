"""The planner: one function takes a whole problem and returns the plan that runs it.

A problem is one contraction of the trilinear form (see compute/__init__): its op
(conv, conv_transpose or conv_weight), its Geometry, the big and small channels per
group, the batch, the dtype and the thread count. A plan names the algorithm (a
module of ALGORITHMS), its variant, and why it was chosen. Every algorithm says what
it supports (`supports(geometry)`, the ops it defines, `DTYPES` where it is limited
to some), so the planner only ever picks one that can run the problem.

How the choice is made, first match wins:

 1. forced: `use_algorithm(name)` (or NPCONV_ALGORITHM) names an algorithm that
    supports the problem; only the outermost contraction of a call is forced, since
    mirror and phase solve theirs through the planner again;
 2. measured: in `set_planner("measure")`, the first call of a problem times every
    candidate on the call's own operands (after a warm-up run that also compiles) and
    keeps the fastest, per problem, in the process's wisdom (save_wisdom/load_wisdom);
 3. heuristic: structural rules over the problem's shape, with thresholds from
    tuning.py.

Then, whatever the source: an algorithm whose transforms mix values
(`EXACT_NONFINITE = False`: Winograd's tiles, FFT's spectra) does not run on operands
holding NaN or Inf; the heuristic's choice among the exact algorithms does, so a
non-finite value reaches exactly the outputs a direct convolution gives it.
"""

from __future__ import annotations

import cmath
import contextlib
import json
import math
import os
import platform
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import NamedTuple

import numpy as np

from .. import _threads
from . import (
    col2im,
    depthwise,
    direct,
    fft,
    gemm,
    indirect,
    mirror,
    phase,
    pointwise,
    shifted,
    tuning,
    winograd,
)
from .geometry import Geometry, extent

OPS = ("conv", "conv_transpose", "conv_weight")
ALGORITHMS: dict[str, ModuleType] = {
    "gemm": gemm,
    "col2im": col2im,
    "shifted": shifted,
    "phase": phase,
    "mirror": mirror,
    "depthwise": depthwise,
    "winograd": winograd,
    "indirect": indirect,
    "pointwise": pointwise,
    "fft": fft,
    "direct": direct,
}
MODES = ("heuristic", "measure")
ENVIRONMENT = "NPCONV_ALGORITHM"
WISDOM_FORMAT = 1

_local = threading.local()  # .forced: stack of use_algorithm names; .depth: nesting
_lock = threading.Lock()
_mode = "heuristic"
_measured: dict = {}  # Problem -> algorithm, measured here or found in _loaded
_loaded: dict[str, str] = {}  # wisdom key -> algorithm, from load_wisdom
_heuristic_plans: dict = {}  # Problem -> Plan, the heuristic's choices so far
_small: dict = {}  # Problem -> whether it runs inline (under tuning.INLINE_MACS)
_CACHE_SIZE = 4096
_DTYPE_NAMES: dict = {}


class Problem(NamedTuple):
    """One contraction of the trilinear form, as the planner sees it."""

    op: str  # "conv", "conv_transpose" or "conv_weight"
    geometry: Geometry
    big_channels: int  # B: channels per group on the conv-input side
    small_channels: int  # M: channels per group on the conv-output side
    batch: int
    dtype: str  # the computation's dtype, by name
    threads: int

    @property
    def macs(self) -> int:
        """Multiply-adds of the contraction (the same count for all three ops)."""
        g = self.geometry
        return (
            self.batch
            * g.groups
            * self.big_channels
            * self.small_channels
            * math.prod(g.kernel)
            * math.prod(g.small)
        )

    def key(self) -> str:
        """The problem as a wisdom key: every field but the thread count."""
        g = self.geometry
        return (
            f"{self.op} k={g.kernel} s={g.stride} d={g.dilation} lo={g.lo} big={g.big} "
            f"small={g.small} groups={g.groups} B={self.big_channels} "
            f"M={self.small_channels} N={self.batch} {self.dtype}"
        ).replace(" ", "")


class Plan(NamedTuple):
    """The planner's answer for one problem: which algorithm runs it, how, and why."""

    algorithm: str
    variant: str
    reason: str
    problem: Problem

    def __repr__(self) -> str:
        variant = f" ({self.variant})" if self.variant else ""
        return f"Plan({self.problem.op}: {self.algorithm}{variant}; {self.reason})"


# --- what each algorithm supports ---------------------------------------------------------


def algorithms() -> tuple[str, ...]:
    """The names of every algorithm the planner can choose or be told to use.

    Each name is accepted by :func:`use_algorithm` and ``NPCONV_ALGORITHM``, and is what
    :func:`plan` and the benchmark report as a call's algorithm.

    >>> import npconv
    >>> "gemm" in npconv.algorithms()
    True
    """
    return tuple(ALGORITHMS)


def _ops(module: ModuleType) -> tuple[str, ...]:
    return getattr(module, "OPS", OPS)


def supports(name: str, p: Problem) -> bool:
    """Whether algorithm `name` can run problem p."""
    module = ALGORITHMS[name]
    dtypes = getattr(module, "DTYPES", None)
    return (
        p.op in _ops(module)
        and (dtypes is None or p.dtype in dtypes)
        and module.supports(p.geometry)
    )


def candidates(p: Problem) -> list[str]:
    """Every algorithm that supports p, in ALGORITHMS' order."""
    return [name for name in ALGORITHMS if supports(name, p)]


def _exact(name: str, op: str) -> bool:
    """Whether `name` puts NaN and Inf exactly where a direct convolution does, for op:
    EXACT_NONFINITE is True (the default), False, or the ops for which it is."""
    exact = getattr(ALGORITHMS[name], "EXACT_NONFINITE", True)
    return exact if isinstance(exact, bool) else op in exact


# --- the heuristic ------------------------------------------------------------------------


def _margin(g: Geometry) -> float:
    """Canvas positions per output position of the shifted algorithm."""
    return math.prod(extent(g.small, g)) / max(1, math.prod(g.small))


def heuristic(p: Problem, exact: bool = False) -> tuple[str, str]:
    """(algorithm, reason) by the structural rules; with `exact`, among the algorithms that
    keep NaN and Inf where a direct convolution puts them."""
    g, b, m = p.geometry, p.big_channels, p.small_channels

    def able(name):
        return supports(name, p) and (not exact or _exact(name, p.op))

    if able("fft") and fft.preferred(p.op, g, b, m, p.batch, np.dtype(p.dtype)):
        return "fft", "long or large kernel: cheaper by FFT (fft.cost against direct_cost)"
    few = b * m <= tuning.DIRECT_PAIRS or (
        min(b, m) <= tuning.DIRECT_MIN_CHANNELS and b * m <= tuning.MEASURE_DEPTHWISE_PAIRS
    )
    # a first layer's few input channels and many output ones: a GEMM of M rows
    first = p.op != "conv_transpose" and b <= tuning.DIRECT_MAX_BIG and m >= tuning.DIRECT_MAX_ROWS
    strided = any(s > 1 for s in g.stride)
    waste = math.prod(g.big) / max(1, math.prod(g.small))  # a mirror's positions per input one
    if few and not first and able("depthwise"):
        if (
            p.op == "conv_transpose"
            and not strided
            and able("mirror")
            and waste <= tuning.MIRROR_WASTE
        ):
            # the direct loops' conv direction runs whole rows per tap; their scatter
            # direction does not
            return "mirror", "few channel pairs, stride 1: the direct loops' conv of the small side"
        return "depthwise", "few channel pairs per group: direct loops"
    pointwise = all(k == 1 for k in g.kernel)
    if pointwise and able("pointwise"):
        return "pointwise", "1x1: one GEMM over the channels, no columns"
    if indirect.columns(p) <= tuning.INDIRECT_COLUMNS and able("indirect"):
        return "indirect", "few columns: one cached gather and one GEMM"
    if first and p.op == "conv" and math.prod(g.kernel) > math.prod(g.stride) and able("direct"):
        # windows that overlap: a patchify layer's (stride == kernel) columns are a
        # reshape of x, which gemm takes as they are
        return "direct", "few input channels: compiled loops, output channels blocked"
    if (
        p.op in ("conv", "conv_weight")
        and strided
        and math.prod(g.kernel) <= tuning.INDIRECT_OVERLAP * math.prod(g.stride)
        and b >= tuning.LAST_CHANNELS
        and able("indirect")
    ):
        # with fewer input channels gemm multiplies each sample's columns straight into y
        return "indirect", "strided windows that barely overlap: columns about x's size"
    if p.op == "conv_transpose":
        if (
            not strided
            and able("mirror")
            and waste <= tuning.MIRROR_WASTE
            and (tuning.MIRROR_RATIO * b >= m or pointwise)
        ):
            return "mirror", "stride 1: the conv of the small side"
        return "col2im", "GEMM, then overlap-add"
    if (
        p.op == "conv_weight"
        and strided
        and g.small[-1] < tuning.SHORT
        and math.prod(g.stride) <= tuning.MAX_PHASES
        and able("phase")
    ):
        return "phase", f"short rows, at most {tuning.MAX_PHASES} stride phases"
    if strided or pointwise:
        return "gemm", "strided: the windows waste nothing"
    if (
        len(g.kernel) >= 2
        and min(b, m) >= tuning.WINOGRAD_CHANNELS
        and able("winograd")
        and winograd.tiles(g, p.batch) * min(b, m) >= tuning.WINOGRAD_WORK
    ):
        return "winograd", "3x3, enough channels and tiles"
    if first and p.op == "conv":
        return "gemm", "few input channels: columns per sample, product into y"
    if _margin(g) <= tuning.MAX_MARGIN and able("shifted"):
        return "shifted", "stride 1, narrow canvas margin"
    if p.batch == 1 and math.prod(g.small) > 1 and able("indirect"):
        # one sample: the same product as gemm's (which folds several samples' columns
        # into one longer product, where indirect multiplies sample by sample), gathered
        # whole and multiplied once, split over the threads, where gemm cuts the call
        # into bands of rows that each thread gathers and multiplies alone; a single
        # window is x itself to gemm, no gather at all
        return "indirect", "one sample, wide canvas margin: one cached gather and one GEMM"
    return "gemm", "the general algorithm"


# --- modes and forcing --------------------------------------------------------------------


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or name not in ALGORITHMS:
        raise ValueError(
            f"unknown algorithm {what}={name!r}; npconv.algorithms() lists {', '.join(ALGORITHMS)}"
        )
    return name


# NPCONV_ALGORITHM as npconv was imported with it: read once, as NPCONV_PIN is, since
# os.environ's lookup would run on every call; the name is checked where it is used.
_environment = os.environ.get(ENVIRONMENT) or None


def _forced() -> str | None:
    stack = getattr(_local, "forced", None)
    if stack:
        return stack[-1]
    if _environment is None:
        return None
    return _check_name(_environment, ENVIRONMENT)


@contextlib.contextmanager
def use_algorithm(name: str) -> Iterator[None]:
    """Within the block, every convolution on this thread runs by algorithm `name` wherever
    that algorithm supports the problem (elsewhere the planner chooses as usual).

    Blocks nest (the innermost wins); the environment variable ``NPCONV_ALGORITHM``, as it
    was when npconv was imported, forces an algorithm process-wide in the same way.

    Args:
        name: one of :func:`algorithms`; anything else is a ValueError.

    >>> import numpy as np, npconv
    >>> with npconv.use_algorithm("gemm"):
    ...     y = npconv.functional.conv2d(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)))
    >>> float(y[0, 0, 0, 0])
    18.0
    """
    _check_name(name, "name")
    stack = getattr(_local, "forced", None)
    if stack is None:
        stack = _local.forced = []
    stack.append(name)
    try:
        yield
    finally:
        stack.pop()


def set_planner(mode: str) -> None:
    """Choose how the planner picks an algorithm for a problem it has not been told about.

    Args:
        mode: ``'heuristic'`` (the default: structural rules over the problem's shape,
            nothing timed) or ``'measure'`` (the first call of each problem times every
            candidate on its own operands and keeps the fastest for the process; see
            :func:`save_wisdom`).

    >>> import npconv
    >>> npconv.set_planner("measure"); npconv.get_planner()
    'measure'
    >>> npconv.set_planner("heuristic")
    """
    global _mode
    if mode not in MODES:
        raise ValueError(
            f"set_planner expects one of {', '.join(map(repr, MODES))}, but got mode={mode!r}"
        )
    _mode = mode


def get_planner() -> str:
    """The planner's mode, as :func:`set_planner` set it: ``'heuristic'`` or ``'measure'``.

    >>> import npconv
    >>> npconv.get_planner()
    'heuristic'
    """
    return _mode


# --- wisdom -------------------------------------------------------------------------------


def _machine() -> dict:
    from .. import __version__

    return {"npconv": __version__, "machine": platform.machine(), "cpus": os.cpu_count()}


def save_wisdom(path: str | os.PathLike) -> int:
    """Write every measured choice of this process (and any loaded ones) to a JSON file.

    Args:
        path: the file to write; :func:`load_wisdom` reads it back in another process.

    Returns:
        The number of choices written.

    >>> import npconv, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "wisdom.json")
    >>> npconv.save_wisdom(path) >= 0
    True
    """
    with _lock:
        entries = dict(_loaded)
        entries.update({_wisdom_key(p): name for p, name in _measured.items()})
    document = {"format": WISDOM_FORMAT, **_machine(), "entries": entries}
    with open(path, "w") as file:
        json.dump(document, file, indent=1, sort_keys=True)
    return len(entries)


def load_wisdom(path: str | os.PathLike) -> int:
    """Take the measured choices that :func:`save_wisdom` wrote, for the measure mode.

    Entries from another npconv version, another kind of machine or another CPU count
    are ignored (their timings do not carry over), and so are entries naming an
    algorithm this npconv does not have; each entry's key holds its thread count.

    Args:
        path: a file written by :func:`save_wisdom`.

    Returns:
        How many choices were taken (0 for a file from another version or machine).

    Raises:
        ValueError: the file is not a wisdom file.

    >>> import npconv, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "wisdom.json")
    >>> count = npconv.save_wisdom(path)
    >>> npconv.load_wisdom(path) == count
    True
    """
    with open(path) as file:
        try:
            document = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f"{os.fspath(path)!r} is not a wisdom file: {error}") from None
    if not isinstance(document, dict) or document.get("format") != WISDOM_FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a wisdom file of format {WISDOM_FORMAT}")
    if any(document.get(field) != value for field, value in _machine().items()):
        return 0
    entries = {
        key: name
        for key, name in document.get("entries", {}).items()
        if isinstance(key, str) and name in ALGORITHMS
    }
    with _lock:
        _loaded.update(entries)
        _measured.clear()  # found again through _loaded, which now has the news
    return len(entries)


def forget_wisdom() -> None:
    """Drop every measured and loaded choice: in measure mode the next call of each problem
    times its candidates again.

    >>> import npconv
    >>> npconv.forget_wisdom()
    """
    with _lock:
        _measured.clear()
        _loaded.clear()


def _wisdom_key(p: Problem) -> str:
    return f"{p.key()}|threads={p.threads}"


def _wise(p: Problem) -> str | None:
    """The measured algorithm of p, if any: from this process or from loaded wisdom."""
    name = _measured.get(p)
    if name is None and _loaded:
        name = _loaded.get(_wisdom_key(p))
        if name is not None:
            _measured[p] = name
    return name


# --- choosing -----------------------------------------------------------------------------


def problem(op: str, first: np.ndarray, second: np.ndarray, g: Geometry) -> Problem:
    """The Problem of compute.<op>(first, second, g)."""
    if op == "conv_weight":
        b, m = first.shape[1] // g.groups, second.shape[1] // g.groups
    else:
        b, m = second.shape[1], second.shape[0] // g.groups
    dtype = first.dtype if first.dtype == second.dtype else np.result_type(first, second)
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = dtype.name  # a Python property
    return Problem(op, g, b, m, first.shape[0], name, _threads.threads())


def _variant(name: str, p: Problem) -> str:
    describe = getattr(ALGORITHMS[name], "variant", None)
    return describe(p) if describe is not None else ""


def heuristic_plan(p: Problem) -> Plan:
    """The heuristic's plan for p, cached per problem."""
    plan = _heuristic_plans.get(p)
    if plan is None:
        name, reason = heuristic(p)
        plan = Plan(name, _variant(name, p), f"heuristic: {reason}", p)
        if len(_heuristic_plans) >= _CACHE_SIZE:
            _heuristic_plans.clear()
        _heuristic_plans[p] = plan
    return plan


def choose(p: Problem, outermost: bool = True) -> Plan:
    """The plan for p without running anything: forced, then measured wisdom, then the
    heuristic (a problem not yet measured gets the heuristic's plan)."""
    if outermost:
        forced = _forced()
        if forced is not None and supports(forced, p):
            return Plan(forced, _variant(forced, p), "forced by use_algorithm", p)
        if _mode == "measure":
            name = _wise(p)
            if name is not None and supports(name, p):
                return Plan(name, _variant(name, p), "measured", p)
    return heuristic_plan(p)


# Arrays of fewer elements than this are checked for NaN and Inf by a dot product: one BLAS
# call, no ufunc machinery, and below OpenBLAS's threshold for waking its pool (10000).
_DOT_SIZE = 8192


def _finite(*arrays: np.ndarray) -> bool:
    """No NaN or Inf in any of the arrays: one pass each, a dot product of a small array with
    itself or a sum (one that overflows only sends the call to an exact algorithm)."""
    with np.errstate(over="ignore", invalid="ignore"):
        for a in arrays:
            if a.size < _DOT_SIZE and a.flags.c_contiguous:
                v = a.reshape(-1)
                total = np.dot(v, v)  # NaN or Inf in, NaN or Inf out
            else:
                total = a.sum()
            if not cmath.isfinite(total):  # cmath: real and complex sums, no ufunc call
                return False
    return True


def _exact_plan(p: Problem) -> Plan:
    name, reason = heuristic(p, exact=True)
    return Plan(name, _variant(name, p), f"operands not finite: {reason}", p)


def _execute(name: str, op: str, first, second, g: Geometry, p: Problem):
    """Algorithm `name`'s op on the operands: a small problem inline on the calling thread,
    else on npconv's threads with a single-threaded BLAS inside them."""
    function = getattr(ALGORITHMS[name], op)
    small = _small.get(p)
    if small is None:  # p.macs is a few products: kept per problem, as this runs every call
        if len(_small) >= _CACHE_SIZE:
            _small.clear()
        small = _small[p] = p.macs < tuning.INLINE_MACS
    if small:
        with _threads.inline():
            return function(first, second, g)
    with _threads.serial_blas():
        return function(first, second, g)


def _timed(name, op, first, second, g, p):
    """(seconds, output) of one run of algorithm `name` on the call's operands."""
    start = time.perf_counter()
    out = _execute(name, op, first, second, g, p)
    return time.perf_counter() - start, out


def _worth_measuring(name: str, p: Problem) -> bool:
    """Candidates that could win: the direct loops only on few channel pairs per group,
    and algorithms with a cost model only where it gives them a chance."""
    if name == "depthwise":
        return p.big_channels * p.small_channels <= tuning.MEASURE_DEPTHWISE_PAIRS
    worth = getattr(ALGORITHMS[name], "worth_measuring", None)
    return worth is None or worth(p)


def _measure(p: Problem, first, second, g: Geometry, exact: bool):
    """(name, output) of the fastest candidate on these operands, remembered as wisdom.

    Each candidate runs once untimed (it compiles and faults its pages in), then once
    timed; one slower than MEASURE_PATIENCE times the fastest of those runs is out. The
    rest take turns for MEASURE_RUNS rounds (MEASURE_FAST_RUNS for fast problems), in
    alternating order, and each keeps its best: a burst of load from elsewhere then falls
    on all of them alike rather than on whichever ran in it."""
    names = [
        name
        for name in candidates(p)
        if _worth_measuring(name, p) and (not exact or _exact(name, p.op))
    ]
    assert names, f"no candidate to measure for {p}"
    best: dict[str, float] = {}
    leader: tuple[float, str, np.ndarray] | None = None  # the fastest run so far
    for name in names:
        _timed(name, p.op, first, second, g, p)  # warm-up
        seconds, out = _timed(name, p.op, first, second, g, p)
        best[name] = seconds
        if leader is None or seconds < leader[0]:
            leader = seconds, name, out
        del out
    assert leader is not None
    rounds = [name for name in names if best[name] <= tuning.MEASURE_PATIENCE * leader[0]]
    runs = tuning.MEASURE_FAST_RUNS if leader[0] < tuning.MEASURE_FAST_SECONDS else 1
    runs = max(runs, tuning.MEASURE_RUNS) - 1  # the screening run was the first
    for r in range(runs):
        for name in rounds if r % 2 else rounds[::-1]:
            seconds, out = _timed(name, p.op, first, second, g, p)
            best[name] = min(best[name], seconds)
            if seconds < leader[0]:
                leader = seconds, name, out
            del out
    winner = leader[1]  # the candidate of the fastest run, so also of the least best
    if not exact:
        with _lock:
            _measured[p] = winner
    return winner, leader[2]


def _note(op: str, name: str) -> None:
    found = getattr(_local, "record", None)
    if found is not None:
        found.append((op, name))


@contextlib.contextmanager
def recording() -> Iterator[list]:
    """Collect (op, algorithm) of every outermost contraction run on this thread within
    the block: what a call actually ran (the benchmark's 'algorithm' column)."""
    before = getattr(_local, "record", None)
    found: list = []
    _local.record = found
    try:
        yield found
    finally:
        _local.record = before


@contextlib.contextmanager
def _nested() -> Iterator[bool]:
    """Yields whether this is the outermost contraction of a call on this thread."""
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    try:
        yield depth == 0
    finally:
        _local.depth = depth


def run(op: str, first: np.ndarray, second: np.ndarray, g: Geometry) -> np.ndarray:
    """compute.<op>(first, second, g) by the planner's algorithm for it."""
    p = problem(op, first, second, g)
    depth = getattr(_local, "depth", 0)  # _nested, written out: this runs on every call
    outermost = depth == 0
    _local.depth = depth + 1
    try:
        if outermost and (_mode == "measure" or _forced() is not None):
            return _run_chosen(p, first, second, g)
        plan = heuristic_plan(p)  # choose(p, outermost), without forcing or measuring
        if not _exact(plan.algorithm, op) and not _finite(first, second):
            plan = _exact_plan(p)
        if outermost:
            _note(op, plan.algorithm)
        return _execute(plan.algorithm, op, first, second, g, p)
    finally:
        _local.depth = depth


def _run_chosen(p: Problem, first, second, g: Geometry) -> np.ndarray:
    """run's outermost contraction where an algorithm is forced or the planner measures."""
    plan = choose(p)
    measuring = _mode == "measure" and plan.reason.startswith("heuristic") and _forced() is None
    finite = None
    if measuring or not _exact(plan.algorithm, p.op):
        finite = _finite(first, second)
    if measuring:
        name, out = _measure(p, first, second, g, exact=not finite)
        _note(p.op, name)
        return out
    if finite is False:
        plan = _exact_plan(p)
    _note(p.op, plan.algorithm)
    return _execute(plan.algorithm, p.op, first, second, g, p)


def both(forward: Plan, weight: Plan) -> tuple[Plan, Plan]:
    """The plans of a conv and a weight gradient on the same windows, run together, so that
    both go to gemm and share its one gather of the windows where the heuristic gives the
    conv to gemm and the weight gradient to phase, which gathers the same windows again.
    (The heuristic gives a conv to indirect only where it gives the weight gradient there
    too: the same columns and the same overlap.)"""

    def to_gemm(plan: Plan) -> Plan:
        return Plan(
            "gemm",
            _variant("gemm", plan.problem),
            "heuristic: beside gemm's conv, one gather for both",
            plan.problem,
        )

    if forward.algorithm == "gemm" and weight.algorithm == "phase":
        if weight.reason.startswith("heuristic"):
            weight = to_gemm(weight)
    return forward, weight


def run_both(x: np.ndarray, w: np.ndarray, dy: np.ndarray, g: Geometry):
    """(conv(x, w), conv_weight(x, dy)): a transposed conv's backward, whose two products
    read the same windows of x. Where both go to gemm they share one gather of them
    (gemm.conv_both); so beside a gemm conv the weight gradient goes to gemm rather than
    to phase, where the heuristic gives it that alone (`both`)."""
    forward, weight = both(
        choose(problem("conv", x, w, g)), choose(problem("conv_weight", x, dy, g))
    )
    measuring = (
        _mode == "measure"
        and _forced() is None
        and (forward.reason.startswith("heuristic") or weight.reason.startswith("heuristic"))
    )
    if not measuring and forward.algorithm == weight.algorithm == "gemm":
        p = forward.problem
        _note("conv", "gemm")
        _note("conv_weight", "gemm")
        if p.macs < tuning.INLINE_MACS:
            with _nested(), _threads.inline():
                return gemm.conv_both(x, w, dy, g)
        with _nested(), _threads.serial_blas():
            return gemm.conv_both(x, w, dy, g)
    return run("conv", x, w, g), run("conv_weight", x, dy, g)


# --- the public question: which algorithms would a call use? ------------------------------


class LayerPlan(NamedTuple):
    """The plans of one layer call: its forward contraction and its two gradients'."""

    forward: Plan
    input_gradient: Plan
    weight_gradient: Plan

    @property
    def algorithm(self) -> str:
        """The forward's algorithm."""
        return self.forward.algorithm

    @property
    def variant(self) -> str:
        return self.forward.variant

    def __repr__(self) -> str:
        return (
            f"LayerPlan(forward={self.forward!r},\n          input_gradient="
            f"{self.input_gradient!r},\n          weight_gradient={self.weight_gradient!r})"
        )


_CONV_OPTIONS = dict(stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros")
_CONV_TRANSPOSE_OPTIONS = dict(
    stride=1, padding=0, output_padding=0, groups=1, dilation=1, padding_mode="zeros"
)


def _validated(op, shape, weight, options):
    """conv.plan / conv_transpose.plan of the call, with the op's defaults."""
    from .. import conv as conv_op
    from .. import conv_transpose as conv_transpose_op

    defaults = _CONV_OPTIONS if op == "conv" else _CONV_TRANSPOSE_OPTIONS
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(
            f"plan got unexpected keyword argument(s) {', '.join(unknown)} for "
            f"op={op!r}; it takes {', '.join(defaults)}"
        )
    values = {**defaults, **options}
    if op == "conv":
        return conv_op.resolve(
            shape,
            weight,
            values["stride"],
            values["padding"],
            values["dilation"],
            values["groups"],
            values["padding_mode"],
        )
    return conv_transpose_op.resolve(
        shape,
        weight,
        values["stride"],
        values["padding"],
        values["output_padding"],
        values["groups"],
        values["dilation"],
        values["padding_mode"],
    )


def plan(op: str, input_shape, weight_shape, dtype="float32", **options) -> LayerPlan:
    """The algorithms npconv would use for a layer call, without computing anything.

    Forcing (:func:`use_algorithm`) and measured wisdom apply as they would to the call;
    the plan of a problem not yet measured is the heuristic's.

    Args:
        op: ``'conv'`` or ``'conv_transpose'``.
        input_shape: the input's shape, batched ``(N, C, *S)`` or unbatched ``(C, *S)``.
        weight_shape: the weight's shape, in torch's layout for ``op``.
        dtype: the operands' dtype (float16 plans as float32, as it computes).
        **options: the op's keyword arguments: stride, padding, dilation, groups,
            padding_mode, and output_padding for conv_transpose.

    Returns:
        A ``LayerPlan`` of three plans, ``forward``, ``input_gradient`` and
        ``weight_gradient``, each with ``.algorithm``, ``.variant``, ``.reason`` and the
        ``.problem`` it was made for; ``.algorithm`` of the LayerPlan is the forward's.

    Raises:
        ValueError, TypeError: for arguments the call itself would reject.

    >>> import npconv
    >>> p = npconv.plan("conv", (8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    >>> p.algorithm in npconv.algorithms()
    True
    """
    from .. import _calls

    if op not in ("conv", "conv_transpose"):
        raise ValueError(f"plan expects op='conv' or op='conv_transpose', but got op={op!r}")
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc":
        raise TypeError(f"plan expects a floating or complex dtype, but got dtype={dtype}")
    compute = _calls.compute_dtype(dtype)
    shape = tuple(int(v) for v in input_shape)
    weight = np.broadcast_to(np.zeros((), compute), tuple(int(v) for v in weight_shape))
    n = weight.ndim - 2
    if len(shape) == n + 1:
        shape = (1,) + shape
    if len(shape) != n + 2:
        raise ValueError(
            f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input_shape for "
            f"a weight of {weight.ndim} dims, but got input_shape={list(shape)}"
        )
    g = _validated(op, shape, weight, options).geometry
    threads = _threads.threads()
    m, b = weight.shape[0] // g.groups, weight.shape[1]
    name = compute.name

    def one(contraction, batch):
        return choose(Problem(contraction, g, b, m, batch, name, threads))

    batch = shape[0]
    if op == "conv":
        return LayerPlan(
            one("conv", batch), one("conv_transpose", batch), one("conv_weight", batch)
        )
    return LayerPlan(
        one("conv_transpose", batch), *both(one("conv", batch), one("conv_weight", batch))
    )
