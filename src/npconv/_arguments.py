"""Normalising user arguments: ints or tuples to per-dimension tuples, padding
forms to (lo, hi) pairs, dtypes, with errors that name the argument and value.

Every public entry point funnels its arguments through here, so the engine
below only ever sees validated tuples of Python ints.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any, Literal, TypeVar, cast, get_args

import numpy as np
import numpy.typing

# The argument forms, as types for the public signatures; the tuples below are the same
# values for the checks at run time, so the two can not drift apart.
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]
PaddingString = Literal["valid", "same"]
Size = int | tuple[int, ...] | list[int]  # one int for every dim, or one per dim
Padding = Size | PaddingString | tuple[tuple[int, int], ...] | list[tuple[int, int]]
ArrayLike = numpy.typing.ArrayLike
DTypeLike = numpy.typing.DTypeLike

T = TypeVar("T")

PADDING_MODES = get_args(PaddingMode)
PADDING_STRINGS = get_args(PaddingString)
SUPPORTED_DTYPES = (np.float16, np.float32, np.float64, np.complex64, np.complex128)


# The largest size argument npconv takes (torch's own bound on padding): sums and products
# of a few such numbers stay exact, and within NumPy's int64, wherever a shape is computed.
MAX_INT = 2**62 - 1


def _as_int(value: object, name: str) -> int:
    """An int from anything that is integral (int, np.int64, ...), never a bool or float,
    and at most MAX_INT in size."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int or a tuple of ints, but got {name}={value!r}")
    result = operator.index(value)
    if abs(result) > MAX_INT:
        raise ValueError(
            f"{name} must be at most 2**62 - 1 = {MAX_INT} in size, but got {name}={value!r}"
        )
    return result


def to_tuple(value: object, n: int, name: str) -> tuple[int, ...]:
    """`value` as a tuple of `n` ints: an int is repeated, a sequence must have length n."""
    if isinstance(value, (list, tuple)):
        if len(value) == 1 and n > 1:
            value = tuple(value) * n
        if len(value) != n:
            raise ValueError(
                f"expected {name} to be a single integer value or a list of {n} values "
                f"to match the convolution dimensions, but got {name}={list(value)}"
            )
        return tuple(_as_int(v, name) for v in value)
    return (_as_int(value, name),) * n


def positive_tuple(value: object, n: int, name: str) -> tuple[int, ...]:
    """to_tuple, then every entry must be > 0 (kernel_size, stride, dilation)."""
    result = to_tuple(value, n, name)
    if any(v <= 0 for v in result):
        raise ValueError(f"{name} must be positive, but got {name}={value!r}")
    return result


def non_negative_tuple(value: object, n: int, name: str) -> tuple[int, ...]:
    """to_tuple, then every entry must be >= 0 (output_padding)."""
    result = to_tuple(value, n, name)
    if any(v < 0 for v in result):
        raise ValueError(f"{name} must be non-negative, but got {name}={value!r}")
    return result


def positive_int(value: object, name: str) -> int:
    result = _as_int(value, name)
    if result <= 0:
        raise ValueError(f"{name} must be a positive integer, but got {name}={value!r}")
    return result


def is_pair_padding(padding: object) -> bool:
    """True for the asymmetric form ((lo, hi), (lo, hi), ...)."""
    return (
        isinstance(padding, (list, tuple))
        and len(padding) > 0
        and all(isinstance(p, (list, tuple)) for p in padding)
    )


def padding_pairs(padding: Any, n: int, name: str = "padding") -> tuple[tuple[int, int], ...]:
    """Explicit padding as n (lo, hi) pairs of non-negative ints.

    Accepts an int, a tuple of n ints (symmetric), or a tuple of n (lo, hi)
    pairs (asymmetric). Strings are resolved by the caller (they need shapes).
    """
    if isinstance(padding, str):
        raise ValueError(f"{name}={padding!r} must be resolved before padding_pairs")
    if is_pair_padding(padding):
        if len(padding) != n or any(len(p) != 2 for p in padding):
            raise ValueError(
                f"asymmetric {name} must have one (lo, hi) pair per spatial dimension "
                f"({n}), but got {name}={padding!r}"
            )
        pairs = tuple((_as_int(lo, name), _as_int(hi, name)) for lo, hi in padding)
    else:
        pairs = tuple((p, p) for p in to_tuple(padding, n, name))
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"negative padding is not supported, but got {name}={padding!r}")
    return pairs


