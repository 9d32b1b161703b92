"""Where npconv's compiled loops (Numba) keep their machine code between processes.

`numba.njit(cache=True)` raises "no locator available" when neither the package
folder nor the user's home can be written: a read-only install run by a service
user without a home (issue 20). `compiled` caches npconv's loops instead in the
first of these that works, and never fails:

1. NPCONV_CACHE_DIR, if set: that folder ("none": no cache on disk);
2. the user's NUMBA_CACHE_DIR, if set (Numba reads it at import; npconv leaves
   Numba's configuration alone, so other libraries' caches stay where they were);
3. the package's own __pycache__ folders, where writable (Numba's default);
4. a per-user cache folder, $XDG_CACHE_HOME/npconv or ~/.cache/npconv;
5. a private folder of this user's in the temporary directory;
6. no cache on disk: each process compiles on first use.

Loops compiled into the package's folders by `npconv warmup` (run by whoever
installed it, say at a Dockerfile's build step) are read from there whatever
the folder chosen for writing. Numba checks every entry against the source
file's contents and the CPU, so a stale or foreign entry is recompiled, not run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import tempfile
import warnings
from typing import Any

import numba
from numba.core import caching


def _writable(path):
    """Whether `path` exists or can be made, and a file can be created in it."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _private(path):
    """Whether `path` (in a shared temporary directory) is a folder of ours that no one
    else may write: another user's folder there could hold code for us to load."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _user_cache():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "npconv")


IN_TREE = "the package folders"
KERNELS: list[Any] = []  # every loop compiled here, as Numba dispatchers (for warmup and its test)


@functools.cache
def directory():
    """The folder npconv's loops are cached in: IN_TREE (beside their sources), a path,
    or None (no cache on disk). Decided once per process, on first use."""
    chosen = os.environ.get("NPCONV_CACHE_DIR", "").strip()
    if chosen:
        if chosen.lower() == "none":
            return None
        chosen = os.path.abspath(os.path.expanduser(chosen))
        if _writable(chosen):
            return chosen
        warnings.warn(
            f"npconv: NPCONV_CACHE_DIR={chosen!r} is not a writable folder; "
            f"compiled loops are not cached on disk",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    if numba.config.CACHE_DIR and _writable(numba.config.CACHE_DIR):
        return os.path.abspath(numba.config.CACHE_DIR)
    if _writable(os.path.join(os.path.dirname(__file__), "__pycache__")):
        return IN_TREE
    if _writable(_user_cache()):
        return _user_cache()
    if hasattr(os, "getuid"):
        temporary = os.path.join(tempfile.gettempdir(), f"npconv-cache-{os.getuid()}")
        if _private(temporary) and _writable(temporary):
            return temporary
    return None


def describe(folder):
    """The folder of directory() as a path (None: no cache on disk)."""
    return os.path.join(os.path.dirname(__file__), "__pycache__") if folder == IN_TREE else folder


class _Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """Cache files of one source file under `root` (None: beside it, in __pycache__)."""

    root = None
    check = True  # whether the folder must be writable

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        if self.root is None:
            self._cache_path = os.path.join(os.path.dirname(py_file), "__pycache__")
        else:
            self._cache_path = os.path.join(self.root, self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path

    def ensure_cache_path(self):
        if self.check:
            super().ensure_cache_path()
        elif not os.path.isdir(self._cache_path):
            raise OSError(f"no folder {self._cache_path}")


def _cache_class(root, check):
    """A Numba FunctionCache whose only locator is a _Locator for `root`."""
    locator = type("_Locator", (_Locator,), {"root": root, "check": check})
    impl = type("_Impl", (caching.CompileResultCacheImpl,), {"_locator_classes": [locator]})
    return type("_FunctionCache", (caching.FunctionCache,), {"_impl_class": impl})


class _Caches(caching._Cache):
    """Load from the package folders' cache, then from the chosen folder's; save into the
    chosen one. Errors on disk cost a compile, never the call."""

    def __init__(self, readers, writer):
        self.readers, self.writer = readers, writer

    @property
    def cache_path(self):
        return self.writer.cache_path if self.writer is not None else None

    def load_overload(self, sig, target_context):
        for cache in self.readers:
            try:
                found = cache.load_overload(sig, target_context)
            except Exception:  # an unreadable entry: try the next, or compile
                found = None
            if found is not None:
                return found
        return None

    def save_overload(self, sig, data):
        if self.writer is not None:
            with contextlib.suppress(Exception):  # a full or read-only disk: keep the code
                self.writer.save_overload(sig, data)

    def enable(self):
        for cache in self.readers:
            cache.enable()

    def disable(self):
        for cache in self.readers:
            cache.disable()

    def flush(self):
        for cache in self.readers:
            cache.flush()


def _caches(py_func):
    """The _Caches of one function, or None where nothing can be cached."""
    target = directory()
    readers, writer = [], None
    for root, check in ((None, False), (None if target == IN_TREE else target, True)):
        if root is None and check and target != IN_TREE:
            continue  # no folder to write into
        try:
            cache = _cache_class(root, check)(py_func)
        except (OSError, RuntimeError):  # RuntimeError: "no locator available"
            continue
        if check:
            writer = cache
        if not readers or cache.cache_path != readers[-1].cache_path:
            readers.append(cache)
    return _Caches(readers, writer) if readers else None


def compiled(**options):
    """numba.njit(**options), cached on disk as this module says (never `cache=True`)."""

    def wrap(function):
        dispatcher = numba.njit(**options)(function)
        try:
            caches = _caches(function)
        except Exception:  # Numba internals changed: compile in each process
            caches = None
        if caches is not None:
            dispatcher._cache = caches
        KERNELS.append(dispatcher)
        return dispatcher

    return wrap
