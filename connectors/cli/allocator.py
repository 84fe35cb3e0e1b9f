"""The memory allocator a worker process runs on: jemalloc where it is installed.

A worker under CPython's own small-object allocator (pymalloc, over glibc) grew month by
month in the time-compressed soak while what it held stayed flat: 227 MiB in month 1,
466 in month 10, 537 to 585 in the second year. Its live objects were about 100 MiB
throughout; the rest was allocator arenas. pymalloc frees a 1 MiB arena only when every
object in it is gone, and each month's burst of short-lived objects leaves a few
long-lived ones (incident states, register entries) in arenas it otherwise emptied.
`PYTHONMALLOC=malloc` over glibc was worse. Over jemalloc, whose size classes fill small
slabs and whose free pages are given back after `dirty_decay_ms`, the same soak stayed at
216 to 240 MiB (docs/benchmarks.md, "Where it goes").

The setting has to be in place when the process starts (the dynamic loader reads
`LD_PRELOAD`), so it is made for the processes a supervisor starts: `dvtrigger run`'s
children, the benchmarks' workers, and the image (`deploy/Dockerfile` sets the same three
variables; `tests/unit/test_deploy.py` holds them equal to these).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

#: Where Debian's libjemalloc2 puts the library, on the architectures the image is built for;
#: `/usr/local/lib` is where the image links it, whatever the architecture.
JEMALLOC_PATHS = (
    "/usr/local/lib/libjemalloc.so.2",
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
)
#: Every object allocated by malloc (so by jemalloc), not by pymalloc's arenas.
PYTHONMALLOC = "malloc"
#: Free pages given back to the system after a second, by jemalloc's own thread, and not
#: kept as "muzzy" (lazily freed) pages either.
MALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"
#: `DVTRIGGER_ALLOCATOR=system` keeps glibc and pymalloc (to compare, or to rule jemalloc out).
CHOICE_VARIABLE = "DVTRIGGER_ALLOCATOR"


def find_jemalloc(paths: Iterable[str] = JEMALLOC_PATHS) -> str | None:
    """The first jemalloc library that exists, or None."""
    return next((p for p in paths if Path(p).is_file()), None)


def allocator_env(
    environ: Mapping[str, str] | None = None, library: str | None = None
) -> dict[str, str]:
    """The variables that start a child process on jemalloc: none when it is not installed
    or `DVTRIGGER_ALLOCATOR=system`. An `LD_PRELOAD` already set is kept, after jemalloc."""
    environ = os.environ if environ is None else environ
    if environ.get(CHOICE_VARIABLE, "jemalloc") == "system":
        return {}
    library = library or find_jemalloc()
    if library is None:
        return {}
    preload = [library, *(p for p in environ.get("LD_PRELOAD", "").split() if p != library)]
    return {
        "LD_PRELOAD": " ".join(preload),
        "PYTHONMALLOC": PYTHONMALLOC,
        "MALLOC_CONF": MALLOC_CONF,
    }


def describe(environ: Mapping[str, str]) -> str:
    """Which allocator a process started with `environ` runs on, for a report."""
    if PYTHONMALLOC in environ.get("PYTHONMALLOC", "") and "jemalloc" in environ.get(
        "LD_PRELOAD", ""
    ):
        return "jemalloc"
    return "pymalloc over glibc"