def padding_string(padding: object) -> PaddingString:
    """Lower-cased 'valid'/'same', or a ValueError in torch's words."""
    if padding not in PADDING_STRINGS:
        raise ValueError(
            f"Invalid padding string {padding!r}, should be one of {set(PADDING_STRINGS)}"
        )
    return cast(PaddingString, padding)


def padding_mode(mode: object) -> PaddingMode:
    if mode not in PADDING_MODES:
        raise ValueError(
            f"padding_mode must be one of {set(PADDING_MODES)}, but got padding_mode={mode!r}"
        )
    return cast(PaddingMode, mode)


def check_dtype(array: np.ndarray, name: str) -> None:
    """Reject dtypes npconv does not compute in (ints, bools, objects)."""
    if array.dtype.type not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{name} has dtype {array.dtype}, which npconv does not support; use one of "
            "float16, float32, float64, complex64, complex128"
        )


def same_dtype(input: np.ndarray, other: np.ndarray, other_name: str) -> None:
    if other.dtype != input.dtype:
        raise TypeError(
            f"Input type ({input.dtype}) and {other_name} type ({other.dtype}) should be the "
            f"same; cast one of them, e.g. {other_name}.astype(np.{input.dtype})"
        )


def as_array(value: object, name: str) -> np.ndarray:
    """np.asarray with a TypeError naming the argument for non-numeric input."""
    try:
        array = np.asarray(value)
    except Exception as error:  # report any conversion failure the same way
        raise TypeError(f"{name} must be array-like, but got {type(value).__name__}") from error
    check_dtype(array, name)
    return array


def check_device(device: object) -> None:
    if device is not None and str(device) != "cpu":
        raise ValueError(
            f"npconv runs on the CPU only: device must be None or 'cpu', but got device={device!r}"
        )


def resolve_dtype(dtype: DTypeLike | None) -> np.dtype:
    """The module dtype: float32 by default, else one of the supported dtypes."""
    if dtype is None:
        return np.dtype(np.float32)
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be a NumPy dtype, but got dtype={dtype!r}") from error
    if resolved.type not in SUPPORTED_DTYPES:
        raise TypeError(
            f"dtype={resolved} is not supported; use one of float16, float32, "
            "float64, complex64, complex128"
        )
    return resolved


class _Uncacheable(Exception):
    """An argument whose value a cache key can not stand for."""


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is str or value is None:
        return value
    if kind is tuple or kind is list:
        if all(type(v) is int for v in value):  # the common (1, 1), [2, 2]: no recursion
            return (kind.__name__, *value)
        return (kind.__name__,) + tuple(_plain(v) for v in value)
    raise _Uncacheable


def cache_key(*values: object) -> tuple | None:
    """A hashable key standing for `values`, or None when one of them is anything but
    None, an int, a str, or a tuple or list of those (nested).

    Exact types only (a bool or a NumPy integer gets no key), so two values with the
    same key validate identically: a call whose arguments have no key is validated in
    full, as every first call is.
    """
    key = []
    for value in values:
        kind = type(value)
        if kind is int or kind is str or value is None:
            key.append(value)
            continue
        try:
            key.append(_plain(value))
        except _Uncacheable:
            return None
    return tuple(key)


class CallCache:
    """Validated calls by cache key, bounded: a model's layers stay, an endless stream of
    new shapes does not grow it without end."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.plans: dict[tuple, Any] = {}

    def get(self, key: tuple | None) -> Any:
        return None if key is None else self.plans.get(key)

    def put(self, key: tuple | None, value: T) -> T:
        if key is not None:
            if len(self.plans) >= self.size:
                self.plans.clear()
            self.plans[key] = value
        return value
