"""`npconv warmup`: compile every compiled loop into the disk cache (for Dockerfiles and
install scripts), printing where the cache is and what each loop took."""

from __future__ import annotations

from .._warmup import DTYPES, warmup

DESCRIPTION = """\
Compile npconv's compiled loops (Numba) for each dtype into the disk cache, so that no
later process pays for it on its first call. The cache goes to NPCONV_CACHE_DIR if set,
else NUMBA_CACHE_DIR, else beside the package's sources where writable, else a per-user
or private temporary folder; run it as the user whose cache the calls will read, or as
the installing user (the package folders' cache is read by every user)."""


def register(subparsers):
    parser = subparsers.add_parser(
        "warmup", help="compile every kernel into the disk cache", description=DESCRIPTION
    )
    parser.add_argument(
        "--dtype",
        action="append",
        dest="dtypes",
        metavar="DTYPE",
        help=f"a dtype to compile for (repeatable; default: "
        f"{', '.join(DTYPES)}); complex64/complex128 for depthwise",
    )
    parser.set_defaults(func=run)


def run(options):
    report = warmup(tuple(options.dtypes or DTYPES))
    for name, seconds in report["seconds"].items():
        print(f"{name:36s} {seconds:7.2f} s")
    total = sum(report["seconds"].values())
    if report["cache"] is None:
        print(
            f"compiled in {total:.1f} s, but nothing could be cached on disk: set "
            f"NPCONV_CACHE_DIR to a writable folder"
        )
        return 1 if report["seconds"] else 0
    print(f"compiled in {total:.1f} s into {report['cache']}")
    return 0
